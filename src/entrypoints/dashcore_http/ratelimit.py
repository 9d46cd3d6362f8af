"""Per-route rate limits at the HTTP edge (security.md RL-1, LOCK-2).

Which limits apply is data: a :class:`RateLimitTable` maps ``(METHOD, route template)`` to
:class:`RouteLimit` entries (a policy plus what partitions it: the client IP, the signed-in
user, or one global counter); routes not in the table get the table's ``default`` limits, and
routes under an exempt prefix (``/health``, ``/docs``) get none. The app factory passes the
table in; a capability adds its routes with :meth:`RateLimitTable.with_routes`.

Buckets:
- A bucket is ``(policy name, partition)``. Two routes that name the same policy share one
  budget (the default ``api`` policy is one budget per user across all routes); a route with a
  policy of its own has a budget of its own.
- Matching is on the route template Litestar resolved (``scope["path_template"]``), never on
  the raw path: ``/api/v1/auth/login/`` and ``//api/v1/auth/login`` reach the same handler and
  so the same bucket; ``/API/v1/auth/login`` and ``/%2Fapi/...`` match no route and are 404s
  before any handler runs.
- ``ip`` partitions by :func:`~dashcore_http.client_ip.rate_limit_bucket` of the client IP
  (trusted proxies only; IPv6 per /64). ``user`` partitions by ``scope["state"]["user_id"]``
  when authentication set it, else by IP. ``global`` is one counter for everyone.

Signalling (RateLimit header fields, draft-ietf-httpapi-ratelimit-headers-10):
- Every limited response carries ``RateLimit-Policy: "login_ip_minute";q=20;w=60, …`` and
  ``RateLimit: "login_ip_minute";r=19;t=60, …`` for its ``ip`` and ``user`` policies. ``global``
  policies are enforced but never advertised: their counters describe other people's traffic.
- A request is refused if any policy refuses it; every policy that admitted it still counts
  it. The refusal is a 429 ``application/problem+json`` (code ``rate_limited``) with
  ``Retry-After`` = the largest ``t`` among the refusing policies, so a client that honours it
  is not refused again by them.
- A use case's own refusal (the per-account login limit, the login-code send limits) names its
  policy with ``r=0`` in the same fields of its 429, and this middleware adds the edge's
  policies beside it: the budget that ran out is always named.

Install it as Litestar middleware (``middleware=[authentication, rate_limits]`` on the API
router), so that it runs after routing (the template is known), inside the request-context
middleware (request id in problem bodies) and after the middleware that sets
``scope["state"]["user_id"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, cast

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from dashcore.domain.ratelimit import RateDecision, RatePolicy, retry_after
from dashcore.ports.ratelimit import RateLimiter
from dashcore_http.client_ip import TrustedProxies, rate_limit_bucket
from dashcore_http.problems import problem_response
from dashcore_http.ratelimit_fields import rate_limit_field, rate_limit_policy_field

__all__ = [
    "LOGIN_ROUTE",
    "PASSWORD_RESET_ROUTE",
    "REGISTER_ROUTE",
    "VERIFICATION_EMAIL_ROUTE",
    "KeyKind",
    "RateLimitMiddleware",
    "RateLimitTable",
    "RouteLimit",
    "default_rate_limit_table",
]

Route = tuple[str, str]
"""``(METHOD, route template)``, the template as declared: ``/api/v1/orders/{order_id}``."""

LOGIN_ROUTE: Final[Route] = ("POST", "/api/v1/auth/login")
REGISTER_ROUTE: Final[Route] = ("POST", "/api/v1/auth/register")
VERIFICATION_EMAIL_ROUTE: Final[Route] = ("POST", "/api/v1/auth/verification-emails")
PASSWORD_RESET_ROUTE: Final[Route] = ("POST", "/api/v1/password-resets")

_REFUSAL_DETAIL: Final = "Too many requests; retry after the number of seconds in Retry-After."


class KeyKind(StrEnum):
    """What partitions a policy's counters."""

    IP = "ip"
    USER = "user"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class RouteLimit:
    policy: RatePolicy
    key: KeyKind = KeyKind.IP


def _route(method: str, template: str) -> Route:
    if not template.startswith("/"):
        raise ValueError(f"a route template starts with '/': {template!r}")
    return method.upper(), template


@dataclass(frozen=True, slots=True)
class RateLimitTable:
    """Route limits, the default for other routes, and the exempt template prefixes."""

    routes: Mapping[Route, tuple[RouteLimit, ...]] = field(default_factory=dict)
    default: tuple[RouteLimit, ...] = ()
    exempt_prefixes: tuple[str, ...] = ("/health", "/docs")

    def __post_init__(self) -> None:
        routes = {_route(*route): tuple(limits) for route, limits in self.routes.items()}
        object.__setattr__(self, "routes", MappingProxyType(routes))
        object.__setattr__(self, "default", tuple(self.default))

    def with_routes(self, routes: Mapping[Route, Iterable[RouteLimit]]) -> RateLimitTable:
        """A table with ``routes`` added (replacing the limits of a route already present)."""
        merged = {**self.routes, **{_route(*r): tuple(limits) for r, limits in routes.items()}}
        return RateLimitTable(merged, self.default, self.exempt_prefixes)

    def limits_for(self, method: str, template: str) -> tuple[RouteLimit, ...]:
        for prefix in self.exempt_prefixes:
            if template == prefix or template.startswith(f"{prefix}/"):
                return ()
        return self.routes.get((method, template), self.default)


def default_rate_limit_table() -> RateLimitTable:
    """security.md LOCK-2 and RL-1.

    Login: 20/min and 200/h per IP. Registration, verification-email resend and password-reset
    request: 10/h per IP, each route its own budget. Everything else: 100/min per user (per IP
    when anonymous), one budget across routes. The per-account login limit ("login_account",
    canonical email + IP) is the login use case's, not the edge's.
    """
    per_ip = KeyKind.IP
    return RateLimitTable(
        routes={
            LOGIN_ROUTE: (
                RouteLimit(RatePolicy("login_ip_minute", 20, 60, "login attempts per IP"), per_ip),
                RouteLimit(RatePolicy("login_ip_hour", 200, 3600, "login attempts per IP"), per_ip),
            ),
            REGISTER_ROUTE: (
                RouteLimit(RatePolicy("register_ip", 10, 3600, "registrations per IP"), per_ip),
            ),
            VERIFICATION_EMAIL_ROUTE: (
                RouteLimit(
                    RatePolicy("verification_email_ip", 10, 3600, "verification resends per IP"),
                    per_ip,
                ),
            ),
            PASSWORD_RESET_ROUTE: (
                RouteLimit(
                    RatePolicy("password_reset_ip", 10, 3600, "reset requests per IP"), per_ip
                ),
            ),
        },
        default=(RouteLimit(RatePolicy("api", 100, 60, "requests per user"), KeyKind.USER),),
    )


class RateLimitMiddleware(ASGIMiddleware):
    """Applies ``table`` to every routed HTTP request (see the module docstring).

    One instance serves every route it is installed on. The limiter may be given now or bound
    at start-up with :meth:`bind` (it lives in the dependency container, which opens with the
    app), as the authentication middleware binds its ports.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        table: RateLimitTable,
        proxies: TrustedProxies,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._table = table
        self._proxies = proxies
        self._limiter = limiter
        self._subject: Callable[[Scope], object | None] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> RateLimitMiddleware:
        """Litestar deep-copies a router when the app registers it; the copy must stay this
        instance, the one :meth:`bind` reaches."""
        return self

    def bind(
        self, limiter: RateLimiter, subject: Callable[[Scope], object | None] | None = None
    ) -> None:
        """``subject`` names the user of a request (its verified access token's subject) when
        nothing before this middleware put one in ``scope["state"]["user_id"]``."""
        self._limiter = limiter
        self._subject = subject

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http = cast("HTTPScope", scope)  # ``scopes`` admits HTTP only
        limits = self._table.limits_for(http["method"], http["path_template"])
        if not limits:
            await next_app(scope, receive, send)
            return
        decisions = await self._decide(scope, limits)
        advertised = [
            d for d, lim in zip(decisions, limits, strict=True) if lim.key is not KeyKind.GLOBAL
        ]
        headers: dict[str, str] = {}
        if advertised:
            headers["RateLimit-Policy"] = rate_limit_policy_field(advertised)
            headers["RateLimit"] = rate_limit_field(advertised)
        wait = retry_after(decisions)
        if wait is not None:
            headers["Retry-After"] = str(wait)
            await self._refuse(scope, receive, send, headers)
            return
        encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *encoded]
            await send(message)

        await next_app(scope, receive, send_with_headers)

    async def _decide(self, scope: Scope, limits: tuple[RouteLimit, ...]) -> list[RateDecision]:
        limiter = self._limiter
        assert limiter is not None, "bind() runs at start-up"
        partitions: dict[KeyKind, str] = {}
        for kind in {limit.key for limit in limits}:
            partitions[kind] = self._partition(scope, kind)
        hits = [limiter.hit(limit.policy, partitions[limit.key]) for limit in limits]
        if len(hits) == 1:
            return [await hits[0]]
        return list(await asyncio.gather(*hits))

    def _partition(self, scope: Scope, kind: KeyKind) -> str:
        if kind is KeyKind.GLOBAL:
            return "global"
        if kind is KeyKind.USER:
            user_id = scope["state"].get("user_id")
            if user_id is None and self._subject is not None:
                user_id = self._subject(scope)
            if user_id is not None:
                return f"user:{user_id}"
        return f"ip:{rate_limit_bucket(self._proxies.client_ip(scope))}"

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        request: Request[Any, Any, Any] = Request(scope, receive)
        response = problem_response(
            request,
            HTTPStatus.TOO_MANY_REQUESTS,
            "rate_limited",
            _REFUSAL_DETAIL,
            headers=headers,
        )
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)
