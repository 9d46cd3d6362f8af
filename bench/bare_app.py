"""The baseline: a one-route Litestar app, served exactly like dashcore.

It exposes the same factory name and the same path as dashcore's liveness route so that the
server command lines differ only in the import target.
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def app_from_env() -> Litestar:
    """Factory, like ``dashcore_http.asgi:app_from_env`` (takes no configuration)."""
    return Litestar(route_handlers=[health])
