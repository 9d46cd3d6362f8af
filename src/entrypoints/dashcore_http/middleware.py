"""The request-context middleware: request id, security headers and the canonical log line.

One pure-ASGI layer, outermost, so that it also covers what Litestar answers itself (404, 405,
413) and failures outside Litestar's exception handling.

Rules:
- An incoming ``X-Request-ID`` is kept when it is a sane token (1-64 of ``[A-Za-z0-9._-]``);
  otherwise a fresh one is made. The id is echoed in the response, set in
  ``dashcore_app.logging.request_id_var`` so that every line logged during the request carries
  it, and quoted in problem bodies.
- Every response carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY``, ``Cache-Control: no-store`` (unless the response set its own) and a
  JSON-only CSP (``default-src 'none'; frame-ancestors 'none'``); the API docs pages get a CSP
  that lets Swagger UI and ReDoc load their scripts, and nothing else does. Requests that came
  over https get ``Strict-Transport-Security``, and so does every request when the deployment's
  public base URL is https (``public_https``): behind a proxy that ends TLS the request reaches
  the app as http, though the browser spoke https (a browser ignores the header over http).
  :func:`served_over_https` tells handlers the same (the state cookie's ``Secure`` flag).
- Each request produces exactly one ``http_request`` line at INFO: method, path (never the query
  string, which may hold secrets; a reset token sent in the path by a client of the old
  ``/api/v1/password-resets/{token}`` routes is logged as ``{token}``), status, duration_ms, client,
  user_agent (request_id from context). Successful health probes (``/health``,
  ``/health/ready``) are the exception: load balancers and orchestrators poll them every few
  seconds, so their lines are DEBUG-only; a failing probe (status >= 400) is logged like any
  request.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Awaitable, Iterator
from time import perf_counter
from typing import Final

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from dashcore_app.logging import request_id_var
from dashcore_http.problems import PROBLEM_MEDIA_TYPE, internal_error_body, shown_path

__all__ = ["RequestContextMiddleware", "request_ids", "served_over_https"]

HTTPS_STATE_KEY: Final = "served_over_https"

# Looked up once: an enum attribute costs a lookup through its class on every request.
_HTTP: Final = ScopeType.HTTP
_SANE_ID: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_API_CSP: Final = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP: Final = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
    b"https://cdn.redoc.ly; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
    b"https://fonts.googleapis.com; font-src https://fonts.gstatic.com; img-src 'self' data: "
    b"https://cdn.jsdelivr.net https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; "
    b"frame-ancestors 'none'"
)
_COMMON: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_HSTS: Final = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# The constant security headers by (documentation page?, came over https?), built once.
_SECURITY: Final = {
    (documentation, https): (
        *_COMMON,
        (b"content-security-policy", _DOCS_CSP if documentation else _API_CSP),
        *((_HSTS,) if https else ()),
    )
    for documentation in (False, True)
    for https in (False, True)
}
_NO_STORE: Final = (b"cache-control", b"no-store")
_PROBE_PATHS: Final = frozenset({"/health", "/health/ready"})

_log = structlog.get_logger("dashcore_http")


def request_ids() -> Iterator[str]:
    """Generated request ids: 32 hex digits, a random 64-bit process prefix then a 64-bit counter.

    Unique across processes and restarts without a system call per request; a request id is a
    correlation handle, not a secret, so it need not be unpredictable. The prefix's top bit is
    set so that every id has the same width. ``next()`` on the iterator runs in C (no Python
    frame per id).
    """
    first = (1 << 63 | int.from_bytes(os.urandom(8))) << 64
    return map("%x".__mod__, itertools.count(first))


class RequestContextMiddleware:
    """Wraps the whole Litestar ASGI handler.

    ``docs_path`` is where the API docs live; ``log_requests`` is false when the log level
    drops INFO lines anyway, so that the canonical line (and its clock reads) cost nothing then;
    ``log_probes`` says whether successful health probes are logged too (DEBUG).

    It runs on every request, where each Python call costs about a thousand instructions next
    to Litestar's ~190k (``bench.instructions``): constant header tuples are built once, the
    user agent is only looked up when a line is written, and the send wrapper is a plain
    function handing back ``send``'s awaitable (no coroutine of its own per message). It sends a
    new start message rather than editing Litestar's, which a response cache may have kept.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        docs_path: str | None,
        log_requests: bool,
        log_probes: bool,
        public_https: bool = False,
    ) -> None:
        self._app = app
        self._public_https = public_https
        self._docs_prefix = docs_path
        self._log_requests = log_requests
        self._log_probes = log_probes
        self._ids = request_ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != _HTTP:
            await self._app(scope, receive, send)
            return
        started = perf_counter() if self._log_requests else 0.0
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _SANE_ID.fullmatch(value):
                request_id = value.decode("ascii")
        if request_id is None:
            request_id = next(self._ids)
        scope["state"]["request_id"] = request_id
        path = scope["path"]
        documentation = self._docs_prefix is not None and path.startswith(self._docs_prefix)
        https = self._public_https or scope["scheme"] == "https"
        scope["state"][HTTPS_STATE_KEY] = https
        own = _SECURITY[documentation, https]
        echoed = (b"x-request-id", request_id.encode("ascii"))
        status = 0

        def send_with_headers(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] != "http.response.start":
                return send(message)
            status = message["status"]
            given = message.get("headers", ())
            headers = [*given, *own, echoed]
            for name, _ in given:
                if name == b"cache-control":
                    break
            else:
                headers.append(_NO_STORE)
            return send({**message, "headers": headers})

        token = request_id_var.set(request_id)
        try:
            await self._app(scope, receive, send_with_headers)
        except Exception as error:
            _log.error("unhandled_exception", exc_info=error)
            if not status:
                await self._internal_error(send_with_headers, shown_path(path), request_id)
            status = status or 500
        finally:
            if self._log_requests and (
                status >= 400 or self._log_probes or path not in _PROBE_PATHS
            ):
                self._log(scope, status, perf_counter() - started)
            request_id_var.reset(token)

    @staticmethod
    def _log(scope: HTTPScope, status: int, seconds: float) -> None:
        """The canonical ``http_request`` line."""
        client = scope.get("client")
        user_agent = next((v for n, v in scope["headers"] if n == b"user-agent"), None)
        _log.info(
            "http_request",
            method=scope["method"],
            path=shown_path(scope["path"]),
            status=status,
            duration_ms=round(seconds * 1000, 3),
            client=client[0] if client else None,
            user_agent=None if user_agent is None else user_agent.decode("latin-1"),
        )

    @staticmethod
    async def _internal_error(send: Send, path: str, request_id: str) -> None:
        body = internal_error_body(path, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def served_over_https(scope: Scope) -> bool:
    """Whether the browser reached this request over https (see the module's rules)."""
    return bool(scope["state"].get(HTTPS_STATE_KEY, scope["scheme"] == "https"))
