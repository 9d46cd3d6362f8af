"""Helpers for the identity journeys: a mailbox the tests can read, and account set-up."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from dishka import AsyncContainer, Provider, Scope, provide

from dashcore.domain.mail import MailMessage
from dashcore.ports.audit import AuditLog
from dashcore.ports.clock import Clock
from dashcore.ports.mail import Mailer
from dashcore.testing import FakeClock
from dashcore_brokers.groww import GROWW_EXPIRY
from dashcore_brokers.upstox import UPSTOX_EXPIRY
from dashcore_brokers.zerodha import KITE_EXPIRY
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


async def verify(
    client: httpx.AsyncClient, token: str, password: str = PASSWORD, *, status: int = 200
) -> httpx.Response:
    """``POST /auth/verify-email`` with a sign-up's token and its password; asserts ``status``."""
    response = await client.post(
        f"{API}/auth/verify-email", json={"token": token, "password": password}
    )
    assert response.status_code == status, response.text
    return response


async def register_and_verify(
    client: httpx.AsyncClient, mailbox: Mailbox, email: str, password: str = PASSWORD
) -> None:
    response = await client.post(
        f"{API}/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    await verify(client, await mailbox.token(email, "verification"), password)


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


# ------------------------------------------------------------------ second factors (issue #4)

TOTP_STEP = 30
_LOGIN_CODE = re.compile(r"Your sign-in code is ([0-9]{6})")


DAILY_RESETS = (KITE_EXPIRY, GROWW_EXPIRY, UPSTOX_EXPIRY)
CLEAR_OF_RESETS = timedelta(minutes=30)
"""More than any test moves its clock on."""


def clear_of_daily_resets(start: datetime) -> datetime:
    """``start``, or the broker token reset that falls within :data:`CLEAR_OF_RESETS` of it."""
    while soon := [
        reset
        for reset in (expiry.next_reset(start) for expiry in DAILY_RESETS)
        if reset - start < CLEAR_OF_RESETS
    ]:
        start = max(soon)
    return start


class ClockedMailbox(Mailbox):
    """A :class:`Mailbox` that also sets the app's clock to a :class:`FakeClock` the test
    moves. The ``served`` fixture takes the ``mailbox`` fixture as its override, so a test
    module that needs time to pass (TOTP steps, step-up age, challenge expiry) overrides
    ``mailbox`` with this instead of sleeping.

    The clock starts at the current 30-second TOTP step of the real time, so Redis TTLs and
    the rate limiter (which keep real time) see nothing unusual; unless a broker's daily token
    reset is less than :data:`CLEAR_OF_RESETS` away, in which case it starts at that reset (a
    step too), a few minutes ahead of the real time. Otherwise a test that connects Upstox and
    moves the clock five minutes on fails when run at 21:55 UTC: its token died at 03:30 IST.
    """

    def __init__(self) -> None:
        super().__init__()
        step = int(time.time()) // TOTP_STEP * TOTP_STEP
        self.clock = FakeClock(clear_of_daily_resets(datetime.fromtimestamp(step, UTC)))

    @provide(scope=Scope.APP)
    def provide_clock(self) -> Clock:
        return self.clock

    def next_step(self) -> None:
        """Move to the next TOTP step: its code has not been used yet."""
        self.clock.advance(seconds=TOTP_STEP)

    async def login_code(self, address: str, *, count: int = 1) -> str:
        """The six digits of the ``count``-th "login_code" mail to ``address``."""
        message = await self.wait_for(address, "login_code", count=count)
        match = _LOGIN_CODE.search(message.body.text)
        assert match is not None, message.template
        return match.group(1)


@dataclass(frozen=True, slots=True)
class Authenticator:
    """The phone app of a test user: the enrolled secret and the recovery codes shown once."""

    secret: str = field(repr=False)
    recovery_codes: tuple[str, ...] = field(repr=False)

    def code(self, clock: FakeClock) -> str:
        return pyotp.TOTP(self.secret).at(clock.now())

    def wrong_code(self, clock: FakeClock) -> str:
        """Six digits that match neither step of the accepted window."""
        totp = pyotp.TOTP(self.secret)
        valid = {totp.at(clock.now()), totp.at(clock.now(), counter_offset=-1)}
        return next(c for c in ("000000", "000001", "000002") if c not in valid)


async def enable_totp(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, account: Account
) -> Authenticator:
    """Enrol and confirm an authenticator app for ``account`` (whose sign-in must be recent),
    then move to the next TOTP step so that the test's next code is an unused one."""
    started = await client.post(f"{API}/auth/mfa/totp", headers=account.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await client.post(
        f"{API}/auth/mfa/totp/confirm",
        json={"code": pyotp.TOTP(secret).at(mailbox.clock.now())},
        headers=account.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    mailbox.next_step()
    return Authenticator(secret, tuple(confirmed.json()["recovery_codes"]))


async def mfa_token(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in with the password of an account that has an authenticator app: the challenge."""
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "mfa_required"
    token: str = response.json()["mfa_token"]
    return token


def account_of(email: str, tokens: httpx.Response) -> Account:
    """The signed-in account a 200 ``TokenResponse`` describes."""
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, body["access_token"], body["refresh_token"], body["session_id"])


async def audit_actions(core: AsyncContainer) -> list[str]:
    """The action of every audit event recorded so far, in order of each chain."""
    async with core() as scope:
        log = await scope.get(AuditLog)
        return [record.event.action async for record in log.records()]
