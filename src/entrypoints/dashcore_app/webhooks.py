"""Inbound broker webhooks in the container: the verification policy from the settings, the
inbox on the configured database, and where order hints go.

Generic signed events are verified with ``DASHCORE_BROKER_WEBHOOK_SECRET`` plus
``DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS`` (until
``DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL``) within
``DASHCORE_WEBHOOK_TOLERANCE_SECONDS``; Kite postbacks with the Zerodha app's secret
(``DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET``).
An order hint re-reads the order at its broker, or queues the settling of an order still
waiting for its broker id (``FollowOrderHint``), within :data:`HINT_TIMEOUT` (security.md
WH-2); what does not finish by then is left to the reconciler and the poll.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from dishka import Provider, Scope, provide

from dashcore.application.webhooks import ReceiveWebhook
from dashcore.application.webhooks_hints import FollowOrderHint, HintOutcome, SettleHintedOrder
from dashcore.application.webhooks_retention import PurgeWebhookEvents
from dashcore.domain.errors import DashcoreError, ProviderUnavailable
from dashcore.domain.webhooks import KITE_PROVIDER, WebhookPolicy, WebhookSecrets
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.webhooks import OrderUpdateHints, WebhookEventRepository
from dashcore_app.brokers import provider_config
from dashcore_app.settings import Settings
from dashcore_memory.webhooks import MemoryWebhookEventRepository
from dashcore_sql.webhooks import SqlWebhookEventRepository

__all__ = [
    "HINT_TIMEOUT",
    "RefreshOrderOnHint",
    "WebhooksProvider",
    "webhook_policy",
    "webhook_providers",
]

HINT_TIMEOUT = 5.0
"""Seconds a webhook waits for its order to be re-read at the broker (security.md WH-2)."""

_log = structlog.get_logger("dashcore_app")
_HINT_EVENTS = {
    HintOutcome.APPLIED: "order_update_hint_applied",
    HintOutcome.QUEUED: "order_update_hint_queued",
    HintOutcome.UNMATCHED: "order_update_hint_unmatched",
    HintOutcome.THROTTLED: "order_update_hint_throttled",
}


def webhook_policy(settings: Settings) -> WebhookPolicy:
    secrets = WebhookSecrets(
        None if settings.broker_webhook_secret is None else settings.broker_webhook_secret.encode(),
        tuple(secret.encode() for secret in settings.broker_webhook_additional_secrets),
        settings.broker_webhook_additional_secrets_until,
    )
    # The secret the Kite gateway itself uses: the configured one, or the sandbox's own when
    # Kite is sandboxed (found by QA: the sandbox's postbacks could never verify).
    kite = provider_config(settings, KITE_PROVIDER)
    return WebhookPolicy(
        secrets,
        timedelta(seconds=settings.webhook_tolerance_seconds),
        kite_api_secret=(kite.client_secret or None) if kite is not None else None,
        retention=timedelta(days=settings.webhook_retention_days),
    )


class RefreshOrderOnHint(OrderUpdateHints):
    """A hint is followed by :class:`FollowOrderHint`: the order bound to the broker's order id
    is re-read at the broker and what is newer applied (``order_update_hint_applied``; the
    payload is never believed); an order still waiting for that id, found by the client
    reference the hint carries, has its settling queued (``order_update_hint_queued``); a hint
    about no order of ours is logged (``order_update_hint_unmatched``) and dropped, and so is
    an unauthenticated hint about an order re-read moments ago (``order_update_hint_throttled``;
    see ``HINT_REREAD_POLICY``). A broker
    or queue that fails, or takes longer than ``timeout``, is logged
    (``order_update_hint_failed``) and raised as ``ProviderUnavailable``: the event stays
    stored and the reconciler and the poll catch up."""

    def __init__(self, follow: FollowOrderHint, *, timeout: float = HINT_TIMEOUT) -> None:
        self._follow = follow
        self._timeout = timeout

    async def order_changed(
        self,
        provider: str,
        broker_order_id: str,
        account_id: str | None,
        client_reference: str | None = None,
    ) -> None:
        facts = {"provider": provider, "broker_order_id": broker_order_id}
        try:
            async with asyncio.timeout(self._timeout):
                followed = await self._follow(provider, broker_order_id, client_reference)
        except (DashcoreError, TimeoutError) as error:
            reason = error.code if isinstance(error, DashcoreError) else "timeout"
            _log.warning("order_update_hint_failed", reason=reason, **facts)
            raise ProviderUnavailable("The order could not be re-read now.") from error
        known = {} if followed.order_id is None else {"order_id": str(followed.order_id)}
        _log.info(_HINT_EVENTS[followed.outcome], **known, **facts)


class WebhooksProvider(Provider):
    scope = Scope.REQUEST

    @provide(scope=Scope.APP)
    def policy(self, settings: Settings, clock: Clock) -> WebhookPolicy:
        """Built once, at start-up. Additional secrets whose window is already over verify
        nothing: ``webhook_additional_secrets_expired`` (a warning, with the expiry, never a
        secret) tells the operator to remove them."""
        policy = webhook_policy(settings)
        until = policy.secrets.additional_until
        if until is not None and policy.secrets.additional_expired(clock.now()):
            _log.warning("webhook_additional_secrets_expired", until=until.isoformat())
        return policy

    follow_hint = provide(FollowOrderHint)
    settle_hinted_order = provide(SettleHintedOrder)

    @provide
    def hints(self, follow: FollowOrderHint) -> OrderUpdateHints:
        return RefreshOrderOnHint(follow)

    receive = provide(ReceiveWebhook)

    @provide
    def purge(
        self, events: WebhookEventRepository, uow: UnitOfWork, clock: Clock, policy: WebhookPolicy
    ) -> PurgeWebhookEvents:
        return PurgeWebhookEvents(events, uow, clock, policy)


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
