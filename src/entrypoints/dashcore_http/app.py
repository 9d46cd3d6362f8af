"""The Litestar application factory.

``create_app`` is the HTTP composition step: it builds the dishka container from the settings
(plus any override providers: tests swap adapters this way), wires the controllers, the one
exception table, the body checks and the request-context middleware, and closes the container
when the server shuts down. Nothing is opened at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from dishka import Provider
from dishka.integrations.litestar import LitestarProvider
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

import dashcore
from dashcore.domain.webhooks import WebhookPolicy
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.sessions import RevocationList
from dashcore.ports.tokens import AccessTokenVerifier
from dashcore.ports.vault import Vault
from dashcore_app.background import outbox_delivery
from dashcore_app.logging import configure_logging
from dashcore_app.providers import build_container
from dashcore_app.settings import Settings
from dashcore_http.authentication import (
    AUTHENTICATION_STATE_KEY,
    BEARER,
    BEARER_SCHEME,
    BearerAuthentication,
)
from dashcore_http.caller import TRUSTED_PROXIES_STATE_KEY
from dashcore_http.client_ip import TrustedProxies
from dashcore_http.controllers import (
    AccountsController,
    AdminUsersController,
    AuthController,
    ExportsController,
    HealthController,
    JwksController,
    MfaController,
    OrdersController,
    PasswordChangeController,
    PasswordResetController,
    PortfolioController,
    ProvidersController,
    QuotesController,
    SplitsController,
    SyncsController,
    TradesController,
    TransactionsController,
    WebhooksController,
)
from dashcore_http.controllers.webhooks import WEBHOOK_RATE_LIMITS
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_http.inputs import check_request_body
from dashcore_http.middleware import RequestContextMiddleware
from dashcore_http.openapi_problems import document_problems
from dashcore_http.problems import EXCEPTION_HANDLERS
from dashcore_http.ratelimit import RateLimitMiddleware, default_rate_limit_table
from dashcore_http.sandboxes import sandbox_mount
from dashcore_worker.embedded import api_jobs

__all__ = ["API_PATH", "DOCS_PATH", "create_app"]

API_PATH = "/api/v1"
DOCS_PATH = "/docs"


def _openapi(settings: Settings) -> OpenAPIConfig | None:
    if not settings.api_docs:
        return None
    return OpenAPIConfig(
        title="dashcore",
        version=dashcore.__version__,
        path=DOCS_PATH,
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="The access token that POST /api/v1/auth/login answers with.",
                )
            }
        ),
        render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
    )


def _checked(route_handlers: Sequence[ControllerRouterHandler]) -> Router:
    """Routes added next to dashcore's own, at the paths they declare, behind the body checks.
    (The API router's authentication runs them itself; the liveness probe, the JWKS and the
    docs take no body, and a hook there would build a request object per probe for nothing.)"""
    return Router("/", route_handlers=list(route_handlers), before_request=check_request_body)


def _cors(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
        expose_headers=[
            "X-Request-ID",
            "Retry-After",
            "WWW-Authenticate",
            "RateLimit",
            "RateLimit-Policy",
        ],
        allow_credentials=False,
        max_age=600,
    )


def create_app(
    settings: Settings,
    *overrides: Provider,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    api_route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """The dashcore API for ``settings``.

    ``overrides`` replace providers (tests swap adapters this way); ``route_handlers`` adds
    routes next to dashcore's own, ``api_route_handlers`` adds routes under ``/api/v1``, where
    they get authentication and rate limits like dashcore's own API.

    Start-up resolves the vault and the token keys, so bad or (in production) development
    keys stop the server before it accepts a request, and the webhook policy, so additional
    webhook secrets whose window is already over are logged once, at start. Everything under
    ``/api/v1`` needs an access token unless its handler is marked public. While the app runs,
    the mail outbox is delivered in the background; without Redis the app is also its own job
    worker (jobs run in-process, and the schedules: expired login challenges, refresh ahead of
    expiry, re-login warnings), with Redis ``dashcore worker`` processes are. With broker
    sandboxes on, the simulators are mounted under ``/sandbox/<provider>``.
    """
    configure_logging(settings)
    container = build_container(settings, LitestarProvider(), *overrides)
    proxies = TrustedProxies(settings.trusted_proxies)
    authentication = BearerAuthentication()
    rate_limits = RateLimitMiddleware(
        default_rate_limit_table().with_routes(WEBHOOK_RATE_LIMITS), proxies
    )

    async def verify_keys() -> None:
        await container.get(Vault)
        authentication.bind(
            await container.get(AccessTokenVerifier), await container.get(RevocationList)
        )
        rate_limits.bind(await container.get(RateLimiter), authentication.subject)
        await container.get(WebhookPolicy)

    @asynccontextmanager
    async def background(_: Litestar) -> AsyncIterator[None]:
        async with (
            outbox_delivery(container),
            api_jobs(container, settings),
        ):
            yield

    api = Router(
        API_PATH,
        route_handlers=[
            AuthController,
            PasswordChangeController,
            PasswordResetController,
            MfaController,
            ProvidersController,
            OrdersController,
            AccountsController,
            TransactionsController,
            ExportsController,
            SyncsController,
            AdminUsersController,
            WebhooksController,
            TradesController,
            SplitsController,
            PortfolioController,
            QuotesController,
            *api_route_handlers,
        ],
        before_request=authentication,  # then the body checks, which it runs itself
        security=BEARER,
        middleware=[rate_limits] if settings.rate_limits else [],
    )
    app = Litestar(
        route_handlers=[
            HealthController,
            JwksController,
            api,
            *([sandbox_mount(container)] if settings.broker_sandboxes else []),
            *([_checked(route_handlers)] if route_handlers else []),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        cors_config=_cors(settings),
        openapi_config=_openapi(settings),
        logging_config=None,
        on_startup=[verify_keys],
        on_shutdown=[container.close],
        lifespan=[background],
        state=State(
            {
                CONTAINER_STATE_KEY: container,
                TRUSTED_PROXIES_STATE_KEY: proxies,
                AUTHENTICATION_STATE_KEY: authentication,
            }
        ),
    )
    if settings.api_docs:
        document_problems(app, API_PATH)
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler,
        docs_path=DOCS_PATH if settings.api_docs else None,
        log_requests=settings.log_level in {"DEBUG", "INFO"},
        log_probes=settings.log_level == "DEBUG",
        public_https=settings.public_base_url.startswith("https://"),
    )
    return app
