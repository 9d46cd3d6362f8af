from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import ConsentMode
from dashcore_brokers.sandbox.credentials import (
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)
from dashcore_brokers.sandbox.lifetimes import KOLKATA
from dashcore_brokers.sandbox.upstox import UpstoxSandbox

from .flows import bearer, callback_params, upstox_code, upstox_login, upstox_token_form

DIALOG = "/v2/login/authorization/dialog"
TOKEN = "/v2/login/authorization/token"
PROFILE = "/v2/user/profile"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    [error] = body["errors"]
    assert error["errorCode"] == code
    assert set(error) == {"errorCode", "message", "propertyPath", "invalidValue"}
    found: dict[str, object] = error
    return found


def _ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=KOLKATA)


async def test_full_login_profile_and_logout(upstox_client: httpx.AsyncClient) -> None:
    response = await upstox_client.get(
        DIALOG,
        params={
            "response_type": "code",
            "client_id": UPSTOX_CLIENT_ID,
            "redirect_uri": UPSTOX_REDIRECT_URI,
            "state": "abc",
        },
    )
    assert response.headers["location"].startswith(UPSTOX_REDIRECT_URI + "?")
    params = callback_params(response)
    assert set(params) == {"code", "state"}
    assert params["state"] == "abc"

    exchanged = await upstox_client.post(TOKEN, data=upstox_token_form(params["code"]))
    assert exchanged.status_code == 200
    body = exchanged.json()
    assert "status" not in body  # the token call is not enveloped
    assert body["broker"] == "UPSTOX"
    assert body["user_type"] == "individual"
    assert {"access_token", "extended_token", "poa", "is_active", "user_id"} <= set(body)

    profile = await upstox_client.get(PROFILE, headers=bearer(body["access_token"]))
    assert profile.status_code == 200
    assert profile.json()["status"] == "success"
    assert profile.json()["data"]["user_id"] == body["user_id"]

    logout = await upstox_client.delete("/v2/logout", headers=bearer(body["access_token"]))
    assert logout.json() == {"status": "success", "data": True}
    _error(
        await upstox_client.get(PROFILE, headers=bearer(body["access_token"])), 401, "UDAPI100050"
    )


async def test_state_is_optional(upstox_client: httpx.AsyncClient) -> None:
    response = await upstox_client.get(
        DIALOG,
        params={
            "response_type": "code",
            "client_id": UPSTOX_CLIENT_ID,
            "redirect_uri": UPSTOX_REDIRECT_URI,
        },
    )
    assert set(callback_params(response)) == {"code"}


async def test_denied_consent(upstox: UpstoxSandbox, upstox_client: httpx.AsyncClient) -> None:
    upstox.settings.consent = ConsentMode.DENY
    response = await upstox_client.get(
        DIALOG,
        params={
            "response_type": "code",
            "client_id": UPSTOX_CLIENT_ID,
            "redirect_uri": UPSTOX_REDIRECT_URI,
            "state": "s",
        },
    )
    assert callback_params(response) == {"error": "access_denied", "state": "s"}


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nobody", "redirect_uri": UPSTOX_REDIRECT_URI},
        {"client_id": UPSTOX_CLIENT_ID, "redirect_uri": "https://evil.test/cb"},
        {"client_id": UPSTOX_CLIENT_ID},
    ],
)
async def test_dialog_refuses_wrong_client_or_redirect(
    upstox_client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await upstox_client.get(DIALOG, params={"response_type": "code", **params})
    _error(response, 400, "UDAPI100068")
    assert "location" not in response.headers


async def test_wrong_client_secret(upstox_client: httpx.AsyncClient) -> None:
    code = await upstox_code(upstox_client)
    response = await upstox_client.post(TOKEN, data=upstox_token_form(code, client_secret="nope"))
    _error(response, 401, "UDAPI100016")


async def test_code_is_spent_even_when_the_exchange_fails(
    upstox_client: httpx.AsyncClient,
) -> None:
    code = await upstox_code(upstox_client)
    failed = await upstox_client.post(TOKEN, data=upstox_token_form(code, client_secret="nope"))
    assert failed.status_code == 401
    retried = await upstox_client.post(TOKEN, data=upstox_token_form(code))
    _error(retried, 400, "UDAPI100016")


async def test_code_is_single_use_and_short_lived(
    clock: FakeClock, upstox_client: httpx.AsyncClient
) -> None:
    code = await upstox_code(upstox_client)
    assert (await upstox_client.post(TOKEN, data=upstox_token_form(code))).status_code == 200
    _error(await upstox_client.post(TOKEN, data=upstox_token_form(code)), 400, "UDAPI100016")
    late = await upstox_code(upstox_client)
    clock.advance(minutes=10)
    _error(await upstox_client.post(TOKEN, data=upstox_token_form(late)), 400, "UDAPI100016")


async def test_redirect_uri_must_match_the_dialog(upstox_client: httpx.AsyncClient) -> None:
    code = await upstox_code(upstox_client)
    response = await upstox_client.post(
        TOKEN, data=upstox_token_form(code, redirect_uri="https://127.0.0.1/elsewhere")
    )
    _error(response, 400, "UDAPI100016")


async def test_wrong_grant_type(upstox_client: httpx.AsyncClient) -> None:
    code = await upstox_code(upstox_client)
    response = await upstox_client.post(
        TOKEN, data=upstox_token_form(code, grant_type="refresh_token")
    )
    assert _error(response, 400, "UDAPI100038")["propertyPath"] == "grant_type"


@pytest.mark.parametrize(
    "missing", ["code", "client_id", "client_secret", "redirect_uri", "grant_type"]
)
async def test_missing_token_fields(upstox_client: httpx.AsyncClient, missing: str) -> None:
    form = upstox_token_form("some-code")
    del form[missing]
    response = await upstox_client.post(TOKEN, data=form)
    assert _error(response, 400, "UDAPI100036")["propertyPath"] == missing


async def test_profile_refuses_bad_tokens(upstox_client: httpx.AsyncClient) -> None:
    for headers in ({}, bearer("forged"), {"Authorization": "token a:b"}):
        _error(await upstox_client.get(PROFILE, headers=headers), 401, "UDAPI100050")


async def test_access_token_dies_at_half_past_three_ist(
    clock: FakeClock, upstox_client: httpx.AsyncClient
) -> None:
    token = (await upstox_login(upstox_client))["access_token"]  # 2026-01-05 10:00 IST
    clock.set(_ist(2026, 1, 6, 3, 29, 59))
    assert (await upstox_client.get(PROFILE, headers=bearer(token))).status_code == 200
    clock.set(_ist(2026, 1, 6, 3, 30))
    _error(await upstox_client.get(PROFILE, headers=bearer(token)), 401, "UDAPI100050")


async def test_token_minted_after_midnight_dies_the_same_morning(
    clock: FakeClock, upstox_client: httpx.AsyncClient
) -> None:
    clock.set(_ist(2026, 1, 6, 2, 30))
    token = (await upstox_login(upstox_client))["access_token"]
    clock.set(_ist(2026, 1, 6, 3, 30))
    _error(await upstox_client.get(PROFILE, headers=bearer(token)), 401, "UDAPI100050")


async def test_extended_token_is_not_a_trading_token(upstox_client: httpx.AsyncClient) -> None:
    extended = (await upstox_login(upstox_client))["extended_token"]
    _error(await upstox_client.get(PROFILE, headers=bearer(extended)), 401, "UDAPI100067")


def test_client_secret_stays_out_of_reprs(upstox: UpstoxSandbox) -> None:
    assert UPSTOX_CLIENT_SECRET not in repr(upstox.apps.get(UPSTOX_CLIENT_ID))
