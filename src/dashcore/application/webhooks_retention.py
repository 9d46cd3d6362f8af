"""Forgetting old webhook deliveries (security.md WH-3: dedupe retention 7 days).

Rules:
- A delivery is kept for the policy's ``retention`` after it was received, then deleted. The
  retention always exceeds the signature tolerance (``WebhookPolicy``), so a replay that the
  timestamp check would still let through always finds its stored row and stays a duplicate.
- Deletion goes in batches of ``batch_size`` rows, each its own committed transaction: a large
  backlog never holds one long transaction or its locks against incoming deliveries.
- The inbox has no unprocessed state to protect: a delivery is passed on right after it is
  stored, and what a hint could not do is left to the order reconciliation and poll, which
  never read the inbox.
"""

from __future__ import annotations

from dashcore.domain.webhooks import WebhookPolicy
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.webhooks import WebhookEventRepository

__all__ = ["PURGE_BATCH", "WEBHOOK_CLEANUP_TASK", "PurgeWebhookEvents"]

WEBHOOK_CLEANUP_TASK = "webhook_cleanup"
PURGE_BATCH = 1000
"""Rows deleted per transaction."""


class PurgeWebhookEvents:
    def __init__(
        self,
        events: WebhookEventRepository,
        uow: UnitOfWork,
        clock: Clock,
        policy: WebhookPolicy,
        *,
        batch_size: int = PURGE_BATCH,
    ) -> None:
        if batch_size < 1:
            raise ValueError("a purge batch holds at least one row")
        self._events = events
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._batch_size = batch_size

    async def __call__(self) -> int:
        """Delete every delivery received before now minus the retention, batch by batch;
        how many went. The cut-off is fixed when the run starts."""
        before = self._policy.purge_before(self._clock.now())
        purged = 0
        while True:
            deleted = await self._events.purge(before, limit=self._batch_size)
            await self._uow.commit()
            purged += deleted
            if deleted < self._batch_size:
                return purged
