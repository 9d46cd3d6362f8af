"""The audit facts of a request: who (once known), from which address, with which client."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request

from dashcore.domain.context import CallerContext
from dashcore.domain.tokens import AccessClaims
from dashcore_http.client_ip import TrustedProxies

__all__ = ["TRUSTED_PROXIES_STATE_KEY", "caller_of"]

TRUSTED_PROXIES_STATE_KEY: Final = "trusted_proxies"
_MAX_USER_AGENT = 256


def caller_of(request: Request[Any, Any, Any]) -> CallerContext:
    """The caller of ``request``. The address is the peer's unless the peer is a trusted proxy
    (then the nearest untrusted ``X-Forwarded-For`` hop); the user agent is cut to 256 chars."""
    proxies: TrustedProxies = request.app.state[TRUSTED_PROXIES_STATE_KEY]
    address = proxies.client_ip(request.scope)
    claims = request.scope.get("user")
    user_agent = request.headers.get("user-agent")
    return CallerContext(
        actor=f"user:{claims.subject}" if isinstance(claims, AccessClaims) else None,
        ip=None if address is None else str(address),
        user_agent=None if user_agent is None else user_agent[:_MAX_USER_AGENT],
        request_id=request.scope["state"].get("request_id"),
    )
