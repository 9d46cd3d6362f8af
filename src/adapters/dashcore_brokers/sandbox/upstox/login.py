"""Upstox login: ``GET /v2/login/authorization/dialog`` and ``POST /v2/login/authorization/token``.

Business rules (``reference/brokers.md`` §3.2):
- the dialog takes ``response_type=code``, ``client_id`` (the API key), the exact registered
  ``redirect_uri`` and an optional ``state``; a wrong client or redirect is ``UDAPI100068``;
- the redirect carries ``code`` and ``state`` (only if sent); a refusal carries
  ``error=access_denied`` instead of a code;
- the code is single use *even if the exchange fails*, and lives 10 minutes;
- the exchange sends ``code``, ``client_id``, ``client_secret``, ``redirect_uri`` and
  ``grant_type=authorization_code`` form-encoded, and gets a flat (unenveloped) object;
- the access token dies at the next 03:30 Asia/Kolkata; there is no refresh; the read-only
  ``extended_token`` lives one year.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, post, route

from dashcore_brokers.sandbox._wire import json_response, single_params, with_query
from dashcore_brokers.sandbox.consent import consent_response
from dashcore_brokers.sandbox.lifetimes import (
    UPSTOX_DAILY_RESET,
    UPSTOX_EXTENDED_TOKEN_LIFETIME,
    next_wall_clock,
)
from dashcore_brokers.sandbox.tokens import Grant, GrantKind
from dashcore_brokers.sandbox.upstox.wire import fail, profile_data

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.upstox.sandbox import UpstoxSandbox

__all__ = ["CODE_LIFETIME", "login_router"]

CODE_LIFETIME = timedelta(minutes=10)
_TOKEN_FIELDS = ("code", "client_id", "client_secret", "redirect_uri", "grant_type")


def login_router(sandbox: UpstoxSandbox) -> Router:
    """The authorization dialog and token routes of the Upstox sandbox."""

    @route("/dialog", http_method=["GET", "POST"])
    async def dialog(request: Request[Any, Any, Any]) -> Response[Any]:
        params = single_params(
            request.query_params, "response_type", "client_id", "redirect_uri", "state"
        )
        app = sandbox.apps.get(params.get("client_id"))
        redirect_uri = params.get("redirect_uri")
        if app is None or redirect_uri != app.redirect_uri:
            raise fail(
                400,
                "UDAPI100068",
                "Check your 'client_id' and 'redirect_uri'; one or both are incorrect.",
            )
        if params.get("response_type") != "code":
            raise fail(400, "UDAPI100038", "Invalid response_type", "response_type")
        state = {"state": params["state"]} if "state" in params else {}

        def approve() -> str:
            now = sandbox.clock.now()
            grant = Grant(
                kind=GrantKind.CODE,
                client_id=app.client_id,
                user_id=sandbox.user.user_id,
                login_id=sandbox.tokens.new_login_id(),
                login_at=now,
                issued_at=now,
                expires_at=now + CODE_LIFETIME,
                redirect_uri=redirect_uri,
            )
            code = sandbox.tokens.mint(grant, nbytes=6)
            return with_query(redirect_uri, {"code": code, **state})

        def deny() -> str:
            return with_query(redirect_uri, {"error": "access_denied", **state})

        return await consent_response(
            request,
            sandbox.settings.consent,
            broker="Upstox",
            app_name=app.name,
            user_name=sandbox.user.user_name,
            approve=approve,
            deny=deny,
        )

    @post("/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        fields = single_params(await request.form(), *_TOKEN_FIELDS)
        for name in _TOKEN_FIELDS:
            if name not in fields:
                raise fail(400, "UDAPI100036", f"Invalid input: {name} is required", name)
        grant = sandbox.tokens.consume(fields["code"], GrantKind.CODE)
        if fields["grant_type"] != "authorization_code":
            raise fail(400, "UDAPI100038", "Invalid grant_type", "grant_type")
        app = sandbox.apps.get(fields["client_id"])
        if app is None or not hmac.compare_digest(app.secret, fields["client_secret"]):
            raise fail(401, "UDAPI100016", "Invalid Credentials")
        if (
            grant is None
            or grant.client_id != app.client_id
            or grant.redirect_uri != fields["redirect_uri"]
        ):
            raise fail(400, "UDAPI100016", "Invalid Credentials", "code")
        return json_response(200, _token_body(sandbox, grant))

    return Router(path="/v2/login/authorization", route_handlers=[dialog, token])


def _token_body(sandbox: UpstoxSandbox, grant: Grant) -> dict[str, object]:
    now = sandbox.clock.now()

    def mint(kind: GrantKind, expires: datetime) -> str:
        return sandbox.tokens.mint(
            Grant(
                kind=kind,
                client_id=grant.client_id,
                user_id=grant.user_id,
                login_id=grant.login_id,
                login_at=grant.login_at,
                issued_at=now,
                expires_at=expires,
            )
        )

    return {
        **profile_data(sandbox.user),
        "access_token": mint(GrantKind.ACCESS, next_wall_clock(now, UPSTOX_DAILY_RESET)),
        "extended_token": mint(GrantKind.EXTENDED, now + UPSTOX_EXTENDED_TOKEN_LIFETIME),
    }
