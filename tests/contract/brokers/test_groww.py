"""Groww's wire details (brokers.md §4.2-4.3): Bearer API key, JSON mint bodies (checksum of
secret and epoch, or TOTP), X-API-VERSION, the expiry field, and its refusals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pyotp
import pytest

from dashcore.domain.connections import KeyCredentials
from dashcore.domain.errors import InvalidInput, ReauthRequired
from dashcore.testing.clock import FakeClock
from dashcore_brokers.groww import PLUGIN, groww_checksum
from dashcore_brokers.sandbox import BrokerSandbox, ConsentMode
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
)

from .conftest import open_session
from .harness import Session
from .timing import FakeTiming
from .wire import json_body

SIX_IST = datetime(2026, 1, 6, 0, 30, tzinfo=UTC)  # the next 06:00 India time after START


@pytest.fixture
async def groww(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Session]:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        yield session


def test_checksum_is_sha256_of_secret_then_epoch() -> None:
    expected = hashlib.sha256(b"my-secret1767591000").hexdigest()
    assert groww_checksum("my-secret", 1767591000) == expected


async def test_approval_mint_is_json_with_checksum_and_epoch(groww: Session) -> None:
    assert groww.auth.key_login is not None
    credentials = await groww.auth.key_login.mint(
        KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
    )
    sent = groww.recorder.last("POST", "/v1/token/api/access")
    epoch = int(groww.clock.now().timestamp())
    assert json_body(sent) == {
        "key_type": "approval",
        "checksum": groww_checksum(GROWW_API_SECRET, epoch),
        "timestamp": epoch,
    }
    assert sent.headers["authorization"] == f"Bearer {GROWW_API_KEY}"
    assert sent.headers["x-api-version"] == "1.0"
    assert GROWW_API_SECRET not in sent.content.decode()
    assert credentials.expires_at == SIX_IST


async def test_totp_mint_sends_the_code(groww: Session) -> None:
    assert groww.auth.key_login is not None
    totp = pyotp.TOTP(GROWW_TOTP_SEED).at(groww.clock.now())
    credentials = await groww.auth.key_login.mint(KeyCredentials(GROWW_TOTP_TOKEN, totp_code=totp))
    sent = groww.recorder.last("POST", "/v1/token/api/access")
    assert json_body(sent) == {"key_type": "totp", "totp": totp}
    assert sent.headers["authorization"] == f"Bearer {GROWW_TOTP_TOKEN}"
    await groww.auth.profile(credentials)
    profile = groww.recorder.last("GET", "/v1/user/detail")
    assert profile.headers["x-api-version"] == "1.0"
    assert profile.headers["authorization"] == f"Bearer {credentials.access_token}"


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        (KeyCredentials(GROWW_API_KEY, api_secret="not-the-secret"), "api_secret"),
        (KeyCredentials("unknown-key", api_secret=GROWW_API_SECRET), "api_key"),
        (KeyCredentials(GROWW_TOTP_TOKEN, totp_code="000000"), "totp_code"),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-totp"],
)
async def test_what_the_user_typed_wrong_is_invalid_input(
    groww: Session, credentials: KeyCredentials, field: str
) -> None:
    assert groww.auth.key_login is not None
    with pytest.raises(InvalidInput) as refused:
        await groww.auth.key_login.mint(credentials)
    assert refused.value.code == "invalid_credentials"
    assert [error.field for error in refused.value.errors] == [field]


async def test_a_key_not_approved_today_needs_reauth(groww: Session) -> None:
    groww.sandbox.settings.consent = ConsentMode.DENY
    assert groww.auth.key_login is not None
    with pytest.raises(ReauthRequired) as refused:
        await groww.auth.key_login.mint(KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET))
    assert refused.value.code == "key_not_approved"


async def test_an_expiry_without_offset_is_india_time() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": "t-123456789", "expiry": "2026-01-06T06:00:00"})

    config = PLUGIN.default_config(sandbox_url="https://groww.sandbox.test")
    async with PLUGIN.create(config, FakeClock(), transport=httpx.MockTransport(answer)) as auth:
        assert auth.key_login is not None
        credentials = await auth.key_login.mint(KeyCredentials("k", api_secret="s"))
    assert credentials.expires_at == SIX_IST


async def test_a_failure_envelope_with_200_is_still_a_refusal() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"status": "FAILURE", "error": {"code": "GA001", "message": "bad"}}
        return httpx.Response(200, json=body)

    config = PLUGIN.default_config(sandbox_url="https://groww.sandbox.test")
    async with PLUGIN.create(config, FakeClock(), transport=httpx.MockTransport(answer)) as auth:
        assert auth.key_login is not None
        with pytest.raises(InvalidInput):
            await auth.key_login.mint(KeyCredentials("k", totp_code="123456"))


def test_groww_has_neither_refresh_nor_revoke() -> None:
    descriptor = PLUGIN.descriptor(True)
    assert not descriptor.refreshable and not descriptor.revocable
