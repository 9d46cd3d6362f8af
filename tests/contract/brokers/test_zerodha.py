"""Kite's wire details (brokers.md §2.2-2.3): login URL, checksum, X-Kite-Version, the
``token key:access`` header, refresh for approved apps only, logout in the query string."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from dashcore.domain.errors import InvalidInput, ReauthRequired
from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.sandbox.credentials import KITE_API_KEY, KITE_API_SECRET
from dashcore_brokers.zerodha import PLUGIN, kite_checksum

from .conftest import open_session
from .harness import STATE, Session, browse, callback
from .timing import FakeTiming
from .wire import form, query


@pytest.fixture
async def kite(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Session]:
    session = await open_session(PLUGIN, sandboxes, clock, timing, approved=True)
    async with session.auth:
        yield session


async def request_token(session: Session) -> str:
    assert session.auth.request_token is not None
    url = session.auth.request_token.login_url(redirect_params=f"nonce={STATE}")
    return callback(await browse(session, url))["request_token"]


def test_checksum_is_sha256_of_the_plain_concatenation() -> None:
    expected = hashlib.sha256(b"my_api_keymy_request_tokenmy_secret").hexdigest()
    assert kite_checksum("my_api_key", "my_request_token", "my_secret") == expected


async def test_login_url_is_kites_v3_url_with_the_nonce() -> None:
    config = PLUGIN.default_config(client_id=KITE_API_KEY, client_secret=KITE_API_SECRET)
    async with PLUGIN.create(config, FakeClock()) as auth:
        assert auth.request_token is not None
        url = auth.request_token.login_url(redirect_params="nonce=abc&x=1")
        bare = auth.request_token.login_url(redirect_params="")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("kite.zerodha.com", "/connect/login")
    assert query(url) == {"v": "3", "api_key": KITE_API_KEY, "redirect_params": "nonce=abc&x=1"}
    assert query(bare) == {"v": "3", "api_key": KITE_API_KEY}


async def test_session_exchange_sends_the_checksum_never_the_secret(kite: Session) -> None:
    token = await request_token(kite)
    assert kite.auth.request_token is not None
    credentials = await kite.auth.request_token.exchange_request_token(token)
    sent = kite.recorder.last("POST", "/session/token")
    assert form(sent) == {
        "api_key": KITE_API_KEY,
        "request_token": token,
        "checksum": kite_checksum(KITE_API_KEY, token, KITE_API_SECRET),
    }
    assert KITE_API_SECRET not in sent.content.decode()
    await kite.auth.profile(credentials)
    profile = kite.recorder.last("GET", "/user/profile")
    assert profile.headers["authorization"] == f"token {KITE_API_KEY}:{credentials.access_token}"
    assert all(r.headers["x-kite-version"] == "3" for r in kite.recorder.requests)


async def test_refresh_sends_the_checksum_of_the_refresh_token(kite: Session) -> None:
    assert kite.auth.request_token is not None and kite.auth.refresher is not None
    credentials = await kite.auth.request_token.exchange_request_token(await request_token(kite))
    assert credentials.refresh_token
    await kite.auth.refresher.refresh(credentials)
    sent = kite.recorder.last("POST", "/session/refresh_token")
    assert form(sent) == {
        "api_key": KITE_API_KEY,
        "refresh_token": credentials.refresh_token,
        "checksum": kite_checksum(KITE_API_KEY, credentials.refresh_token, KITE_API_SECRET),
    }


async def test_logout_invalidates_the_access_and_the_refresh_token(kite: Session) -> None:
    assert kite.auth.request_token is not None and kite.auth.revoker is not None
    credentials = await kite.auth.request_token.exchange_request_token(await request_token(kite))
    await kite.auth.revoker.revoke(credentials)
    deletes = [r for r in kite.recorder.requests if r.method == "DELETE"]
    assert [query(r.url) for r in deletes] == [
        {"api_key": KITE_API_KEY, "access_token": credentials.access_token},
        {"api_key": KITE_API_KEY, "refresh_token": credentials.refresh_token},
    ]
    assert all(r.url.path == "/session/token" for r in deletes)
    assert kite.auth.refresher is not None
    with pytest.raises(ReauthRequired):
        await kite.auth.refresher.refresh(credentials)


async def test_a_replayed_request_token_is_a_token_exception(kite: Session) -> None:
    assert kite.auth.request_token is not None
    token = await request_token(kite)
    await kite.auth.request_token.exchange_request_token(token)
    with pytest.raises(ReauthRequired) as refused:
        await kite.auth.request_token.exchange_request_token(token)
    assert refused.value.code == "session_rejected"


async def test_a_wrong_checksum_is_an_input_exception(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    session = await open_session(PLUGIN, sandboxes, clock, timing, client_secret="not-the-secret")
    async with session.auth:
        assert session.auth.request_token is not None
        with pytest.raises(InvalidInput) as refused:
            await session.auth.request_token.exchange_request_token(await request_token(session))
        assert refused.value.message == "Kite refused the request as invalid."  # not Kite's words
        with pytest.raises(InvalidInput, match="request token"):
            await session.auth.request_token.exchange_request_token("  ")


async def test_unapproved_apps_have_no_refresher(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        assert session.auth.refresher is None
        assert not session.auth.descriptor.refreshable
        assert session.auth.request_token is not None
        credentials = await session.auth.request_token.exchange_request_token(
            await request_token(session)
        )
        assert credentials.refresh_token is None  # Kite sends "" to normal apps
