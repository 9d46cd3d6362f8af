"""Kite ``/user`` routes: the profile for now (funds and margins join later).

A call authenticates with ``Authorization: token <api_key>:<access_token>``; a missing,
malformed, foreign, expired or revoked token is answered 403 ``TokenException``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.tokens import Grant, GrantKind
from dashcore_brokers.sandbox.zerodha.wire import fail, profile_data, require_version, success

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = ["authorized", "user_router"]


def authorized(request: Request[Any, Any, Any], sandbox: KiteSandbox) -> Grant:
    """The session behind a Kite ``Authorization`` header, or a ``TokenException``."""
    require_version(request)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    api_key, colon, access_token = credentials.partition(":")
    grant = None
    if scheme == "token" and colon and access_token:
        grant = sandbox.tokens.active(access_token, GrantKind.ACCESS)
    if grant is None or not hmac.compare_digest(grant.client_id, api_key):
        raise fail(403, "Incorrect `api_key` or `access_token`.", "TokenException")
    return grant


def user_router(sandbox: KiteSandbox) -> Router:
    """The user routes of the Kite sandbox."""

    @get("/profile")
    async def profile(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        return success(profile_data(sandbox.user))

    return Router(path="/user", route_handlers=[profile])
