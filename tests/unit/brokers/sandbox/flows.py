"""Client-side steps of each broker's login, written as an adapter would send them."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    KITE_API_KEY,
    KITE_API_SECRET,
    SCHWAB_APP_KEY,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)


def callback_params(response: httpx.Response) -> dict[str, str]:
    """The query parameters of a redirect's Location (each must appear once)."""
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values())
    return {name: values[0] for name, values in query.items()}


async def schwab_code(client: httpx.AsyncClient, state: str = "st-123") -> str:
    response = await client.get(
        "/v1/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": SCHWAB_APP_KEY,
            "redirect_uri": SCHWAB_REDIRECT_URI,
            "scope": "readonly",
            "state": state,
        },
    )
    return callback_params(response)["code"]


async def schwab_token(
    client: httpx.AsyncClient, data: dict[str, str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/oauth/token", data=data, auth=auth or (SCHWAB_APP_KEY, SCHWAB_APP_SECRET)
    )


async def schwab_login(client: httpx.AsyncClient) -> dict[str, str]:
    """A fresh Schwab token response body (access, refresh, id token …)."""
    code = await schwab_code(client)
    response = await schwab_token(
        client,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": SCHWAB_REDIRECT_URI},
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


KITE_HEADERS = {"X-Kite-Version": "3"}


def kite_checksum(token: str, api_key: str = KITE_API_KEY, secret: str = KITE_API_SECRET) -> str:
    return hashlib.sha256((api_key + token + secret).encode()).hexdigest()


async def kite_request_token(client: httpx.AsyncClient, **extra: str) -> str:
    response = await client.get(
        "/connect/login", params={"v": "3", "api_key": KITE_API_KEY, **extra}
    )
    return callback_params(response)["request_token"]


async def kite_login(client: httpx.AsyncClient) -> dict[str, Any]:
    """A fresh Kite session's ``data``."""
    request_token = await kite_request_token(client)
    response = await client.post(
        "/session/token",
        data={
            "api_key": KITE_API_KEY,
            "request_token": request_token,
            "checksum": kite_checksum(request_token),
        },
        headers=KITE_HEADERS,
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def kite_auth(access_token: str, api_key: str = KITE_API_KEY) -> dict[str, str]:
    return {**KITE_HEADERS, "Authorization": f"token {api_key}:{access_token}"}


async def upstox_code(client: httpx.AsyncClient, **extra: str) -> str:
    response = await client.get(
        "/v2/login/authorization/dialog",
        params={
            "response_type": "code",
            "client_id": UPSTOX_CLIENT_ID,
            "redirect_uri": UPSTOX_REDIRECT_URI,
            **extra,
        },
    )
    return callback_params(response)["code"]


def upstox_token_form(code: str, **overrides: str) -> dict[str, str]:
    return {
        "code": code,
        "client_id": UPSTOX_CLIENT_ID,
        "client_secret": UPSTOX_CLIENT_SECRET,
        "redirect_uri": UPSTOX_REDIRECT_URI,
        "grant_type": "authorization_code",
        **overrides,
    }


async def upstox_login(client: httpx.AsyncClient) -> dict[str, Any]:
    code = await upstox_code(client)
    response = await client.post(
        "/v2/login/authorization/token",
        data=upstox_token_form(code),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


GROWW_HEADERS = {"X-API-VERSION": "1.0", "Accept": "application/json"}


async def groww_mint(
    client: httpx.AsyncClient, timestamp: int | str, *, api_key: str = GROWW_API_KEY
) -> httpx.Response:
    checksum = hashlib.sha256(f"{GROWW_API_SECRET}{timestamp}".encode()).hexdigest()
    return await client.post(
        "/v1/token/api/access",
        json={"key_type": "approval", "checksum": checksum, "timestamp": timestamp},
        headers={**bearer(api_key), **GROWW_HEADERS},
    )


@dataclass(frozen=True)
class BrokerCase:
    """How a client reaches one sandbox's profile endpoint, and what its error bodies look like."""

    key: str
    profile_path: str
    login: Callable[[httpx.AsyncClient], Awaitable[dict[str, str]]]
    is_error_body: Callable[[Any], bool]


async def _schwab_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await schwab_login(client))["access_token"])


def _schwab_error(body: Any) -> bool:
    return set(body) == {"message", "errors"} and isinstance(body["errors"], list)


async def _kite_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return kite_auth((await kite_login(client))["access_token"])


def _kite_error(body: Any) -> bool:
    return (
        set(body) == {"status", "message", "data", "error_type"}
        and body["status"] == "error"
        and body["error_type"].endswith("Exception")
    )


async def _upstox_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return {**bearer((await upstox_login(client))["access_token"]), "Api-Version": "2.0"}


def _upstox_error(body: Any) -> bool:
    return (
        body["status"] == "error"
        and len(body["errors"]) == 1
        and set(body["errors"][0]) == {"errorCode", "message", "propertyPath", "invalidValue"}
        and body["errors"][0]["errorCode"].startswith("UDAPI")
    )


async def _groww_headers(client: httpx.AsyncClient) -> dict[str, str]:
    # The fake clock starts at a fixed instant; the checksum timestamp follows it.
    from .conftest import START

    response = await groww_mint(client, int(START.timestamp()))
    assert response.status_code == 200, response.text
    return {**bearer(response.json()["token"]), **GROWW_HEADERS}


def _groww_error(body: Any) -> bool:
    return body["status"] == "FAILURE" and set(body["error"]) >= {"code", "message", "metadata"}


CASES = [
    BrokerCase("schwab", "/trader/v1/userPreference", _schwab_headers, _schwab_error),
    BrokerCase("zerodha", "/user/profile", _kite_headers, _kite_error),
    BrokerCase("upstox", "/v2/user/profile", _upstox_headers, _upstox_error),
    BrokerCase("groww", "/v1/user/detail", _groww_headers, _groww_error),
]
