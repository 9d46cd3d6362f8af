from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from dashcore.domain.audit import AuditEvent, ChainHead, RecordedAuditEvent

__all__ = ["AuditLog"]


class AuditLog(Protocol):
    """Append-only, hash-chained audit trail (see ``dashcore.domain.audit``).

    ``append`` writes inside the current unit of work: the event commits or rolls back together
    with the change it records.
    """

    async def append(self, event: AuditEvent) -> RecordedAuditEvent: ...

    def records(self) -> AsyncIterator[RecordedAuditEvent]:
        """Every recorded event, ordered by (chain, seq), streamed."""
        ...

    async def heads(self) -> dict[str, ChainHead]: ...
