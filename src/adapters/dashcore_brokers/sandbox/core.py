"""What every broker simulator shares: state, settings, faults, the exchange and the ASGI entry.

A :class:`BrokerSandbox` is itself an ASGI application. It trades on its own exchange engine
(``sandbox.exchange``, :mod:`dashcore_brokers.sandbox.exchange`), seeded with the broker's market
unless one is passed in. It applies armed faults before the
request reaches the broker's routes, serves the control routes under ``/__sandbox__`` and
answers every error in the broker's own error body. It works standalone (behind
``httpx.ASGITransport``) and mounted under a path prefix in another ASGI app: routes and fault
patterns are matched on the path below the mount point.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import HTTPScope, Message, Receive, Scope, Send

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox._wire import WireError, json_response
from dashcore_brokers.sandbox.control import CONTROL_PREFIX, control_router
from dashcore_brokers.sandbox.exchange import Exchange, india_market
from dashcore_brokers.sandbox.exchange.control import exchange_control_router
from dashcore_brokers.sandbox.faults import FaultKind, FaultPlan, FaultRule
from dashcore_brokers.sandbox.settings import ConsentMode, SandboxSettings
from dashcore_brokers.sandbox.tokens import TokenStore

__all__ = ["BrokerSandbox", "Sleep", "reason"]

Sleep = Callable[[float], Awaitable[None]]

_REASONS = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def reason(status: int) -> str:
    """A short human reason for an error status."""
    return _REASONS.get(status, "Request failed")


class BrokerSandbox(ABC):
    """One broker's simulated HTTP API, with its issued credentials, armed faults and exchange.

    ``exchange`` is the engine the broker's account, portfolio, order and quote routes render:
    the one passed in, else the one a subclass set before calling ``__init__`` here, else a
    fresh :meth:`seeded_exchange` on ``clock``. Every broker constructor takes an optional
    ``exchange=``.
    """

    exchange: Exchange

    name: str

    def __init__(
        self,
        clock: Clock,
        *,
        consent: ConsentMode = ConsentMode.APPROVE,
        sleep: Sleep | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.clock = clock
        if exchange is not None:
            self.exchange = exchange
        elif not hasattr(self, "exchange"):
            self.exchange = self.seeded_exchange(clock)
        self.tokens = TokenStore(clock)
        self.faults = FaultPlan()
        self.settings = SandboxSettings(consent=consent)
        self._sleep = sleep or asyncio.sleep

    @cached_property
    def app(self) -> Litestar:
        """The broker's routes, the control routes and the error handlers, built on the first
        request: building a Litestar app is most of what a sandbox costs (tens of
        milliseconds), and a process often holds every broker's sandbox while talking to one."""
        return Litestar(
            route_handlers=[
                *self.routers(),
                control_router(self),
                exchange_control_router(self.exchange),
            ],
            exception_handlers={
                WireError: _wire_error,
                HTTPException: self._http_exception,
            },
            openapi_config=None,
            logging_config=None,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(faults={len(self.faults.rules)}, {self.tokens!r})"

    def seeded_exchange(self, clock: Clock) -> Exchange:
        """The broker's default market: the Indian one (NSE/BSE, INR) unless a broker of another
        market overrides this (Schwab: :func:`~dashcore_brokers.sandbox.exchange.us_market`)."""
        return india_market(clock)

    @abstractmethod
    def routers(self) -> Sequence[Router]:
        """The broker's routers, one per area (auth, user, and later accounts, orders, quotes)."""

    @abstractmethod
    def error_body(self, status: int, message: str, path: str) -> object:
        """The broker's own error body for ``status`` at ``path``."""

    def error_response(
        self, status: int, message: str, path: str, headers: dict[str, str] | None = None
    ) -> Response[Any]:
        """A complete error response in the broker's wire format."""
        return json_response(status, self.error_body(status, message, path), headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = _relative_path(scope)
            if not path.startswith(CONTROL_PREFIX):
                rule = self.faults.take(scope["method"], path)
                if rule is not None and await self._apply(rule, path, scope, receive, send):
                    return
        await self.app(scope, receive, send)

    async def _apply(
        self, rule: FaultRule, path: str, scope: HTTPScope, receive: Receive, send: Send
    ) -> bool:
        """Carry out ``rule``; True when it answered the request itself."""
        if rule.kind is FaultKind.LATENCY:
            await self._sleep(rule.seconds)
            return False
        status = rule.status
        headers: dict[str, str] = {}
        if rule.kind is FaultKind.TIMEOUT_AFTER_ACCEPT:
            await self.app(scope, receive, _withheld)
        if rule.kind in (FaultKind.TIMEOUT, FaultKind.TIMEOUT_AFTER_ACCEPT):
            await self._sleep(rule.seconds)
            status = 504
        elif rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        body = msgspec.json.encode(self.error_body(status, reason(status), path))
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True

    def _http_exception(self, request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status = exc.status_code
        message = exc.detail or reason(status)
        return self.error_response(status, message, request.url.path)


async def _withheld(_: Message) -> None:
    """Swallows a served response that a fault keeps from the client."""


def _wire_error(_: Request[Any, Any, Any], exc: WireError) -> Response[Any]:
    return exc.response


def _relative_path(scope: HTTPScope) -> str:
    """The request path below the mount point, without a trailing slash.

    A Litestar mount strips the prefix from ``path`` (and appends a slash); other hosts keep the
    full path and name the prefix in ``root_path``.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.rstrip("/") or "/"
