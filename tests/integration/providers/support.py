"""Helpers of the provider-connection journeys: creating and authorizing connections through
HTTP, reading what the app stored (through its container), and counting what reached a
sandbox's token endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

import httpx
from dishka import AsyncContainer

from dashcore.application.connections import CredentialStore
from dashcore.application.outbox import DeliverOutbox
from dashcore.domain.connections import ProviderCredentials
from dashcore_brokers.sandbox import BrokerSandbox, FaultKind, FaultRule
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.sandbox.tokens import GrantKind
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, PASSWORD, Account, Mailbox, log_in

JSON = {"Accept": "application/json"}

TOKEN_ENDPOINTS = {
    "schwab": "/v1/oauth/token",
    "zerodha": "/session/*",
    "upstox": "/v2/login/authorization/token",
    "groww": "/v1/token/api/access",
}
"""Where each sandbox mints or refreshes credentials (Kite: the session routes)."""

_UNCOUNTED = 10_000


async def signed_up(served: Served, mailbox: Mailbox, email: str) -> Account:
    """A verified, signed-in account. Like the identity suites' ``signed_up``, but the
    verification mail is delivered at once (the outbox use case, run through the container)
    instead of on the dispatcher's next one-second tick."""
    client = served.client
    registered = await client.post(
        f"{API}/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    async with served.core() as scope:
        await (await scope.get(DeliverOutbox))()
    token = await mailbox.token(email, "verification")
    verified = await client.post(
        f"{API}/auth/verify-email", json={"token": token, "password": PASSWORD}
    )
    assert verified.status_code == 200, verified.text
    return await log_in(client, email)


async def create(client: httpx.AsyncClient, account: Account, provider: str) -> str:
    """A new pending connection of ``account`` to ``provider``: its id."""
    response = await client.post(
        f"{API}/providers", json={"provider": provider}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    return str(response.json()["id"])


async def start(client: httpx.AsyncClient, account: Account, connection_id: str) -> str:
    """Start a redirect authorization: the provider's login URL."""
    response = await client.post(
        f"{API}/providers/{connection_id}/authorization", json={}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["authorization_url"])


async def consent(client: httpx.AsyncClient, account: Account, connection_id: str) -> str:
    """Start the authorization, let the sandbox answer the login page, and return the callback
    URL it redirects the browser to."""
    login = await client.get(await start(client, account, connection_id))
    assert login.status_code in (302, 303), login.text
    return login.headers["location"]


def query_of(url: str) -> dict[str, str]:
    """The single-valued query parameters of ``url``."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, params: dict[str, str | None]) -> str:
    """``url`` with ``params`` as its query (``None`` values left out)."""
    kept = {name: value for name, value in params.items() if value is not None}
    return f"{url}?{urlencode(kept)}"


async def land(client: httpx.AsyncClient, account: Account | None, callback: str) -> httpx.Response:
    """The browser (or API client) arrives at the callback, with ``account``'s bearer if any."""
    headers = dict(JSON) if account is None else {**account.headers, **JSON}
    return await client.get(callback, headers=headers)


async def connect_redirect(client: httpx.AsyncClient, account: Account, provider: str) -> str:
    """A connected connection of a redirecting provider: its id."""
    connection_id = await create(client, account, provider)
    landed = await land(client, account, await consent(client, account, connection_id))
    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True
    return connection_id


async def connect_groww_keys(client: httpx.AsyncClient, account: Account) -> str:
    """A Groww connection bound to the sandbox's API key and secret: its id."""
    connection_id = await create(client, account, "groww")
    answered = await client.post(
        f"{API}/providers/{connection_id}/authorization",
        json={"api_key": GROWW_API_KEY, "api_secret": GROWW_API_SECRET},
        headers=account.headers,
    )
    assert answered.status_code == 200, answered.text
    return connection_id


async def status(client: httpx.AsyncClient, account: Account, connection_id: str) -> Any:
    response = await client.get(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def refresh(
    client: httpx.AsyncClient, account: Account, connection_id: str
) -> httpx.Response:
    return await client.post(
        f"{API}/providers/{connection_id}/authorization/refresh", headers=account.headers
    )


async def stored_credentials(core: AsyncContainer, connection_id: str) -> ProviderCredentials:
    """The provider credentials the app sealed for a connection, opened through its vault."""
    async with core() as scope:
        store = await scope.get(CredentialStore)
        return await store.load(UUID(connection_id))


def is_live(sandbox: BrokerSandbox, token: str, kind: GrantKind) -> bool:
    """True while the sandbox still honours ``token`` (not expired, revoked or spent)."""
    return sandbox.tokens.active(token, kind) is not None


@dataclass(frozen=True, slots=True)
class TokenCalls:
    """Counts the POSTs reaching one sandbox's token endpoint: a latency rule (zero seconds
    unless told) that fires for every matching request and then serves it normally. The first
    matching rule wins, so arm it after any fault rule meant to fire first."""

    rule: FaultRule

    @classmethod
    def watch(cls, sandbox: BrokerSandbox, provider: str, *, delay: float = 0) -> TokenCalls:
        rule = FaultRule(
            path=TOKEN_ENDPOINTS[provider],
            method="POST",
            kind=FaultKind.LATENCY,
            seconds=delay,
            times=_UNCOUNTED,
        )
        return cls(sandbox.faults.add(rule))

    @property
    def count(self) -> int:
        assert self.rule.remaining is not None
        return _UNCOUNTED - self.rule.remaining


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["code"])
