"""Ports of inbound broker webhooks (issue #8; security.md WH-2, WH-3)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from dashcore.domain.webhooks import WebhookEvent

__all__ = ["DUPLICATE_EVENT", "OrderUpdateHints", "WebhookEventRepository"]

DUPLICATE_EVENT = "webhook_events_exists"
"""The ``Conflict`` code of a commit that lost the race to store the same event."""


class WebhookEventRepository(Protocol):
    """The inbox of deliveries, unique per ``(provider, event_id)``."""

    async def record(self, event: WebhookEvent) -> bool:
        """Store ``event`` in the current unit of work: ``True`` if it is new, ``False`` if
        this provider's event with the same ``event_id`` is already stored (nothing written).

        Concurrent deliveries of one event store it once. On PostgreSQL and SQLite the second
        waits for the first one's transaction and then answers ``False``; an adapter that
        cannot see other transactions' uncommitted writes (memory) answers ``True`` to both
        and refuses the later commit with ``Conflict`` (:data:`DUPLICATE_EVENT`)."""
        ...

    async def get(self, provider: str, event_id: str) -> WebhookEvent | None: ...

    async def purge(self, before: datetime, *, limit: int) -> int:
        """Delete at most ``limit`` events received before ``before``, oldest first, in the
        current unit of work; returns how many. Later events, and the dedupe they give, stay."""
        ...


class OrderUpdateHints(Protocol):
    """Where a webhook's news about an order goes: a hint that the order may have changed at
    the broker, to be re-fetched from the broker before anything is believed (WH-2). Called
    after the event is stored and committed. An implementation that cannot act now raises a
    ``DashcoreError`` (``ProviderUnavailable``): the delivery is acknowledged all the same and
    the order-status poll catches up.

    ``client_reference`` is the reference we sent with the order, when the delivery carries it:
    it still finds our order while the broker's order id is not stored with it yet (the answer
    to our placement is on its way, or was lost)."""

    async def order_changed(
        self,
        provider: str,
        broker_order_id: str,
        account_id: str | None,
        client_reference: str | None = None,
    ) -> None: ...
