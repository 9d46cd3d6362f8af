from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import ConsentMode
from dashcore_brokers.sandbox.apps import RegisteredApp
from dashcore_brokers.sandbox.credentials import (
    SCHWAB_APP_KEY,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
)
from dashcore_brokers.sandbox.schwab import SchwabSandbox

from .flows import bearer, callback_params, schwab_code, schwab_login, schwab_token

AUTHORIZE = "/v1/oauth/authorize"
PROFILE = "/trader/v1/userPreference"


def _code_grant(code: str, redirect_uri: str = SCHWAB_REDIRECT_URI) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}


def _refresh_grant(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


async def test_full_login_refresh_and_profile(schwab_client: httpx.AsyncClient) -> None:
    response = await schwab_client.get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": SCHWAB_APP_KEY,
            "redirect_uri": SCHWAB_REDIRECT_URI,
            "state": "xyz",
        },
    )
    location = response.headers["location"]
    assert location.startswith(SCHWAB_REDIRECT_URI + "?")
    assert "%40" in location  # the code's trailing '@' arrives URL-encoded
    params = callback_params(response)
    assert set(params) == {"code", "session", "state"}
    assert params["state"] == "xyz"
    assert re.fullmatch(r"C0\.[A-Za-z0-9_-]+@", params["code"])
    assert re.fullmatch(r"[0-9a-f-]{36}", params["session"])

    exchanged = await schwab_token(schwab_client, _code_grant(params["code"]))
    assert exchanged.status_code == 200
    assert exchanged.headers["cache-control"] == "no-store"
    tokens = exchanged.json()
    assert set(tokens) == {
        "access_token",
        "refresh_token",
        "id_token",
        "token_type",
        "expires_in",
        "scope",
    }
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 1800

    profile = await schwab_client.get(PROFILE, headers=bearer(tokens["access_token"]))
    assert profile.status_code == 200
    assert profile.headers["schwab-client-correlid"]
    assert set(profile.json()) == {"accounts", "streamerInfo", "offers"}

    refreshed = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    renewed = refreshed.json()
    assert renewed["access_token"] != tokens["access_token"]
    assert renewed["refresh_token"] == tokens["refresh_token"]  # kept unless rotation is on
    again = await schwab_client.get(PROFILE, headers=bearer(renewed["access_token"]))
    assert again.status_code == 200


async def test_state_is_only_echoed_when_sent(schwab_client: httpx.AsyncClient) -> None:
    response = await schwab_client.get(
        AUTHORIZE, params={"client_id": SCHWAB_APP_KEY, "redirect_uri": SCHWAB_REDIRECT_URI}
    )
    assert set(callback_params(response)) == {"code", "session"}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"client_id": "nobody", "redirect_uri": SCHWAB_REDIRECT_URI}, "invalid_client"),
        ({"redirect_uri": SCHWAB_REDIRECT_URI}, "invalid_client"),
        ({"client_id": SCHWAB_APP_KEY, "redirect_uri": "https://evil.test/cb"}, "invalid_request"),
        (
            {"client_id": SCHWAB_APP_KEY, "redirect_uri": SCHWAB_REDIRECT_URI + "/"},
            "invalid_request",
        ),
        ({"client_id": SCHWAB_APP_KEY}, "invalid_request"),
    ],
)
async def test_authorize_refuses_unknown_clients_and_redirects_without_redirecting(
    schwab_client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    response = await schwab_client.get(AUTHORIZE, params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["error"] == error


async def test_authorize_rejects_another_response_type_through_the_redirect(
    schwab_client: httpx.AsyncClient,
) -> None:
    response = await schwab_client.get(
        AUTHORIZE,
        params={
            "response_type": "token",
            "client_id": SCHWAB_APP_KEY,
            "redirect_uri": SCHWAB_REDIRECT_URI,
            "state": "s1",
        },
    )
    assert callback_params(response) == {"error": "unsupported_response_type", "state": "s1"}


async def test_denied_consent_redirects_with_access_denied(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.settings.consent = ConsentMode.DENY
    response = await schwab_client.get(
        AUTHORIZE,
        params={"client_id": SCHWAB_APP_KEY, "redirect_uri": SCHWAB_REDIRECT_URI, "state": "s2"},
    )
    params = callback_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "s2"
    assert "code" not in params


async def test_consent_page_approve_and_deny_buttons(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.settings.consent = ConsentMode.PAGE
    query = {"client_id": SCHWAB_APP_KEY, "redirect_uri": SCHWAB_REDIRECT_URI, "state": "s3"}
    page = await schwab_client.get(AUTHORIZE, params=query)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'value="approve"' in page.text
    assert 'value="deny"' in page.text

    approved = await schwab_client.post(AUTHORIZE, params=query, data={"decision": "approve"})
    code = callback_params(approved)["code"]
    exchanged = await schwab_token(schwab_client, _code_grant(code))
    assert exchanged.status_code == 200

    denied = await schwab_client.post(AUTHORIZE, params=query, data={"decision": "deny"})
    assert callback_params(denied)["error"] == "access_denied"


@pytest.mark.parametrize(
    "auth",
    [
        (SCHWAB_APP_KEY, "wrong-secret"),
        ("unknown-app", SCHWAB_APP_SECRET),
    ],
)
async def test_token_endpoint_authenticates_the_app(
    schwab_client: httpx.AsyncClient, auth: tuple[str, str]
) -> None:
    code = await schwab_code(schwab_client)
    response = await schwab_token(schwab_client, _code_grant(code), auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }


async def test_token_endpoint_without_basic_auth(schwab_client: httpx.AsyncClient) -> None:
    code = await schwab_code(schwab_client)
    data = {**_code_grant(code), "client_id": SCHWAB_APP_KEY, "client_secret": SCHWAB_APP_SECRET}
    response = await schwab_client.post("/v1/oauth/token", data=data)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "redirect_uri": SCHWAB_REDIRECT_URI},
            "invalid_request",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ],
)
async def test_token_endpoint_rejects_malformed_grants(
    schwab_client: httpx.AsyncClient, data: dict[str, str], error: str
) -> None:
    response = await schwab_token(schwab_client, data)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_code_is_single_use(schwab_client: httpx.AsyncClient) -> None:
    code = await schwab_code(schwab_client)
    first = await schwab_token(schwab_client, _code_grant(code))
    replay = await schwab_token(schwab_client, _code_grant(code))
    assert first.status_code == 200
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


async def test_code_expires_after_thirty_seconds(
    clock: FakeClock, schwab_client: httpx.AsyncClient
) -> None:
    late_code = await schwab_code(schwab_client)
    clock.advance(seconds=30)
    late = await schwab_token(schwab_client, _code_grant(late_code))
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"

    code = await schwab_code(schwab_client)
    clock.advance(seconds=29)
    assert (await schwab_token(schwab_client, _code_grant(code))).status_code == 200


async def test_code_exchange_needs_the_same_redirect_uri(schwab_client: httpx.AsyncClient) -> None:
    code = await schwab_code(schwab_client)
    response = await schwab_token(schwab_client, _code_grant(code, "https://127.0.0.1/other"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_code_is_bound_to_the_app_it_was_issued_to(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.apps.register(RegisteredApp("OtherAppKey", "OtherSecret", SCHWAB_REDIRECT_URI))
    code = await schwab_code(schwab_client)
    other = ("OtherAppKey", "OtherSecret")
    stolen = await schwab_token(schwab_client, _code_grant(code), auth=other)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


async def test_profile_refuses_missing_and_unknown_tokens(schwab_client: httpx.AsyncClient) -> None:
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"}):
        response = await schwab_client.get(PROFILE, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert set(body) == {"message", "errors"}
        assert response.headers["schwab-client-correlid"]


async def test_refresh_token_cannot_be_used_as_access_token(
    schwab_client: httpx.AsyncClient,
) -> None:
    tokens = await schwab_login(schwab_client)
    for other in (tokens["refresh_token"], tokens["id_token"]):
        response = await schwab_client.get(PROFILE, headers=bearer(other))
        assert response.status_code == 401


async def test_access_token_lives_thirty_minutes(
    clock: FakeClock, schwab_client: httpx.AsyncClient
) -> None:
    tokens = await schwab_login(schwab_client)
    clock.advance(minutes=29, seconds=59)
    assert (await schwab_client.get(PROFILE, headers=bearer(tokens["access_token"]))).is_success
    clock.advance(seconds=1)
    expired = await schwab_client.get(PROFILE, headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401


async def test_refresh_token_lives_seven_days_from_consent_not_extended_by_refresh(
    clock: FakeClock, schwab_client: httpx.AsyncClient
) -> None:
    tokens = await schwab_login(schwab_client)
    for _ in range(6):
        clock.advance(days=1)
        refreshed = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
        assert refreshed.status_code == 200
    clock.advance(timedelta(days=1) - timedelta(seconds=1))
    last = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
    assert last.status_code == 200
    clock.advance(seconds=1)
    dead = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
    assert dead.status_code == 400
    assert dead.json() == {"error": "invalid_client", "error_description": "refresh token invalid"}


async def test_rotated_refresh_token_keeps_the_seven_day_anchor(
    clock: FakeClock, schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.settings.rotate_refresh_tokens = True
    tokens = await schwab_login(schwab_client)
    clock.advance(days=3)
    rotated = (await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))).json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    old = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_client"
    clock.advance(days=4)
    dead = await schwab_token(schwab_client, _refresh_grant(rotated["refresh_token"]))
    assert dead.status_code == 400


async def test_revoked_and_expired_tokens_are_refused(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    tokens = await schwab_login(schwab_client)
    assert schwab.tokens.expire(tokens["access_token"]) == 1
    profile = await schwab_client.get(PROFILE, headers=bearer(tokens["access_token"]))
    assert profile.status_code == 401
    assert schwab.tokens.revoke(tokens["refresh_token"]) == 1
    refused = await schwab_token(schwab_client, _refresh_grant(tokens["refresh_token"]))
    assert refused.json()["error"] == "invalid_client"


async def test_refresh_is_refused_for_another_app(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.apps.register(RegisteredApp("OtherAppKey", "OtherSecret", SCHWAB_REDIRECT_URI))
    tokens = await schwab_login(schwab_client)
    response = await schwab_token(
        schwab_client, _refresh_grant(tokens["refresh_token"]), auth=("OtherAppKey", "OtherSecret")
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_secrets_stay_out_of_reprs(schwab: SchwabSandbox) -> None:
    assert SCHWAB_APP_SECRET not in repr(schwab.apps.get(SCHWAB_APP_KEY))
    assert SCHWAB_APP_SECRET not in repr(schwab)
