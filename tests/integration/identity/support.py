"""Helpers for the identity journeys: a mailbox the tests can read, and account set-up."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import httpx
from dishka import Provider, Scope, provide

from dashcore.domain.mail import MailMessage
from dashcore.ports.mail import Mailer
from dashcore_mail.memory import MemoryMailer

API = "/api/v1"
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r"#token=([A-Za-z0-9_-]+)")


class Mailbox(Provider):
    """Replaces the mailer with one in-memory mailbox the test holds."""

    def __init__(self) -> None:
        super().__init__()
        self.mailer = MemoryMailer()

    @provide(scope=Scope.APP)
    def provide_mailer(self) -> Mailer:
        return self.mailer

    async def wait_for(self, address: str, template: str, *, count: int = 1) -> MailMessage:
        """The ``count``-th message of ``template`` to ``address`` once the outbox delivered it
        (the dispatcher polls every second)."""
        async with asyncio.timeout(10):
            while True:
                found = [m for m in self.mailer.to(address) if m.template == template]
                if len(found) >= count:
                    return found[count - 1]
                await asyncio.sleep(0.05)

    async def token(self, address: str, template: str, *, count: int = 1) -> str:
        message = await self.wait_for(address, template, count=count)
        match = _TOKEN.search(message.body.text)
        assert match is not None, message.template
        return match.group(1)


@dataclass(frozen=True, slots=True)
class Account:
    email: str
    access_token: str
    refresh_token: str
    session_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register_and_verify(
    client: httpx.AsyncClient, mailbox: Mailbox, email: str, password: str = PASSWORD
) -> None:
    response = await client.post(
        f"{API}/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    token = await mailbox.token(email, "verification")
    response = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: object
) -> Account:
    response = await client.post(
        f"{API}/auth/login", json={"email": email, "password": password, **extra}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(email, body["access_token"], body["refresh_token"], body["session_id"])


async def signed_up(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> Account:
    await register_and_verify(client, mailbox, email)
    return await log_in(client, email)
