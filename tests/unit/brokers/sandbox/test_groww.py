from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import ConsentMode
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
)
from dashcore_brokers.sandbox.groww import GrowwSandbox
from dashcore_brokers.sandbox.groww.routes import groww_checksum
from dashcore_brokers.sandbox.groww.totp import totp_at
from dashcore_brokers.sandbox.lifetimes import KOLKATA

from .flows import GROWW_HEADERS, bearer, groww_mint

MINT = "/v1/token/api/access"
PROFILE = "/v1/user/detail"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "FAILURE"
    assert body["error"]["code"] == code
    error: dict[str, object] = body["error"]
    return error


def _now(clock: FakeClock) -> int:
    return int(clock.now().timestamp())


def _ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=KOLKATA)


def test_checksum_is_sha256_of_secret_then_epoch() -> None:
    assert groww_checksum("s3cret", 1700000000) == hashlib.sha256(b"s3cret1700000000").hexdigest()
    assert groww_checksum("s3cret", "1700000000") == groww_checksum("s3cret", 1700000000)


@pytest.mark.parametrize("offset", [0, 29, 59, 89, 12345])
def test_totp_matches_a_standard_authenticator(offset: int) -> None:
    instant = datetime(2026, 1, 5, 4, 30, tzinfo=UTC) + timedelta(seconds=offset)
    assert totp_at(GROWW_TOTP_SEED, instant) == pyotp.TOTP(GROWW_TOTP_SEED).at(instant)


async def test_mint_with_checksum_then_profile(
    clock: FakeClock, groww_client: httpx.AsyncClient
) -> None:
    minted = await groww_mint(groww_client, _now(clock))
    assert minted.status_code == 200
    body = minted.json()
    assert set(body) == {"token", "tokenRefId", "sessionName", "expiry", "isActive"}
    assert body["isActive"] is True
    assert datetime.fromisoformat(body["expiry"]) == _ist(2026, 1, 6, 6, 0)

    profile = await groww_client.get(PROFILE, headers={**bearer(body["token"]), **GROWW_HEADERS})
    assert profile.status_code == 200
    assert profile.json()["status"] == "SUCCESS"
    assert "vendor_user_id" in profile.json()["payload"]


async def test_timestamp_may_be_a_string(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    assert (await groww_mint(groww_client, str(_now(clock)))).status_code == 200


async def test_mint_with_totp(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    code = pyotp.TOTP(GROWW_TOTP_SEED).at(clock.now())
    minted = await groww_client.post(
        MINT,
        json={"key_type": "totp", "totp": code},
        headers={**bearer(GROWW_TOTP_TOKEN), **GROWW_HEADERS},
    )
    assert minted.status_code == 200
    token = minted.json()["token"]
    profile = await groww_client.get(PROFILE, headers={**bearer(token), **GROWW_HEADERS})
    assert profile.status_code == 200


@pytest.mark.parametrize("code", ["ten minutes ago", "12345", "abcdef", ""])
async def test_wrong_totp_is_refused(
    clock: FakeClock, groww_client: httpx.AsyncClient, code: str
) -> None:
    if code == "ten minutes ago":
        code = pyotp.TOTP(GROWW_TOTP_SEED).at(clock.now() - timedelta(minutes=10))
        assert code != pyotp.TOTP(GROWW_TOTP_SEED).at(clock.now())
    response = await groww_client.post(
        MINT,
        json={"key_type": "totp", "totp": code},
        headers={**bearer(GROWW_TOTP_TOKEN), **GROWW_HEADERS},
    )
    error = _error(response, 400, "GA001")
    assert error["displayMessage"]


async def test_stale_totp_is_refused(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    code = pyotp.TOTP(GROWW_TOTP_SEED).at(clock.now())
    clock.advance(seconds=90)
    response = await groww_client.post(
        MINT,
        json={"key_type": "totp", "totp": code},
        headers={**bearer(GROWW_TOTP_TOKEN), **GROWW_HEADERS},
    )
    _error(response, 400, "GA001")


async def test_wrong_checksum_is_refused(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    timestamp = _now(clock)
    for checksum in (
        groww_checksum("wrong-secret", timestamp),
        hashlib.sha256(f"{timestamp}{GROWW_API_SECRET}".encode()).hexdigest(),
    ):
        response = await groww_client.post(
            MINT,
            json={"key_type": "approval", "checksum": checksum, "timestamp": timestamp},
            headers={**bearer(GROWW_API_KEY), **GROWW_HEADERS},
        )
        assert _error(response, 400, "GA001")["displayMessage"] == "Invalid checksum"


@pytest.mark.parametrize("skew", [timedelta(minutes=-11), timedelta(minutes=11)])
async def test_timestamp_outside_ten_minutes_is_refused(
    clock: FakeClock, groww_client: httpx.AsyncClient, skew: timedelta
) -> None:
    response = await groww_mint(groww_client, int((clock.now() + skew).timestamp()))
    _error(response, 400, "GA001")


@pytest.mark.parametrize(
    "body",
    [
        {"key_type": "totp", "totp": "123456"},
        {"key_type": "approval", "timestamp": 1},
        {"key_type": "approval", "checksum": "x", "timestamp": "soon"},
        {"key_type": "approval", "checksum": "x", "timestamp": True},
        {"checksum": "x", "timestamp": 1},
    ],
)
async def test_malformed_mint_bodies(groww_client: httpx.AsyncClient, body: object) -> None:
    response = await groww_client.post(
        MINT, json=body, headers={**bearer(GROWW_API_KEY), **GROWW_HEADERS}
    )
    _error(response, 400, "GA001")


async def test_mint_needs_a_known_key(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    _error(await groww_mint(groww_client, _now(clock), api_key="nobody"), 401, "GA005")
    no_auth = await groww_client.post(MINT, json={"key_type": "approval"}, headers=GROWW_HEADERS)
    _error(no_auth, 401, "GA005")


async def test_unapproved_key_cannot_mint(
    clock: FakeClock, groww: GrowwSandbox, groww_client: httpx.AsyncClient
) -> None:
    groww.settings.consent = ConsentMode.DENY
    _error(await groww_mint(groww_client, _now(clock)), 403, "GA005")


async def test_profile_needs_the_version_header_and_a_live_token(
    clock: FakeClock, groww_client: httpx.AsyncClient
) -> None:
    token = (await groww_mint(groww_client, _now(clock))).json()["token"]
    _error(await groww_client.get(PROFILE, headers=bearer(token)), 400, "GA001")
    _error(await groww_client.get(PROFILE, headers=GROWW_HEADERS), 401, "GA005")
    forged = {**bearer("forged"), **GROWW_HEADERS}
    _error(await groww_client.get(PROFILE, headers=forged), 401, "GA005")


async def test_token_dies_at_six_ist(clock: FakeClock, groww_client: httpx.AsyncClient) -> None:
    token = (await groww_mint(groww_client, _now(clock))).json()["token"]
    headers = {**bearer(token), **GROWW_HEADERS}
    clock.set(_ist(2026, 1, 6, 5, 59, 59))
    assert (await groww_client.get(PROFILE, headers=headers)).status_code == 200
    clock.set(_ist(2026, 1, 6, 6, 0))
    _error(await groww_client.get(PROFILE, headers=headers), 401, "GA005")


def test_secrets_stay_out_of_reprs(groww: GrowwSandbox) -> None:
    assert GROWW_API_SECRET not in repr(groww.keys)
    assert GROWW_TOTP_SEED not in repr(groww.keys)
