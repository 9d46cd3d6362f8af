"""The mail outbox in SQL (table ``mail_outbox``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, insert, or_, select, update

from dashcore.domain.mail import OutboxEntry, OutboxStatus
from dashcore.ports.mail import Outbox
from dashcore_sql.tables import mail_outbox
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlOutbox"]

_outbox = mail_outbox.c
_OPEN = (OutboxStatus.PENDING.value, OutboxStatus.FAILED.value)


class SqlOutbox(Outbox):
    """Reads and writes in the caller's unit of work.

    ``claim_due`` is one ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING``. On PostgreSQL the
    inner select takes ``FOR UPDATE SKIP LOCKED``, so concurrent claimers each get different
    rows without waiting on one another; SQLite runs every write under one database lock, so
    the statement is atomic there. A ``mark_*`` is conditional on the claim's ``locked_until``
    (a fencing token: each later claim sets a later instant), so a dispatcher whose lease ran
    out cannot overwrite the outcome recorded by the one that took the entry over.
    """

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, entry: OutboxEntry) -> None:
        await self._uow.execute(insert(mail_outbox).values(**_values(entry)))

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta
    ) -> Sequence[OutboxEntry]:
        if limit < 1:
            return []
        if lease <= timedelta(0):
            raise ValueError("a lease must be positive")
        due = (
            select(_outbox.id)
            .where(
                _outbox.status.in_(_OPEN),
                _outbox.next_attempt_at <= now,
                or_(_outbox.locked_until.is_(None), _outbox.locked_until <= now),
            )
            .order_by(_outbox.next_attempt_at, _outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite has no row locks and renders nothing
        )
        statement = (
            update(mail_outbox)
            .where(_outbox.id.in_(due.scalar_subquery()))
            .values(locked_until=now + lease)
            .returning(*mail_outbox.c)
        )
        rows = (await self._uow.execute(statement)).all()
        return sorted((_entry(row) for row in rows), key=lambda e: (e.next_attempt_at, e.id))

    async def mark_sent(self, claimed: OutboxEntry, *, at: datetime) -> bool:
        return await self._settle(claimed, claimed.sent(at))

    async def mark_failed(
        self, claimed: OutboxEntry, *, next_attempt_at: datetime, error: str
    ) -> bool:
        return await self._settle(claimed, claimed.failed(next_attempt_at, error))

    async def mark_dead(self, claimed: OutboxEntry, *, error: str) -> bool:
        return await self._settle(claimed, claimed.dead(error))

    async def mark_expired(self, claimed: OutboxEntry, *, error: str | None = None) -> bool:
        return await self._settle(claimed, claimed.expired(error))

    async def release(self, claimed: OutboxEntry) -> bool:
        statement = update(mail_outbox).where(_under_lease(claimed)).values(locked_until=None)
        return (await self._uow.execute(statement)).rowcount == 1

    async def counts(self) -> dict[OutboxStatus, int]:
        query = select(_outbox.status, func.count().label("entries")).group_by(_outbox.status)
        counts = dict.fromkeys(OutboxStatus, 0)
        for row in await self._uow.execute(query):
            counts[OutboxStatus(row.status)] = row.entries
        return counts

    async def _settle(self, claimed: OutboxEntry, settled: OutboxEntry) -> bool:
        statement = (
            update(mail_outbox)
            .where(_under_lease(claimed))
            .values(
                status=settled.status.value,
                attempts=settled.attempts,  # the lease fences the row: no one else counted
                body=settled.body,
                next_attempt_at=settled.next_attempt_at,
                locked_until=None,
                sent_at=settled.sent_at,
                last_error=settled.last_error,
            )
        )
        return (await self._uow.execute(statement)).rowcount == 1


def _under_lease(claimed: OutboxEntry) -> ColumnElement[bool]:
    if claimed.locked_until is None:
        raise ValueError("only a claimed entry can be marked")
    return and_(
        _outbox.id == claimed.id,
        _outbox.status.in_(_OPEN),
        _outbox.locked_until == claimed.locked_until,
    )


def _values(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "recipient": entry.recipient,
        "subject": entry.subject,
        "template": entry.template,
        "body": entry.body,
        "status": entry.status.value,
        "attempts": entry.attempts,
        "created_at": entry.created_at,
        "next_attempt_at": entry.next_attempt_at,
        "locked_until": entry.locked_until,
        "sent_at": entry.sent_at,
        "last_error": entry.last_error,
        "expires_at": entry.expires_at,
    }


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        recipient=row.recipient,
        subject=row.subject,
        template=row.template,
        body=None if row.body is None else bytes(row.body),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        locked_until=row.locked_until,
        sent_at=row.sent_at,
        last_error=row.last_error,
        expires_at=row.expires_at,
    )
