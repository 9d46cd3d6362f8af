from __future__ import annotations

from collections.abc import AsyncIterator

from dashcore.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    ChainHead,
    RecordedAuditEvent,
    compute_event_hash,
)
from dashcore.ports.audit import AuditLog
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryAuditLog"]

EVENTS = "audit_events"
HEADS = "audit_chain_heads"


class MemoryAuditLog(AuditLog):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def append(self, event: AuditEvent) -> RecordedAuditEvent:
        chain = event.chain
        head: ChainHead | None = self._uow.get(HEADS, chain)
        seq = head.seq + 1 if head else 1
        prev_hash = head.hash if head else GENESIS_HASH
        digest = compute_event_hash(event, chain=chain, seq=seq, prev_hash=prev_hash)
        record = RecordedAuditEvent(event, chain, seq, prev_hash, digest)
        self._uow.put(EVENTS, (chain, seq), record, insert=True)
        self._uow.put(HEADS, chain, ChainHead(chain, seq, digest))
        return record

    async def records(self) -> AsyncIterator[RecordedAuditEvent]:
        for _, record in sorted(self._uow.rows(EVENTS), key=lambda row: row[0]):  # type: ignore[arg-type,return-value]
            yield record

    async def heads(self) -> dict[str, ChainHead]:
        return {str(chain): head for chain, head in self._uow.rows(HEADS)}
