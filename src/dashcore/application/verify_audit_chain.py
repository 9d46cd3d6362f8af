"""Verify every audit chain end to end and report the first broken link."""

from __future__ import annotations

from dataclasses import dataclass

from dashcore.domain.audit import ChainBreak, ChainVerifier
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
    verification runs never look like tampering.
    """

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def __call__(self) -> AuditVerification:
        heads = await self._log.heads()
        verifier = ChainVerifier(heads)
        first_break = None
        async for record in self._log.records():
            first_break = verifier.feed(record)
            if first_break:
                break
        else:
            first_break = verifier.finish(await self._log.heads())
        return AuditVerification(verifier.events_checked, len(heads), first_break)
