"""An in-process httpx transport that honours the client's read timeout.

``httpx.ASGITransport`` ignores timeouts: a sandbox told to hang would hang the test. This
transport cancels the in-process request when the client's read timeout elapses and raises
``httpx.ReadTimeout``, exactly what a client sees from a broker that stops answering.
"""

from __future__ import annotations

import asyncio

import httpx

from dashcore_brokers.sandbox.core import BrokerSandbox

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` plus the client's read timeout. ``root_path`` is the path a
    sandbox is mounted under when the same URLs also reach it through a host app."""

    def __init__(self, app: BrokerSandbox, *, root_path: str = "") -> None:
        # httpx types ``app`` with its own ASGI aliases, which Litestar's typed scope does
        # not match structurally; at run time any ASGI callable fits.
        super().__init__(app=app, root_path=root_path)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read") if isinstance(timeouts, dict) else None
        if read_timeout is None:
            return await super().handle_async_request(request)
        try:
            async with asyncio.timeout(read_timeout):
                return await super().handle_async_request(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the sandbox did not answer in time", request=request) from exc
