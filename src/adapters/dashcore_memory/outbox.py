"""The mail outbox in memory, on a ``MemoryUnitOfWork``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from dashcore.domain.mail import OutboxEntry, OutboxStatus
from dashcore.ports.mail import Outbox
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryOutbox"]

TABLE = "mail_outbox"


class MemoryOutbox(Outbox):
    """A claim is staged in the unit of work's journal and applied on commit; ``commit`` runs
    without awaiting, so with one event loop two claimers cannot both take an entry as long as
    each commits its claim before the other reads (which ``DeliverOutbox`` does)."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, entry: OutboxEntry) -> None:
        self._uow.put(TABLE, entry.id, entry, insert=True)

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta
    ) -> Sequence[OutboxEntry]:
        due = sorted(
            (entry for _, entry in self._uow.rows(TABLE) if entry.is_due(now)),
            key=lambda entry: (entry.next_attempt_at, entry.id),
        )
        claimed = [entry.claimed(now, lease) for entry in due[:limit]]
        for entry in claimed:
            self._uow.put(TABLE, entry.id, entry)
        return claimed

    async def mark_sent(self, claimed: OutboxEntry, *, at: datetime) -> bool:
        return self._settle(claimed, lambda entry: entry.sent(at))

    async def mark_failed(
        self, claimed: OutboxEntry, *, next_attempt_at: datetime, error: str
    ) -> bool:
        return self._settle(claimed, lambda entry: entry.failed(next_attempt_at, error))

    async def mark_dead(self, claimed: OutboxEntry, *, error: str) -> bool:
        return self._settle(claimed, lambda entry: entry.dead(error))

    async def mark_expired(self, claimed: OutboxEntry, *, error: str | None = None) -> bool:
        return self._settle(claimed, lambda entry: entry.expired(error))

    async def release(self, claimed: OutboxEntry) -> bool:
        return self._settle(claimed, lambda entry: replace(entry, locked_until=None))

    async def counts(self) -> dict[OutboxStatus, int]:
        counts = dict.fromkeys(OutboxStatus, 0)
        for _, entry in self._uow.rows(TABLE):
            counts[entry.status] += 1
        return counts

    def _settle(self, claimed: OutboxEntry, change: Callable[[OutboxEntry], OutboxEntry]) -> bool:
        current: OutboxEntry | None = self._uow.get(TABLE, claimed.id)
        if (
            current is None
            or current.status.is_final
            or claimed.locked_until is None
            or current.locked_until != claimed.locked_until
        ):
            return False
        self._uow.put(TABLE, current.id, change(current))
        return True
