"""The webhook inbox in SQL, with explicit row <-> entity mapping.

``record`` is one ``INSERT … ON CONFLICT (provider, event_id) DO NOTHING RETURNING id``: the
unique constraint decides which of two concurrent deliveries of one event stores it. On
PostgreSQL the second insert waits for the first one's transaction, then does nothing if it
committed (or inserts if it rolled back); SQLite runs each transaction under the database's
write lock (``BEGIN IMMEDIATE``), so the second sees the first's row.

``purge`` picks one batch by a range scan of ``received_at``'s index (oldest first, ``LIMIT``;
on PostgreSQL rows another purge holds are skipped, not waited for), then deletes those ids by
primary key. (One ``DELETE … WHERE id IN (SELECT …)`` is planned on PostgreSQL as a hash join
over a sequential scan of the whole table, for every batch.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select

from dashcore.domain.webhooks import VerifiedBy, WebhookEvent
from dashcore.ports.webhooks import WebhookEventRepository
from dashcore_sql.tables import webhook_events
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import ConflictInsert, conflict_insert

__all__ = ["SqlWebhookEventRepository"]

_events = webhook_events.c


class SqlWebhookEventRepository(WebhookEventRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def record(self, event: WebhookEvent) -> bool:
        statement = (
            _insert_unless_known(self._uow.dialect_name)
            .values(
                id=event.id,
                provider=event.provider,
                event_id=event.event_id,
                received_at=event.received_at,
                verified_by=str(event.verified_by),
                kind=event.kind,
                broker_order_id=event.broker_order_id,
                account_id=event.account_id,
                payload_digest=event.payload_digest,
                body=event.body,
                body_size=event.body_size,
            )
            .returning(_events.id)
        )
        return (await self._uow.execute(statement)).one_or_none() is not None

    async def get(self, provider: str, event_id: str) -> WebhookEvent | None:
        query = select(webhook_events).where(
            _events.provider == provider, _events.event_id == event_id
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _event(row)

    async def purge(self, before: datetime, *, limit: int) -> int:
        batch = (
            select(_events.id)
            .where(_events.received_at < before)
            .order_by(_events.received_at)
            .limit(limit)
        )
        if self._uow.dialect_name == "postgresql":
            batch = batch.with_for_update(skip_locked=True)
        doomed = list((await self._uow.execute(batch)).scalars())
        if not doomed:
            return 0
        statement = delete(webhook_events).where(_events.id.in_(doomed))
        return (await self._uow.execute(statement)).rowcount


def _insert_unless_known(dialect_name: str) -> ConflictInsert:
    key = [_events.provider, _events.event_id]
    return conflict_insert(dialect_name, webhook_events).on_conflict_do_nothing(index_elements=key)


def _event(row: Row[Any]) -> WebhookEvent:
    return WebhookEvent(
        id=row.id,
        provider=row.provider,
        event_id=row.event_id,
        received_at=row.received_at,
        verified_by=VerifiedBy.parse(row.verified_by),
        kind=row.kind,
        payload_digest=row.payload_digest,
        body=bytes(row.body),
        body_size=row.body_size,
        broker_order_id=row.broker_order_id,
        account_id=row.account_id,
    )
