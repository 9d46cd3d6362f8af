"""Schwab's wire details (brokers.md §1.2): authorize URL, Basic auth, form bodies, the %40
suffix, expires_in, refresh keeping the old token, and its refusals."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import ProviderUnavailable, ReauthRequired
from dashcore.testing.clock import FakeClock
from dashcore_brokers.plugin import ProviderConfig
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.sandbox.credentials import (
    SCHWAB_APP_KEY,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
)
from dashcore_brokers.schwab import PLUGIN

from .conftest import open_session
from .harness import STATE, Session, browse
from .timing import FakeTiming
from .wire import form, query


@pytest.fixture
async def schwab(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Session]:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        yield session


async def raw_code(session: Session) -> str:
    """The code exactly as it stands in the callback URL: ``…%40``."""
    assert session.auth.oauth is not None
    url = session.auth.oauth.authorization_url(state=STATE, redirect_uri=SCHWAB_REDIRECT_URI)
    location = (await browse(session, url)).headers["location"]
    found = re.search(r"[?&]code=([^&]+)", location)
    assert found is not None
    return found.group(1)


async def test_authorization_url_is_exactly_the_documented_one() -> None:
    config = PLUGIN.default_config(client_id=SCHWAB_APP_KEY, client_secret=SCHWAB_APP_SECRET)
    async with PLUGIN.create(config, FakeClock()) as auth:
        assert auth.oauth is not None
        url = auth.oauth.authorization_url(state=STATE, redirect_uri=SCHWAB_REDIRECT_URI)
        with pytest.raises(ValueError, match="PKCE"):
            auth.oauth.authorization_url(
                state=STATE, redirect_uri=SCHWAB_REDIRECT_URI, code_challenge="x"
            )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "api.schwabapi.com",
        "/v1/oauth/authorize",
    )
    assert query(url) == {
        "response_type": "code",
        "client_id": SCHWAB_APP_KEY,
        "redirect_uri": SCHWAB_REDIRECT_URI,
        "state": STATE,
    }


async def test_code_exchange_is_a_basic_authenticated_form_and_accepts_the_raw_suffix(
    schwab: Session,
) -> None:
    code = await raw_code(schwab)
    assert code.endswith("%40")
    assert schwab.auth.oauth is not None
    credentials = await schwab.auth.oauth.exchange_code(code=code, redirect_uri=SCHWAB_REDIRECT_URI)
    sent = schwab.recorder.last("POST", "/v1/oauth/token")
    expected = base64.b64encode(f"{SCHWAB_APP_KEY}:{SCHWAB_APP_SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert form(sent) == {
        "grant_type": "authorization_code",
        "code": code[: -len("%40")] + "@",
        "redirect_uri": SCHWAB_REDIRECT_URI,
    }
    assert SCHWAB_APP_SECRET not in sent.content.decode()
    # expires_in (1800 s) is honoured.
    assert credentials.expires_at == credentials.issued_at + timedelta(seconds=1800)


async def test_refresh_is_a_basic_authenticated_form(schwab: Session) -> None:
    assert schwab.auth.oauth is not None and schwab.auth.refresher is not None
    credentials = await schwab.auth.oauth.exchange_code(
        code=await raw_code(schwab), redirect_uri=SCHWAB_REDIRECT_URI
    )
    await schwab.auth.refresher.refresh(credentials)
    sent = schwab.recorder.last("POST", "/v1/oauth/token")
    assert sent.headers["authorization"].startswith("Basic ")
    assert form(sent) == {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}


async def test_profile_sends_the_bearer_token(schwab: Session) -> None:
    assert schwab.auth.oauth is not None
    credentials = await schwab.auth.oauth.exchange_code(
        code=await raw_code(schwab), redirect_uri=SCHWAB_REDIRECT_URI
    )
    await schwab.auth.profile(credentials)
    sent = schwab.recorder.last("GET", "/trader/v1/userPreference")
    assert sent.headers["authorization"] == f"Bearer {credentials.access_token}"
    assert sent.headers["accept"] == "application/json"


async def test_the_refresh_token_dies_seven_days_after_consent(
    schwab: Session, clock: FakeClock
) -> None:
    assert schwab.auth.oauth is not None and schwab.auth.refresher is not None
    credentials = await schwab.auth.oauth.exchange_code(
        code=await raw_code(schwab), redirect_uri=SCHWAB_REDIRECT_URI
    )
    clock.advance(days=6, hours=23)
    credentials = await schwab.auth.refresher.refresh(credentials)
    clock.advance(hours=1)
    with pytest.raises(ReauthRequired) as refused:
        await schwab.auth.refresher.refresh(credentials)
    assert refused.value.code == "refresh_token_rejected"


async def test_a_replayed_code_needs_a_new_consent(schwab: Session) -> None:
    assert schwab.auth.oauth is not None
    code = await raw_code(schwab)
    await schwab.auth.oauth.exchange_code(code=code, redirect_uri=SCHWAB_REDIRECT_URI)
    with pytest.raises(ReauthRequired) as refused:
        await schwab.auth.oauth.exchange_code(code=code, redirect_uri=SCHWAB_REDIRECT_URI)
    assert refused.value.code == "authorization_code_rejected"


async def test_a_wrong_app_secret_is_an_operator_problem(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    session = await open_session(PLUGIN, sandboxes, clock, timing, client_secret="WrongSecret00001")
    async with session.auth:
        assert session.auth.oauth is not None
        with pytest.raises(ProviderUnavailable) as refused:
            await session.auth.oauth.exchange_code(
                code=await raw_code(session), redirect_uri=SCHWAB_REDIRECT_URI
            )
    assert refused.value.code == "provider_client_rejected"


@pytest.mark.parametrize("error", ["unsupported_token_type", "invalid_client", "invalid_grant"])
async def test_dead_refresh_token_spellings_all_need_reauth(error: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": error, "error_description": "x"})

    config = PLUGIN.default_config(sandbox_url="https://schwab.sandbox.test")
    async with PLUGIN.create(config, FakeClock(), transport=httpx.MockTransport(answer)) as auth:
        assert auth.refresher is not None
        stale = ProviderCredentials("access-x", FakeClock().now(), refresh_token="refresh-x")
        with pytest.raises(ReauthRequired):
            await auth.refresher.refresh(stale)


def test_schwab_has_no_revoke_and_needs_app_credentials() -> None:
    assert not PLUGIN.descriptor(True).revocable
    with pytest.raises(ValueError, match="client id"):
        PLUGIN.create(ProviderConfig("https://a.test", "https://a.test"), FakeClock())
    with pytest.raises(ValueError, match="https"):
        ProviderConfig("http://api.schwabapi.com", "https://api.schwabapi.com")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8301", "http://localhost:8301", "http://[::1]:8301"]
)
def test_plain_http_is_accepted_only_on_a_loopback_host(url: str) -> None:
    """A simulator several dashcore processes share (``dashcore sandbox serve``) stays on this
    machine; anything across a network needs TLS."""
    assert ProviderConfig(url, url).api_base_url == url
    for remote in ("http://10.0.0.5:8301", "http://sandbox.example.com"):
        with pytest.raises(ValueError, match="loopback"):
            ProviderConfig(remote, remote)
