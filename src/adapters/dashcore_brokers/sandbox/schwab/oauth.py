"""Schwab's OAuth 2.0 endpoints: ``GET /v1/oauth/authorize`` and ``POST /v1/oauth/token``.

Business rules (``reference/brokers.md`` §1.2):
- the authorization code is single use and lives 30 seconds; the redirect carries ``code``
  (``C0.…@``, the ``@`` URL-encoded as ``%40``), ``session`` and the client's ``state`` if sent;
- the token endpoint authenticates the app with HTTP Basic (app key : secret) and takes a
  form body; the ``redirect_uri`` must equal the one used at authorization;
- an access token lives 30 minutes, a refresh token 7 days from the consent, never extended by a
  refresh; an expired or revoked refresh token is refused with ``invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, post, route

from dashcore_brokers.sandbox._wire import (
    WireError,
    json_response,
    redirect,
    single_params,
    with_query,
)
from dashcore_brokers.sandbox.apps import RegisteredApp
from dashcore_brokers.sandbox.consent import consent_response
from dashcore_brokers.sandbox.lifetimes import (
    SCHWAB_ACCESS_TOKEN_LIFETIME,
    SCHWAB_REFRESH_TOKEN_LIFETIME,
)
from dashcore_brokers.sandbox.tokens import Grant, GrantKind

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.schwab.sandbox import SchwabSandbox

__all__ = ["CODE_LIFETIME", "oauth_router"]

CODE_LIFETIME = timedelta(seconds=30)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> WireError:
    headers = dict(_NO_STORE)
    if error == "invalid_client" and status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return WireError(
        json_response(status, {"error": error, "error_description": description}, headers)
    )


def _basic_client(request: Request[Any, Any, Any], sandbox: SchwabSandbox) -> RegisteredApp:
    """The app authenticated by the ``Authorization: Basic`` header, or a 401 ``invalid_client``."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    failure = _oauth_error(401, "invalid_client", "Client authentication failed")
    if scheme.lower() != "basic":
        raise failure
    try:
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise failure from exc
    app = sandbox.apps.get(client_id)
    if not colon or app is None or not hmac.compare_digest(secret, app.secret):
        raise failure
    return app


def oauth_router(sandbox: SchwabSandbox) -> Router:
    """The login (consent) and token routes of the Schwab sandbox."""

    @route("/authorize", http_method=["GET", "POST"])
    async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
        query = request.query_params
        params = single_params(query, "client_id", "redirect_uri", "response_type", "state")
        app = sandbox.apps.get(params.get("client_id"))
        if app is None:
            raise _oauth_error(400, "invalid_client", "Unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri != app.redirect_uri:
            raise _oauth_error(400, "invalid_request", "redirect_uri does not match the app")
        state = {"state": params["state"]} if "state" in params else {}
        if params.get("response_type", "code") != "code":
            return _redirect_error(redirect_uri, "unsupported_response_type", state)

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
            code = sandbox.tokens.mint(grant, prefix="C0.", suffix="@", nbytes=48)
            return with_query(redirect_uri, {"code": code, "session": str(uuid.uuid4()), **state})

        def deny() -> str:
            return with_query(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The resource owner denied the request",
                    **state,
                },
            )

        return await consent_response(
            request,
            sandbox.settings.consent,
            broker="Charles Schwab",
            app_name=app.name,
            user_name=sandbox.user.user_name,
            approve=approve,
            deny=deny,
        )

    @post("/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        app = _basic_client(request, sandbox)
        form = await request.form()
        fields = single_params(form, "grant_type", "code", "redirect_uri", "refresh_token")
        grant_type = fields.get("grant_type")
        if grant_type == "authorization_code":
            return _exchange_code(sandbox, app, fields)
        if grant_type == "refresh_token":
            return _refresh(sandbox, app, fields)
        if grant_type is None:
            raise _oauth_error(400, "invalid_request", "Missing grant_type")
        raise _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")

    return Router(path="/v1/oauth", route_handlers=[authorize, token])


def _redirect_error(redirect_uri: str, error: str, state: dict[str, str]) -> Response[Any]:
    return redirect(with_query(redirect_uri, {"error": error, **state}))


def _exchange_code(
    sandbox: SchwabSandbox, app: RegisteredApp, fields: dict[str, str]
) -> Response[Any]:
    code = fields.get("code")
    if code is None:
        raise _oauth_error(400, "invalid_request", "Missing code")
    grant = sandbox.tokens.consume(code, GrantKind.CODE)
    if grant is None or grant.client_id != app.client_id:
        raise _oauth_error(400, "invalid_grant", "Authorization code is invalid or expired")
    if fields.get("redirect_uri") != grant.redirect_uri:
        raise _oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization")
    refresh_token = sandbox.tokens.mint(
        _derived(grant, GrantKind.REFRESH, sandbox, grant.login_at + SCHWAB_REFRESH_TOKEN_LIFETIME)
    )
    return _token_response(sandbox, grant, refresh_token)


def _refresh(sandbox: SchwabSandbox, app: RegisteredApp, fields: dict[str, str]) -> Response[Any]:
    presented = fields.get("refresh_token")
    if presented is None:
        raise _oauth_error(400, "invalid_request", "Missing refresh_token")
    grant = sandbox.tokens.active(presented, GrantKind.REFRESH)
    if grant is None or grant.client_id != app.client_id:
        raise _oauth_error(400, "invalid_client", "refresh token invalid")
    refresh_token = presented
    if sandbox.settings.rotate_refresh_tokens:
        sandbox.tokens.revoke(presented)
        refresh_token = sandbox.tokens.mint(
            _derived(grant, GrantKind.REFRESH, sandbox, grant.expires_at)
        )
    return _token_response(sandbox, grant, refresh_token)


def _derived(grant: Grant, kind: GrantKind, sandbox: SchwabSandbox, expires_at: datetime) -> Grant:
    now = sandbox.clock.now()
    return Grant(
        kind=kind,
        client_id=grant.client_id,
        user_id=grant.user_id,
        login_id=grant.login_id,
        login_at=grant.login_at,
        issued_at=now,
        expires_at=expires_at,
    )


def _token_response(sandbox: SchwabSandbox, grant: Grant, refresh_token: str) -> Response[Any]:
    access_expiry = sandbox.clock.now() + SCHWAB_ACCESS_TOKEN_LIFETIME
    access_token = sandbox.tokens.mint(_derived(grant, GrantKind.ACCESS, sandbox, access_expiry))
    id_token = sandbox.tokens.mint(_derived(grant, GrantKind.IDENTITY, sandbox, access_expiry))
    body = {
        "expires_in": int(SCHWAB_ACCESS_TOKEN_LIFETIME.total_seconds()),
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": refresh_token,
        "access_token": access_token,
        "id_token": id_token,
    }
    return json_response(200, body, _NO_STORE)
