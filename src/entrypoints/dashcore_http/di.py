"""Dependency injection for handlers: dishka's REQUEST scope, opened only where it is used.

``@inject`` resolves the handler's ``FromDishka[...]`` parameters from a REQUEST-scope container
that is opened for the handler call and closed when it returns, so the unit of work is committed
or rolled back *before* the response is sent, and a finalizer's failure becomes a problem
response. Handlers that inject nothing (``GET /health``) pay nothing: unlike dishka's
``setup_dishka``, there is no per-request middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast, get_type_hints

from dishka import AsyncContainer
from dishka import Scope as DIScope
from dishka.integrations.base import wrap_injection
from litestar import Litestar, Request
from litestar.connection import ASGIConnection

__all__ = ["CONTAINER_STATE_KEY", "app_object", "inject"]

CONTAINER_STATE_KEY = "dishka_container"
_APP_OBJECTS_STATE_KEY = "dashcore_app_objects"
P = ParamSpec("P")
T = TypeVar("T")


def _app_container(_: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncContainer:
    app: Litestar = kwargs["request"].app
    container: AsyncContainer = app.state[CONTAINER_STATE_KEY]
    return container


def _context(_: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {Request: kwargs["request"]}


async def app_object(connection: ASGIConnection[Any, Any, Any, Any], kind: type[T]) -> T:
    """A process-wide (APP scope) object, without opening a request scope: for hot read
    paths whose use case needs no unit of work (``GET /auth/me``, plan checks). APP objects
    are singletons, so each is asked of the container once and then kept in the app's state."""
    state = connection.app.state
    known: dict[type[Any], Any] = state.setdefault(_APP_OBJECTS_STATE_KEY, {})
    found = known.get(kind)
    if found is None:
        container: AsyncContainer = state[CONTAINER_STATE_KEY]
        found = known[kind] = await container.get(kind)
    return cast(T, found)


def inject(func: Callable[P, T]) -> Callable[P, T]:
    """Resolve ``FromDishka`` parameters from a REQUEST scope that lives for this call.

    The handler must take ``request``: the container and the request context come from it.
    (A parameter added on the handler's behalf is removed by dishka before the context is
    built, which made such handlers fail on every call; refusing them here fails at import.)
    """
    if "request" not in get_type_hints(func):
        raise TypeError(f"{func.__qualname__} must take `request` to use @inject")
    return wrap_injection(
        func=func,
        is_async=True,
        manage_scope=True,
        scope=DIScope.REQUEST,
        provide_context=_context,
        container_getter=_app_container,
    )
