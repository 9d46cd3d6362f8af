"""The Litestar application factory.

``create_app`` is the HTTP composition step: it builds the dishka container from the settings
(plus any override providers: tests swap adapters this way), wires the controllers, the one
exception table, the body checks and the request-context middleware, and closes the container
when the server shuts down. Nothing is opened at import time.
"""

from __future__ import annotations

from collections.abc import Sequence

from dishka import Provider
from dishka.integrations.litestar import LitestarProvider
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler

import dashcore
from dashcore.ports.vault import Vault
from dashcore_app.logging import configure_logging
from dashcore_app.providers import build_container
from dashcore_app.settings import Settings
from dashcore_http.controllers import HealthController
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_http.inputs import check_request_body
from dashcore_http.middleware import RequestContextMiddleware
from dashcore_http.problems import EXCEPTION_HANDLERS

__all__ = ["DOCS_PATH", "create_app"]

DOCS_PATH = "/docs"


def _openapi(settings: Settings) -> OpenAPIConfig | None:
    if not settings.api_docs:
        return None
    return OpenAPIConfig(
        title="dashcore",
        version=dashcore.__version__,
        path=DOCS_PATH,
        render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
    )


def _cors(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
        expose_headers=["X-Request-ID", "Retry-After", "WWW-Authenticate"],
        allow_credentials=False,
        max_age=600,
    )


def create_app(
    settings: Settings,
    *overrides: Provider,
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The dashcore API for ``settings``.

    ``overrides`` replace providers (tests swap adapters this way); ``route_handlers`` adds
    routes next to dashcore's own.

    Start-up resolves the vault, so bad or (in production) development keys stop the server
    before it accepts a request.
    """
    configure_logging(settings)
    container = build_container(settings, LitestarProvider(), *overrides)

    async def verify_keys() -> None:
        await container.get(Vault)

    app = Litestar(
        route_handlers=[HealthController, *route_handlers],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_request_body,
        request_max_body_size=settings.max_body_bytes,
        cors_config=_cors(settings),
        openapi_config=_openapi(settings),
        logging_config=None,
        on_startup=[verify_keys],
        on_shutdown=[container.close],
        state=State({CONTAINER_STATE_KEY: container}),
    )
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler,
        docs_path=DOCS_PATH if settings.api_docs else None,
        log_requests=settings.log_level in {"DEBUG", "INFO"},
        log_probes=settings.log_level == "DEBUG",
    )
    return app
