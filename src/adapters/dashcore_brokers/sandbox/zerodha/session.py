"""Kite login and session routes.

Business rules (``reference/brokers.md`` §2.2):
- ``/connect/login?v=3&api_key=…[&redirect_params=…]`` sends the user back to the app's
  registered redirect URL with ``action=login``, ``type=login``, ``status=success`` and a
  ``request_token``, plus the decoded ``redirect_params`` (Kite has no OAuth ``state``); a
  refusal comes back with ``status=cancelled`` and no token;
- a request token is single use and lives 5 minutes;
- ``POST /session/token`` takes ``api_key``, ``request_token`` and
  ``checksum = sha256(api_key + request_token + api_secret)`` (lowercase hex), form-encoded;
- the access token lives until the next 06:00 Asia/Kolkata;
- only approved apps (``refresh_enabled``) get a ``refresh_token``, renewed at
  ``POST /session/refresh_token`` with ``sha256(api_key + refresh_token + api_secret)``;
- ``DELETE /session/token?api_key=…&access_token=…`` (or ``refresh_token=…``) invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from litestar import Request, Response, Router, delete, post, route

from dashcore_brokers.sandbox._wire import single_params, with_query
from dashcore_brokers.sandbox.apps import RegisteredApp
from dashcore_brokers.sandbox.consent import consent_response
from dashcore_brokers.sandbox.lifetimes import KITE_DAILY_RESET, KOLKATA, next_wall_clock
from dashcore_brokers.sandbox.tokens import Grant, GrantKind
from dashcore_brokers.sandbox.zerodha.wire import fail, profile_data, require_version, success

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = ["REFRESH_TOKEN_LIFETIME", "REQUEST_TOKEN_LIFETIME", "kite_checksum", "session_router"]

REQUEST_TOKEN_LIFETIME = timedelta(minutes=5)
REFRESH_TOKEN_LIFETIME = timedelta(days=365)
_STALE_SESSION = "Token is invalid or has expired."


def kite_checksum(api_key: str, token: str, api_secret: str) -> str:
    """Kite's checksum: lowercase hex SHA-256 of the plain concatenation."""
    return hashlib.sha256(f"{api_key}{token}{api_secret}".encode()).hexdigest()


def _app(sandbox: KiteSandbox, api_key: str | None) -> RegisteredApp:
    app = sandbox.apps.get(api_key)
    if app is None:
        raise fail(400, "Invalid `api_key`.", "InputException")
    return app


def _required(fields: dict[str, str], *names: str) -> None:
    for name in names:
        if name not in fields:
            raise fail(400, f"Missing or empty `{name}`.", "InputException")


def _check_checksum(app: RegisteredApp, token: str, checksum: str) -> None:
    expected = kite_checksum(app.client_id, token, app.secret)
    if not hmac.compare_digest(expected, checksum.lower()):
        raise fail(400, "Invalid `checksum`.", "InputException")


def session_router(sandbox: KiteSandbox) -> Router:
    """The login page and session routes of the Kite sandbox."""

    @route("/connect/login", http_method=["GET", "POST"])
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        params = single_params(request.query_params, "v", "api_key", "redirect_params")
        if params.get("v") != "3":
            raise fail(400, "Invalid `v`: Kite Connect version 3 is required.", "InputException")
        app = _app(sandbox, params.get("api_key"))
        echoed = dict(parse_qsl(params.get("redirect_params", "")))

        def approve() -> str:
            now = sandbox.clock.now()
            grant = Grant(
                kind=GrantKind.CODE,
                client_id=app.client_id,
                user_id=sandbox.user.user_id,
                login_id=sandbox.tokens.new_login_id(),
                login_at=now,
                issued_at=now,
                expires_at=now + REQUEST_TOKEN_LIFETIME,
            )
            request_token = sandbox.tokens.mint(grant, nbytes=24)
            answer = {"action": "login", "type": "login", "status": "success"}
            return with_query(
                app.redirect_uri, {**echoed, **answer, "request_token": request_token}
            )

        def deny() -> str:
            answer = {"action": "login", "type": "login", "status": "cancelled"}
            return with_query(app.redirect_uri, {**echoed, **answer})

        return await consent_response(
            request,
            sandbox.settings.consent,
            broker="Zerodha Kite",
            app_name=app.name,
            user_name=sandbox.user.user_name,
            approve=approve,
            deny=deny,
        )

    @post("/session/token", status_code=200)
    async def create_session(request: Request[Any, Any, Any]) -> Response[Any]:
        require_version(request)
        fields = single_params(await request.form(), "api_key", "request_token", "checksum")
        _required(fields, "api_key", "request_token", "checksum")
        app = _app(sandbox, fields["api_key"])
        _check_checksum(app, fields["request_token"], fields["checksum"])
        grant = sandbox.tokens.consume(fields["request_token"], GrantKind.CODE)
        if grant is None or grant.client_id != app.client_id:
            raise fail(403, _STALE_SESSION, "TokenException")
        refresh_token = ""
        if app.refresh_enabled:
            refresh_token = sandbox.tokens.mint(
                _derived(sandbox, grant, GrantKind.REFRESH, grant.login_at + REFRESH_TOKEN_LIFETIME)
            )
        return success(_session_data(sandbox, app, grant, refresh_token))

    @post("/session/refresh_token", status_code=200)
    async def refresh_session(request: Request[Any, Any, Any]) -> Response[Any]:
        require_version(request)
        fields = single_params(await request.form(), "api_key", "refresh_token", "checksum")
        _required(fields, "api_key", "refresh_token", "checksum")
        app = _app(sandbox, fields["api_key"])
        _check_checksum(app, fields["refresh_token"], fields["checksum"])
        presented = fields["refresh_token"]
        grant = sandbox.tokens.active(presented, GrantKind.REFRESH)
        if grant is None or grant.client_id != app.client_id:
            raise fail(403, _STALE_SESSION, "TokenException")
        refresh_token = presented
        if sandbox.settings.rotate_refresh_tokens:
            sandbox.tokens.revoke(presented)
            refresh_token = sandbox.tokens.mint(
                _derived(sandbox, grant, GrantKind.REFRESH, grant.expires_at)
            )
        return success(_session_data(sandbox, app, grant, refresh_token))

    @delete("/session/token", status_code=200)
    async def invalidate(request: Request[Any, Any, Any]) -> Response[Any]:
        require_version(request)
        params = single_params(request.query_params, "api_key", "access_token", "refresh_token")
        app = _app(sandbox, params.get("api_key"))
        if "access_token" in params:
            token, kind = params["access_token"], GrantKind.ACCESS
        elif "refresh_token" in params:
            token, kind = params["refresh_token"], GrantKind.REFRESH
        else:
            raise fail(400, "Missing or empty `access_token`.", "InputException")
        grant = sandbox.tokens.active(token, kind)
        if grant is None or grant.client_id != app.client_id:
            raise fail(403, _STALE_SESSION, "TokenException")
        sandbox.tokens.revoke(token)
        return success(True)

    return Router(path="/", route_handlers=[login, create_session, refresh_session, invalidate])


def _derived(sandbox: KiteSandbox, grant: Grant, kind: GrantKind, expires_at: datetime) -> Grant:
    return Grant(
        kind=kind,
        client_id=grant.client_id,
        user_id=grant.user_id,
        login_id=grant.login_id,
        login_at=grant.login_at,
        issued_at=sandbox.clock.now(),
        expires_at=expires_at,
    )


def _session_data(
    sandbox: KiteSandbox, app: RegisteredApp, grant: Grant, refresh_token: str
) -> dict[str, object]:
    now = sandbox.clock.now()
    expires_at = next_wall_clock(now, KITE_DAILY_RESET)
    access_token = sandbox.tokens.mint(_derived(sandbox, grant, GrantKind.ACCESS, expires_at))
    public_token = sandbox.tokens.mint(
        _derived(sandbox, grant, GrantKind.IDENTITY, expires_at), nbytes=16
    )
    enctoken = sandbox.tokens.mint(_derived(sandbox, grant, GrantKind.IDENTITY, expires_at))
    return {
        **profile_data(sandbox.user),
        "api_key": app.client_id,
        "access_token": access_token,
        "public_token": public_token,
        "enctoken": enctoken,
        "refresh_token": refresh_token,
        "silo": "",
        "login_time": now.astimezone(KOLKATA).strftime("%Y-%m-%d %H:%M:%S"),
    }
