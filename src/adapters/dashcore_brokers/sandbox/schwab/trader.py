"""Schwab Trader API routes (``/trader/v1``): the user-preference call, which proves that an
access token works, and the token check and headers every Trader API route shares (accounts,
orders and transactions live in :mod:`.accounts` and :mod:`.orders`).

Every response carries a ``Schwab-Client-CorrelId`` header; a missing, unknown, expired or
revoked access token is answered 401 with the ``{"message", "errors"}`` body.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox._wire import WireError, bearer_token, json_response
from dashcore_brokers.sandbox.tokens import Grant, GrantKind

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.schwab.sandbox import SchwabSandbox

__all__ = ["CORREL_ID", "authorized", "correl_headers", "trader_router"]

CORREL_ID = "Schwab-Client-CorrelId"


def correl_headers() -> dict[str, str]:
    """A fresh ``Schwab-Client-CorrelId``, as on every Trader API response."""
    return {CORREL_ID: str(uuid.uuid4())}


def authorized(request: Request[Any, Any, Any], sandbox: SchwabSandbox) -> Grant:
    """The grant of the request's live access token, or the 401 Schwab answers."""
    token = bearer_token(request)
    grant = sandbox.tokens.active(token, GrantKind.ACCESS) if token else None
    if grant is None:
        message = "Client not authorized"
        body = {"message": message, "errors": ["Access token is missing, invalid or expired"]}
        raise WireError(json_response(401, body, correl_headers()))
    return grant


def trader_router(sandbox: SchwabSandbox) -> Router:
    """The Trader API routes of the Schwab sandbox."""

    @get("/userPreference")
    async def user_preference(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        user = sandbox.user
        body = {
            "accounts": [
                {
                    "accountNumber": "00000001",
                    "primaryAccount": True,
                    "type": "BROKERAGE",
                    "nickName": user.short_name,
                    "displayAcctId": "...0001",
                    "autoPositionEffect": False,
                    "accountColor": "Green",
                }
            ],
            "streamerInfo": [
                {
                    "streamerSocketUrl": "wss://streamer.schwab.sandbox.invalid/ws",
                    "schwabClientCustomerId": user.user_id,
                    "schwabClientCorrelId": str(uuid.uuid4()),
                    "schwabClientChannel": "N9",
                    "schwabClientFunctionId": "APIAPP",
                }
            ],
            "offers": [{"level2Permissions": True, "mktDataPermission": "NP"}],
        }
        return json_response(200, body, correl_headers())

    return Router(path="/trader/v1", route_handlers=[user_preference])
