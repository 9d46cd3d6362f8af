"""The webhook inbox in memory (embedded default, fast tests).

Events are keyed by ``(provider, event_id)``. A memory unit of work sees only committed state
plus its own writes, so two open units of work can both record one event; the second to
commit is refused with ``Conflict`` (``webhook_events_exists``), as the port allows.
"""

from __future__ import annotations

from datetime import datetime

from dashcore.domain.webhooks import WebhookEvent
from dashcore.ports.webhooks import WebhookEventRepository
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryWebhookEventRepository"]

EVENTS = "webhook_events"


class MemoryWebhookEventRepository(WebhookEventRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def record(self, event: WebhookEvent) -> bool:
        if await self.get(event.provider, event.event_id) is not None:
            return False
        key = (event.provider, event.event_id)
        self._uow.put(EVENTS, key, event, insert=True, unique=(("id", event.id),))
        return True

    async def get(self, provider: str, event_id: str) -> WebhookEvent | None:
        event: WebhookEvent | None = self._uow.get(EVENTS, (provider, event_id))
        return event

    async def purge(self, before: datetime, *, limit: int) -> int:
        received = sorted(
            (event.received_at, event.id, key)
            for key, event in self._uow.rows(EVENTS)
            if event.received_at < before
        )
        for _, _, key in received[:limit]:
            self._uow.delete(EVENTS, key)
        return min(len(received), limit)
