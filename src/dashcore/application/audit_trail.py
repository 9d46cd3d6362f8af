"""Recording audit events with time and identity taken from ports."""

from __future__ import annotations

from collections.abc import Mapping

from dashcore.domain.audit import AuditEvent, AuditOutcome, MetadataValue, RecordedAuditEvent
from dashcore.domain.context import CallerContext
from dashcore.ports.audit import AuditLog
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator

__all__ = ["AuditTrail"]


class AuditTrail:
    """Appends events to the audit log in the caller's unit of work (it never commits)."""

    def __init__(self, log: AuditLog, clock: Clock, ids: IdGenerator) -> None:
        self._log = log
        self._clock = clock
        self._ids = ids

    async def record(
        self,
        action: str,
        *,
        caller: CallerContext,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        target: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> RecordedAuditEvent:
        event = AuditEvent(
            id=self._ids.new_id(),
            occurred_at=self._clock.now(),
            action=action,
            outcome=outcome,
            actor=caller.actor,
            target=target,
            ip=caller.ip,
            user_agent=caller.user_agent,
            request_id=caller.request_id,
            metadata=dict(metadata or {}),
        )
        return await self._log.append(event)
