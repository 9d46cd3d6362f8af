"""Inbound broker webhooks in the container: the verification policy from the settings, the
inbox on the configured database, and where order hints go.

Generic signed events are verified with ``DASHCORE_BROKER_WEBHOOK_SECRET`` plus
``DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS`` within ``DASHCORE_WEBHOOK_TOLERANCE_SECONDS``;
Kite postbacks with the Zerodha app's secret (``DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET``).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from dishka import Provider, Scope, provide

from dashcore.application.webhooks import ReceiveWebhook
from dashcore.domain.webhooks import KITE_PROVIDER, WebhookPolicy, WebhookSecrets
from dashcore.ports.webhooks import OrderUpdateHints, WebhookEventRepository
from dashcore_app.settings import Settings
from dashcore_memory.webhooks import MemoryWebhookEventRepository
from dashcore_sql.webhooks import SqlWebhookEventRepository

__all__ = [
    "LoggedOrderUpdateHints",
    "WebhooksProvider",
    "webhook_policy",
    "webhook_providers",
]

_log = structlog.get_logger("dashcore_app")


def webhook_policy(settings: Settings) -> WebhookPolicy:
    secrets = WebhookSecrets(
        None if settings.broker_webhook_secret is None else settings.broker_webhook_secret.encode(),
        tuple(secret.encode() for secret in settings.broker_webhook_additional_secrets),
    )
    kite = settings.provider_options.get(KITE_PROVIDER, {})
    return WebhookPolicy(
        secrets,
        timedelta(seconds=settings.webhook_tolerance_seconds),
        kite_api_secret=kite.get("client_secret"),
    )


class LoggedOrderUpdateHints(OrderUpdateHints):
    """Order hints while no order use case takes them: each is logged
    (``order_update_hint_dropped``) and dropped; the order-status poll catches up."""

    async def order_changed(
        self, provider: str, broker_order_id: str, account_id: str | None
    ) -> None:
        _log.info("order_update_hint_dropped", provider=provider, broker_order_id=broker_order_id)


class WebhooksProvider(Provider):
    scope = Scope.REQUEST

    @provide(scope=Scope.APP)
    def policy(self, settings: Settings) -> WebhookPolicy:
        return webhook_policy(settings)

    hints = provide(LoggedOrderUpdateHints, provides=OrderUpdateHints, scope=Scope.APP)
    receive = provide(ReceiveWebhook)


class _SqlInbox(Provider):
    events = provide(
        SqlWebhookEventRepository, provides=WebhookEventRepository, scope=Scope.REQUEST
    )


class _MemoryInbox(Provider):
    events = provide(
        MemoryWebhookEventRepository, provides=WebhookEventRepository, scope=Scope.REQUEST
    )


def webhook_providers(settings: Settings) -> list[Provider]:
    """The webhook providers, with the inbox on the database the settings choose."""
    inbox = _MemoryInbox() if settings.uses_memory_database else _SqlInbox()
    return [inbox, WebhooksProvider()]
