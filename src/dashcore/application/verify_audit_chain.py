"""Verify every audit chain end to end and report the first broken link."""

from __future__ import annotations

from dataclasses import dataclass

from dashcore.domain.audit import ChainBreak, ChainVerifier
from dashcore.domain.errors import AuditChainBroken
from dashcore.ports.audit import AuditLog

__all__ = ["AuditVerification", "VerifyAuditChain"]


@dataclass(frozen=True, slots=True)
class AuditVerification:
    events_checked: int
    chains_checked: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


class VerifyAuditChain:
    """Streams the log through a :class:`ChainVerifier`; stops at the first break.

    Heads are read before the records and again after them, so events appended while the
    verification runs never look like tampering. An event that no longer reads back (the log
    raises ``AuditChainBroken`` naming its chain and seq) is the break it reports.
    """

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def __call__(self) -> AuditVerification:
        heads = await self._log.heads()
        verifier = ChainVerifier(heads)
        first_break = None
        try:
            async for record in self._log.records():
                first_break = verifier.feed(record)
                if first_break:
                    break
            else:
                first_break = verifier.finish(await self._log.heads())
        except AuditChainBroken as unreadable:
            first_break = _unreadable(unreadable)
        return AuditVerification(verifier.events_checked, len(heads), first_break)


def _unreadable(error: AuditChainBroken) -> ChainBreak:
    """A stored event the log cannot read back (a field edited into something that is not a
    value of its kind): a break at that event, like any other tampering."""
    return ChainBreak(
        chain=error.details.get("chain", "?"),
        seq=int(error.details.get("seq", "0")),
        event_id=None,
        reason=error.message,
    )
