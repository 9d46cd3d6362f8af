from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from dashcore.domain.mail import MailMessage, OutboxEntry, OutboxStatus

__all__ = ["MAIL", "Mailer", "Outbox"]

MAIL = "mail"
"""The ``dependency`` of the ``DependencyUnavailable`` a mailer raises."""


class Mailer(Protocol):
    """Hands one message to a mail service.

    Returns once the service has accepted the message. A service that cannot be reached, times
    out or says "try later" raises ``DependencyUnavailable(dependency="mail")``: the outbox
    retries. A service that refuses this message for good raises ``MailRejected``: the outbox
    stops trying. No library exception leaves an adapter.
    """

    async def send(self, message: MailMessage) -> None: ...


class Outbox(Protocol):
    """The mail outbox, within the current unit of work (nothing here commits).

    Use cases ``add`` entries in the transaction of the change that caused them. Dispatchers
    ``claim_due`` a batch and commit the claim at once, which leases the entries to them; they
    then record each outcome with ``mark_*``, or ``release`` the entries they did not try.
    Claims are safe with several dispatcher processes: a due entry goes to exactly one claimer
    until its lease runs out.
    """

    async def add(self, entry: OutboxEntry) -> None:
        """Store a new pending entry (its body already sealed)."""
        ...

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta
    ) -> Sequence[OutboxEntry]:
        """Lease up to ``limit`` due entries (see ``OutboxEntry.is_due``) until ``now + lease``,
        oldest ``next_attempt_at`` first, and return them as claimed."""
        ...

    async def mark_sent(self, claimed: OutboxEntry, *, at: datetime) -> bool:
        """Record delivery of an entry returned by ``claim_due`` and drop its body.

        Like every ``mark_*``, this changes nothing and returns ``False`` when the entry is no
        longer under that claim's lease (it expired and another dispatcher took the entry, or
        the entry is final)."""
        ...

    async def mark_failed(
        self, claimed: OutboxEntry, *, next_attempt_at: datetime, error: str
    ) -> bool:
        """Record a failed attempt; the entry is due again at ``next_attempt_at``."""
        ...

    async def mark_dead(self, claimed: OutboxEntry, *, error: str) -> bool:
        """Record the last attempt and give the entry up for good; its body is dropped."""
        ...

    async def mark_expired(self, claimed: OutboxEntry, *, error: str | None = None) -> bool:
        """Give the entry up because its link or code runs out before it can be delivered; its
        body is dropped. ``error``, when given, records a failed attempt just made (counted);
        without it the entry was not tried and its attempts stay as they are."""
        ...

    async def release(self, claimed: OutboxEntry) -> bool:
        """Give an entry back untried: its lease ends and it is due again at once, for any
        dispatcher, with its status, attempts, next attempt and last error unchanged. Like
        ``mark_*``, it returns ``False`` and changes nothing when the claim's lease is gone."""
        ...

    async def counts(self) -> dict[OutboxStatus, int]:
        """How many entries are in each status (every status present, zero included)."""
        ...
