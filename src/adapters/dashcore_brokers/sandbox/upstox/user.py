"""Upstox ``/v2/user`` routes (the profile for now) and ``DELETE /v2/logout``.

A call authenticates with ``Authorization: Bearer <access_token>``; a missing, unknown, expired
or revoked token is answered 401 ``UDAPI100050``. The read-only ``extended_token`` is accepted
only where a route allows it, else 401 ``UDAPI100067``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, delete, get

from dashcore_brokers.sandbox._wire import bearer_token
from dashcore_brokers.sandbox.tokens import Grant, GrantKind
from dashcore_brokers.sandbox.upstox.wire import fail, profile_data, success

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.upstox.sandbox import UpstoxSandbox

__all__ = ["authorized", "user_router"]


def authorized(
    request: Request[Any, Any, Any], sandbox: UpstoxSandbox, *, extended_ok: bool = False
) -> tuple[str, Grant]:
    """The bearer token and its grant, or a 401 in Upstox's error body."""
    token = bearer_token(request)
    if token is not None:
        grant = sandbox.tokens.active(token, GrantKind.ACCESS, GrantKind.EXTENDED)
        if grant is not None and grant.kind is GrantKind.EXTENDED and not extended_ok:
            raise fail(401, "UDAPI100067", "This API is not accessible using extended_token")
        if grant is not None:
            return token, grant
    raise fail(401, "UDAPI100050", "Invalid token used to access API")


def user_router(sandbox: UpstoxSandbox) -> Router:
    """The user and logout routes of the Upstox sandbox."""

    @get("/user/profile")
    async def profile(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        return success(profile_data(sandbox.user))

    @delete("/logout", status_code=200)
    async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        token, _ = authorized(request, sandbox)
        sandbox.tokens.revoke(token)
        return success(True)

    return Router(path="/v2", route_handlers=[profile, logout])
