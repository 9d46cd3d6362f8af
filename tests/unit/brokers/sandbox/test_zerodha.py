from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import ConsentMode
from dashcore_brokers.sandbox.credentials import KITE_API_KEY, KITE_API_SECRET, KITE_REDIRECT_URI
from dashcore_brokers.sandbox.lifetimes import KOLKATA
from dashcore_brokers.sandbox.zerodha import KiteSandbox
from dashcore_brokers.sandbox.zerodha.session import kite_checksum as sandbox_checksum

from .flows import (
    KITE_HEADERS,
    callback_params,
    kite_auth,
    kite_checksum,
    kite_login,
    kite_request_token,
)

PROFILE = "/user/profile"


def _error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["data"] is None
    assert body["error_type"] == error_type
    message: str = body["message"]
    return message


async def _exchange(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await client.post("/session/token", data=fields, headers=KITE_HEADERS)


def test_checksum_is_sha256_of_key_token_secret() -> None:
    expected = hashlib.sha256(b"abc" + b"tok" + b"sec").hexdigest()
    assert sandbox_checksum("abc", "tok", "sec") == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


async def test_full_login_profile_and_logout(kite_client: httpx.AsyncClient) -> None:
    response = await kite_client.get(
        "/connect/login",
        params={"v": "3", "api_key": KITE_API_KEY, "redirect_params": "nonce=n1&x=2"},
    )
    assert response.headers["location"].startswith(KITE_REDIRECT_URI + "?")
    params = callback_params(response)
    assert params["action"] == "login"
    assert params["type"] == "login"
    assert params["status"] == "success"
    assert params["nonce"] == "n1"
    assert params["x"] == "2"
    request_token = params["request_token"]

    session = await _exchange(
        kite_client,
        api_key=KITE_API_KEY,
        request_token=request_token,
        checksum=kite_checksum(request_token),
    )
    assert session.status_code == 200
    body = session.json()
    assert body["status"] == "success"
    data = body["data"]
    assert data["api_key"] == KITE_API_KEY
    assert data["broker"] == "ZERODHA"
    assert data["refresh_token"] == ""  # not an approved platform
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", data["login_time"])
    assert data["login_time"] == "2026-01-05 10:00:00"  # IST wall clock
    for key in ("access_token", "public_token", "enctoken", "user_id", "user_type", "meta"):
        assert key in data

    profile = await kite_client.get(PROFILE, headers=kite_auth(data["access_token"]))
    assert profile.status_code == 200
    assert profile.json()["data"]["user_id"] == data["user_id"]
    assert "access_token" not in profile.json()["data"]

    logout = await kite_client.delete(
        "/session/token",
        params={"api_key": KITE_API_KEY, "access_token": data["access_token"]},
        headers=KITE_HEADERS,
    )
    assert logout.json() == {"status": "success", "data": True}
    gone = await kite_client.get(PROFILE, headers=kite_auth(data["access_token"]))
    _error(gone, 403, "TokenException")


async def test_denied_login_comes_back_without_a_token(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    kite.settings.consent = ConsentMode.DENY
    response = await kite_client.get(
        "/connect/login", params={"v": "3", "api_key": KITE_API_KEY, "redirect_params": "n=1"}
    )
    params = callback_params(response)
    assert params == {"n": "1", "action": "login", "type": "login", "status": "cancelled"}


async def test_login_page_for_people(kite: KiteSandbox, kite_client: httpx.AsyncClient) -> None:
    kite.settings.consent = ConsentMode.PAGE
    query = {"v": "3", "api_key": KITE_API_KEY}
    page = await kite_client.get("/connect/login", params=query)
    assert page.status_code == 200
    assert "Approve" in page.text
    clicked = await kite_client.post("/connect/login", params=query, data={"decision": "approve"})
    assert callback_params(clicked)["status"] == "success"


@pytest.mark.parametrize(
    "params",
    [
        {"v": "3", "api_key": "nobody"},
        {"v": "3"},
        {"api_key": KITE_API_KEY},
        {"v": "2", "api_key": KITE_API_KEY},
    ],
)
async def test_login_refuses_bad_parameters(
    kite_client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await kite_client.get("/connect/login", params=params)
    _error(response, 400, "InputException")
    assert "location" not in response.headers


async def test_wrong_checksum_is_refused(kite_client: httpx.AsyncClient) -> None:
    request_token = await kite_request_token(kite_client)
    for checksum in (
        kite_checksum(request_token, secret="wrong"),
        hashlib.sha256((request_token + KITE_API_KEY + KITE_API_SECRET).encode()).hexdigest(),
        "",
    ):
        response = await _exchange(
            kite_client, api_key=KITE_API_KEY, request_token=request_token, checksum=checksum
        )
        _error(response, 400, "InputException")


async def test_unknown_api_key_is_refused(kite_client: httpx.AsyncClient) -> None:
    request_token = await kite_request_token(kite_client)
    response = await _exchange(
        kite_client,
        api_key="nobody",
        request_token=request_token,
        checksum=kite_checksum(request_token, api_key="nobody"),
    )
    assert _error(response, 400, "InputException") == "Invalid `api_key`."


async def test_request_token_is_single_use(kite_client: httpx.AsyncClient) -> None:
    request_token = await kite_request_token(kite_client)
    fields = {
        "api_key": KITE_API_KEY,
        "request_token": request_token,
        "checksum": kite_checksum(request_token),
    }
    assert (await _exchange(kite_client, **fields)).status_code == 200
    replay = await _exchange(kite_client, **fields)
    assert _error(replay, 403, "TokenException") == "Token is invalid or has expired."


async def test_request_token_lives_five_minutes(
    clock: FakeClock, kite_client: httpx.AsyncClient
) -> None:
    request_token = await kite_request_token(kite_client)
    clock.advance(minutes=5)
    late = await _exchange(
        kite_client,
        api_key=KITE_API_KEY,
        request_token=request_token,
        checksum=kite_checksum(request_token),
    )
    _error(late, 403, "TokenException")


async def test_session_calls_need_the_version_header(kite_client: httpx.AsyncClient) -> None:
    request_token = await kite_request_token(kite_client)
    response = await kite_client.post(
        "/session/token",
        data={
            "api_key": KITE_API_KEY,
            "request_token": request_token,
            "checksum": kite_checksum(request_token),
        },
    )
    _error(response, 400, "InputException")
    data = await kite_login(kite_client)
    headers = kite_auth(data["access_token"])
    del headers["X-Kite-Version"]
    _error(await kite_client.get(PROFILE, headers=headers), 400, "InputException")


@pytest.mark.parametrize("field", ["api_key", "request_token", "checksum"])
async def test_missing_fields_are_input_errors(kite_client: httpx.AsyncClient, field: str) -> None:
    fields = {"api_key": KITE_API_KEY, "request_token": "x", "checksum": "y"}
    del fields[field]
    _error(await _exchange(kite_client, **fields), 400, "InputException")


async def test_profile_needs_the_matching_api_key(kite_client: httpx.AsyncClient) -> None:
    data = await kite_login(kite_client)
    for headers in (
        kite_auth(data["access_token"], api_key="other"),
        {**KITE_HEADERS, "Authorization": f"Bearer {data['access_token']}"},
        KITE_HEADERS,
        kite_auth("forged"),
    ):
        _error(await kite_client.get(PROFILE, headers=headers), 403, "TokenException")


async def test_session_valid_until_six_ist_next_morning(
    clock: FakeClock, kite_client: httpx.AsyncClient
) -> None:
    data = await kite_login(kite_client)  # 2026-01-05 10:00 IST
    headers = kite_auth(data["access_token"])
    clock.set(_ist(2026, 1, 6, 5, 59, 59))
    assert (await kite_client.get(PROFILE, headers=headers)).status_code == 200
    clock.set(_ist(2026, 1, 6, 6, 0))
    _error(await kite_client.get(PROFILE, headers=headers), 403, "TokenException")


async def test_approved_platform_refreshes_the_session(
    clock: FakeClock, kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    app = kite.apps.get(KITE_API_KEY)
    assert app is not None
    app.refresh_enabled = True
    data = await kite_login(kite_client)
    refresh_token = data["refresh_token"]
    assert refresh_token
    clock.set(_ist(2026, 1, 6, 7, 0))  # the first session has died
    _error(
        await kite_client.get(PROFILE, headers=kite_auth(data["access_token"])),
        403,
        "TokenException",
    )
    renewed = await _renew(kite_client, refresh_token)
    assert renewed.status_code == 200
    fresh = renewed.json()["data"]
    assert fresh["refresh_token"] == refresh_token
    assert (await kite_client.get(PROFILE, headers=kite_auth(fresh["access_token"]))).is_success

    bad = await kite_client.post(
        "/session/refresh_token",
        data={"api_key": KITE_API_KEY, "refresh_token": refresh_token, "checksum": "0" * 64},
        headers=KITE_HEADERS,
    )
    _error(bad, 400, "InputException")

    invalidated = await kite_client.delete(
        "/session/token",
        params={"api_key": KITE_API_KEY, "refresh_token": refresh_token},
        headers=KITE_HEADERS,
    )
    assert invalidated.json() == {"status": "success", "data": True}
    _error(await _renew(kite_client, refresh_token), 403, "TokenException")


async def test_rotated_refresh_token_retires_the_old_one(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    app = kite.apps.get(KITE_API_KEY)
    assert app is not None
    app.refresh_enabled = True
    kite.settings.rotate_refresh_tokens = True
    refresh_token = (await kite_login(kite_client))["refresh_token"]
    rotated = (await _renew(kite_client, refresh_token)).json()["data"]["refresh_token"]
    assert rotated != refresh_token
    _error(await _renew(kite_client, refresh_token), 403, "TokenException")
    assert (await _renew(kite_client, rotated)).status_code == 200


async def test_logout_of_an_unknown_token_is_a_token_error(kite_client: httpx.AsyncClient) -> None:
    response = await kite_client.delete(
        "/session/token",
        params={"api_key": KITE_API_KEY, "access_token": "nope"},
        headers=KITE_HEADERS,
    )
    _error(response, 403, "TokenException")


async def _renew(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    fields: dict[str, Any] = {
        "api_key": KITE_API_KEY,
        "refresh_token": refresh_token,
        "checksum": kite_checksum(refresh_token),
    }
    return await client.post("/session/refresh_token", data=fields, headers=KITE_HEADERS)


def _ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=KOLKATA)


def test_api_secret_stays_out_of_reprs(kite: KiteSandbox) -> None:
    assert KITE_API_SECRET not in repr(kite.apps.get(KITE_API_KEY))
