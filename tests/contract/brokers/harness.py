"""The broker contract harness: how to log in to each provider through its adapter, against its
sandbox, and what the result must look like. A new provider adds one :class:`BrokerCase`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from dashcore.domain.connections import IST, KeyCredentials, ProviderCredentials
from dashcore.testing.clock import FakeClock
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox import BrokerSandbox, SandboxTransport
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    KITE_API_SECRET,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)

# 2026-01-05 10:00 IST, a Monday morning in India.
START = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
STATE = "state-8f1c2d3e4b5a69788796a5b4c3d2e1f0"


class Recorder(SandboxTransport):
    """The sandbox transport, keeping every request the adapter sent (body read)."""

    def __init__(self, sandbox: BrokerSandbox) -> None:
        super().__init__(sandbox)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await super().handle_async_request(request)

    def last(self, method: str, path_end: str) -> httpx.Request:
        found = [
            request
            for request in self.requests
            if request.method == method and request.url.path.endswith(path_end)
        ]
        assert found, f"no {method} …{path_end} was sent"
        return found[-1]


@dataclass
class Session:
    """One provider under test: its sandbox, the adapter's ports and what the login revealed."""

    sandbox: BrokerSandbox
    auth: BrokerAuth
    recorder: Recorder
    clock: FakeClock
    config: ProviderConfig
    # Values a login passed through the browser (codes, request tokens): never to be logged.
    seen_secrets: list[str] = field(default_factory=list)


def callback(response: httpx.Response) -> dict[str, str]:
    """The (decoded) query parameters of a sandbox's redirect back to us."""
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


async def browse(session: Session, url: str) -> httpx.Response:
    """A browser following the adapter's login URL to the sandbox's consent step."""
    transport = httpx.ASGITransport(app=session.sandbox)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport) as browser:
        return await browser.get(url)


async def _schwab_login(session: Session) -> ProviderCredentials:
    assert session.auth.oauth is not None
    url = session.auth.oauth.authorization_url(state=STATE, redirect_uri=SCHWAB_REDIRECT_URI)
    params = callback(await browse(session, url))
    assert params["state"] == STATE
    session.seen_secrets.append(params["code"])
    return await session.auth.oauth.exchange_code(
        code=params["code"], redirect_uri=SCHWAB_REDIRECT_URI
    )


async def _kite_login(session: Session) -> ProviderCredentials:
    assert session.auth.request_token is not None
    url = session.auth.request_token.login_url(redirect_params=f"nonce={STATE}")
    params = callback(await browse(session, url))
    assert params["nonce"] == STATE
    session.seen_secrets.append(params["request_token"])
    return await session.auth.request_token.exchange_request_token(params["request_token"])


async def _upstox_login(session: Session) -> ProviderCredentials:
    assert session.auth.oauth is not None
    url = session.auth.oauth.authorization_url(state=STATE, redirect_uri=UPSTOX_REDIRECT_URI)
    params = callback(await browse(session, url))
    assert params["state"] == STATE
    session.seen_secrets.append(params["code"])
    return await session.auth.oauth.exchange_code(
        code=params["code"], redirect_uri=UPSTOX_REDIRECT_URI
    )


async def _groww_login(session: Session) -> ProviderCredentials:
    assert session.auth.key_login is not None
    epoch = int(session.clock.now().timestamp())
    session.seen_secrets.append(hashlib.sha256(f"{GROWW_API_SECRET}{epoch}".encode()).hexdigest())
    return await session.auth.key_login.mint(
        KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
    )


def _next_ist(at_hour: int, at_minute: int, after: datetime) -> datetime:
    local = after.astimezone(IST)
    reset = local.replace(hour=at_hour, minute=at_minute, second=0, microsecond=0)
    if reset <= local:
        reset += timedelta(days=1)
    return reset.astimezone(UTC)


@dataclass(frozen=True)
class BrokerCase:
    """One provider as the contract suite sees it."""

    id: str
    plugin: BrokerPlugin
    login: Callable[[Session], Awaitable[ProviderCredentials]]
    user_id: str
    account_ref: str | None
    token_path: str
    profile_path: str
    app_secret: str
    refreshable: bool
    revocable: bool
    # When a fresh login's access ends, and when the user must consent again.
    access_ends: Callable[[datetime], datetime]
    consent_ends: Callable[[datetime], datetime]
    approved: bool = False  # Kite: an app approved for refresh tokens


def _cases() -> list[BrokerCase]:
    from dashcore_brokers.groww import PLUGIN as GROWW
    from dashcore_brokers.sandbox.groww import GROWW_USER
    from dashcore_brokers.sandbox.schwab import SCHWAB_USER
    from dashcore_brokers.sandbox.upstox import UPSTOX_USER
    from dashcore_brokers.sandbox.zerodha import KITE_USER
    from dashcore_brokers.schwab import PLUGIN as SCHWAB
    from dashcore_brokers.upstox import PLUGIN as UPSTOX
    from dashcore_brokers.zerodha import PLUGIN as ZERODHA

    def kite(approved: bool) -> BrokerCase:
        return BrokerCase(
            id="zerodha-approved" if approved else "zerodha",
            plugin=ZERODHA,
            login=_kite_login,
            user_id=KITE_USER.user_id,
            account_ref=KITE_USER.user_id,
            token_path="/session/token",
            profile_path="/user/profile",
            app_secret=KITE_API_SECRET,
            refreshable=approved,
            revocable=True,
            access_ends=lambda t: _next_ist(6, 0, t),
            consent_ends=lambda t: _next_ist(6, 0, t),
            approved=approved,
        )

    return [
        BrokerCase(
            id="schwab",
            plugin=SCHWAB,
            login=_schwab_login,
            user_id=SCHWAB_USER.user_id,
            account_ref=None,
            token_path="/v1/oauth/token",
            profile_path="/trader/v1/userPreference",
            app_secret=SCHWAB_APP_SECRET,
            refreshable=True,
            revocable=False,
            access_ends=lambda t: t + timedelta(minutes=30),
            consent_ends=lambda t: t + timedelta(days=7),
        ),
        kite(approved=False),
        kite(approved=True),
        BrokerCase(
            id="upstox",
            plugin=UPSTOX,
            login=_upstox_login,
            user_id=UPSTOX_USER.user_id,
            account_ref=UPSTOX_USER.user_id,
            token_path="/v2/login/authorization/token",
            profile_path="/v2/user/profile",
            app_secret=UPSTOX_CLIENT_SECRET,
            refreshable=False,
            revocable=True,
            access_ends=lambda t: _next_ist(3, 30, t),
            consent_ends=lambda t: _next_ist(3, 30, t),
        ),
        BrokerCase(
            id="groww",
            plugin=GROWW,
            login=_groww_login,
            user_id=GROWW_USER.user_id,
            account_ref=None,
            token_path="/v1/token/api/access",
            profile_path="/v1/user/detail",
            app_secret=GROWW_API_SECRET,
            refreshable=False,
            revocable=False,
            access_ends=lambda t: _next_ist(6, 0, t),
            consent_ends=lambda t: _next_ist(6, 0, t),
        ),
    ]


CASES = _cases()
