"""``/sandbox/<provider>``: the broker simulators, mounted for browsers (consent pages) when
``DASHCORE_BROKER_SANDBOXES`` is on. The adapters reach the same simulators in-process.

The simulators' fault controls (``/sandbox/<provider>/__sandbox__/…``) are unauthenticated by
design: the settings refuse sandboxes in production.
"""

from __future__ import annotations

from dishka import AsyncContainer
from litestar import asgi
from litestar.exceptions import NotFoundException
from litestar.handlers.asgi_handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from dashcore_app.brokers import SANDBOX_PATH, BrokerSandboxes

__all__ = ["sandbox_mount"]


class _SandboxDispatch:
    """Routes ``/<provider>/…`` below the mount to that provider's simulator (resolved from the
    container on first use, so it shares the app's clock)."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandboxes = await self._container.get(BrokerSandboxes)
        path = scope["path"]
        key, _, rest = path.lstrip("/").partition("/")
        sandbox = sandboxes.apps.get(key)
        if sandbox is None:
            raise NotFoundException(f"No sandbox {key!r}.")
        inner_path = f"/{rest}"
        inner = {
            **scope,
            "path": inner_path,
            "raw_path": inner_path.encode("utf-8"),
            "root_path": f"{scope.get('root_path', '')}/{key}",
        }
        await sandbox(inner, receive, send)  # type: ignore[arg-type]


def sandbox_mount(container: AsyncContainer) -> ASGIRouteHandler:
    dispatch = _SandboxDispatch(container)
    return asgi(SANDBOX_PATH, is_mount=True, copy_scope=True, opt={"public": True})(dispatch)
