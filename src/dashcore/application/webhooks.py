"""Receiving broker webhooks (issue #8; security.md WH-1..4 and the fault table, c.3).

Rules:
- A delivery is verified before anything else is done with it (``WebhookPolicy``): one that
  does not verify is refused (401) and one that cannot be read is refused (400); either way
  the refusal is audited (``webhook_refused``, with the reason) and nothing else is stored.
- A verified delivery is stored and audited (``webhook_received``) in one unit of work that is
  committed before the answer: nothing is acknowledged that is not stored. When the database
  cannot be reached the use case fails with ``DependencyUnavailable`` (503), so the provider
  delivers again later.
- Deliveries are deduplicated by ``(provider, event id)``: a redelivery is audited
  (``webhook_duplicate``), answered as a duplicate, and not passed on a second time.
- Then an event about a broker order is passed on to ``OrderUpdateHints`` as a hint, with the
  client reference we sent when the delivery carries it: the order is to be re-fetched from
  the broker, never taken from the payload. A hint that cannot be
  passed on leaves the event stored and acknowledged (the order-status poll catches up).

Audit events are chained per sending provider (actor ``webhook:<provider>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.connections import parse_provider_key
from dashcore.domain.context import SYSTEM, CallerContext
from dashcore.domain.errors import BadRequest, Conflict, DashcoreError
from dashcore.domain.webhooks import WebhookEvent, WebhookPolicy, WebhookRefused, payload_digest
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.webhooks import OrderUpdateHints, WebhookEventRepository

__all__ = ["ReceiveWebhook", "WebhookReceipt"]


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    """The stored event (as received this time), whether it was a redelivery of one stored
    before, and whether its order hint was passed on."""

    event: WebhookEvent
    duplicate: bool
    hinted: bool = False


class ReceiveWebhook:
    def __init__(
        self,
        policy: WebhookPolicy,
        events: WebhookEventRepository,
        hints: OrderUpdateHints,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._policy = policy
        self._events = events
        self._hints = hints
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def __call__(
        self,
        provider: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        caller: CallerContext = SYSTEM,
    ) -> WebhookReceipt:
        """Verify, store and pass on one delivery to ``/webhooks/<provider>``; ``headers``
        are keyed by lowercase name, ``raw_body`` is the body exactly as received."""
        parse_provider_key(provider)
        caller = caller.with_actor(f"webhook:{provider}")
        now = self._clock.now()
        try:
            delivery = self._policy.verify(provider, headers, raw_body, now)
        except (WebhookRefused, BadRequest) as refusal:
            await self._refused(provider, raw_body, refusal, caller)
            raise
        event = WebhookEvent.received(self._ids.new_id(), provider, delivery, raw_body, now)
        try:
            is_new = await self._store(event, caller)
        except Conflict:
            # Lost a race the adapter only detects at commit (see WebhookEventRepository):
            # the other delivery is committed now, so this one reads as its duplicate.
            await self._uow.rollback()
            is_new = await self._store(event, caller)
        hinted = is_new and await self._pass_on(event, delivery.client_reference)
        return WebhookReceipt(event, duplicate=not is_new, hinted=hinted)

    async def _store(self, event: WebhookEvent, caller: CallerContext) -> bool:
        is_new = await self._events.record(event)
        facts = {"provider": event.provider, "event_id": event.event_id, "kind": event.kind}
        if is_new:
            await self._audit.record(
                "webhook_received",
                caller=caller,
                target=f"webhook_event:{event.id}",
                metadata={
                    **facts,
                    "verified_by": str(event.verified_by),
                    "broker_order_id": event.broker_order_id,
                    "payload_digest": event.payload_digest,
                    "body_size": event.body_size,
                },
            )
        else:
            await self._audit.record("webhook_duplicate", caller=caller, metadata=facts)
        await self._uow.commit()
        return is_new

    async def _refused(
        self, provider: str, raw_body: bytes, refusal: DashcoreError, caller: CallerContext
    ) -> None:
        if isinstance(refusal, WebhookRefused):
            outcome, reason = AuditOutcome.DENIED, refusal.reason
        else:
            outcome, reason = AuditOutcome.FAILURE, refusal.code
        await self._audit.record(
            "webhook_refused",
            caller=caller,
            outcome=outcome,
            metadata={
                "provider": provider,
                "reason": reason,
                "payload_digest": payload_digest(raw_body),
                "body_size": len(raw_body),
            },
        )
        await self._uow.commit()

    async def _pass_on(self, event: WebhookEvent, client_reference: str | None) -> bool:
        if event.broker_order_id is None:
            return False
        try:
            await self._hints.order_changed(
                event.provider, event.broker_order_id, event.account_id, client_reference
            )
        except DashcoreError:
            return False
        return True
