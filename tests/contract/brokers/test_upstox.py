"""Upstox's wire details (brokers.md §3.2-3.3): dialog URL, the secret in the form body, the
flat token answer, Api-Version 2.0, logout, and its refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import ProviderUnavailable, ReauthRequired
from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.sandbox.credentials import (
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)
from dashcore_brokers.sandbox.upstox import UPSTOX_USER
from dashcore_brokers.upstox import PLUGIN

from .conftest import open_session
from .harness import STATE, Session, browse, callback
from .timing import FakeTiming
from .wire import form, query


@pytest.fixture
async def upstox(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Session]:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        yield session


async def code(session: Session) -> str:
    assert session.auth.oauth is not None
    url = session.auth.oauth.authorization_url(state=STATE, redirect_uri=UPSTOX_REDIRECT_URI)
    return callback(await browse(session, url))["code"]


async def login(session: Session) -> ProviderCredentials:
    assert session.auth.oauth is not None
    return await session.auth.oauth.exchange_code(
        code=await code(session), redirect_uri=UPSTOX_REDIRECT_URI
    )


async def test_dialog_url_is_the_documented_one() -> None:
    config = PLUGIN.default_config(client_id=UPSTOX_CLIENT_ID, client_secret=UPSTOX_CLIENT_SECRET)
    async with PLUGIN.create(config, FakeClock()) as auth:
        assert auth.oauth is not None
        url = auth.oauth.authorization_url(state=STATE, redirect_uri=UPSTOX_REDIRECT_URI)
        with pytest.raises(ValueError, match="PKCE"):
            auth.oauth.authorization_url(
                state=STATE, redirect_uri=UPSTOX_REDIRECT_URI, code_challenge="x"
            )
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("api.upstox.com", "/v2/login/authorization/dialog")
    assert query(url) == {
        "response_type": "code",
        "client_id": UPSTOX_CLIENT_ID,
        "redirect_uri": UPSTOX_REDIRECT_URI,
        "state": STATE,
    }


async def test_token_exchange_puts_the_secret_in_the_form_body(upstox: Session) -> None:
    issued_code = await code(upstox)
    assert upstox.auth.oauth is not None
    credentials = await upstox.auth.oauth.exchange_code(
        code=issued_code, redirect_uri=UPSTOX_REDIRECT_URI
    )
    sent = upstox.recorder.last("POST", "/v2/login/authorization/token")
    assert form(sent) == {
        "code": issued_code,
        "client_id": UPSTOX_CLIENT_ID,
        "client_secret": UPSTOX_CLIENT_SECRET,
        "redirect_uri": UPSTOX_REDIRECT_URI,
        "grant_type": "authorization_code",
    }
    assert "authorization" not in sent.headers
    assert sent.headers["accept"] == "application/json"
    # The flat answer: the user id is kept, no refresh exists, the calendar decides expiry.
    assert credentials.account_ref == UPSTOX_USER.user_id
    assert credentials.refresh_token is None and credentials.expires_at is None


async def test_api_calls_carry_bearer_and_api_version(upstox: Session) -> None:
    credentials = await login(upstox)
    await upstox.auth.profile(credentials)
    assert upstox.auth.revoker is not None
    await upstox.auth.revoker.revoke(credentials)
    for sent in (
        upstox.recorder.last("GET", "/v2/user/profile"),
        upstox.recorder.last("DELETE", "/v2/logout"),
    ):
        assert sent.headers["authorization"] == f"Bearer {credentials.access_token}"
        assert sent.headers["api-version"] == "2.0"


async def test_a_replayed_code_needs_a_new_consent(upstox: Session) -> None:
    issued_code = await code(upstox)
    assert upstox.auth.oauth is not None
    await upstox.auth.oauth.exchange_code(code=issued_code, redirect_uri=UPSTOX_REDIRECT_URI)
    with pytest.raises(ReauthRequired) as refused:
        await upstox.auth.oauth.exchange_code(code=issued_code, redirect_uri=UPSTOX_REDIRECT_URI)
    assert refused.value.code == "authorization_code_rejected"


async def test_a_wrong_client_secret_is_an_operator_problem(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    session = await open_session(PLUGIN, sandboxes, clock, timing, client_secret="wrong")
    async with session.auth:
        with pytest.raises(ProviderUnavailable) as refused:
            await login(session)
    assert refused.value.code == "provider_client_rejected"


async def test_an_invalid_token_is_udapi100050(upstox: Session) -> None:
    credentials = await login(upstox)
    upstox.sandbox.tokens.revoke(credentials.access_token)
    with pytest.raises(ReauthRequired) as refused:
        await upstox.auth.profile(credentials)
    assert refused.value.code == "access_token_rejected"
