"""The audit log in SQL: one hash chain per actor, appended under a lock on the chain's head."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Final
from uuid import UUID

from sqlalchemy import (
    RowMapping,
    String,
    Table,
    bindparam,
    insert,
    select,
    tuple_,
    type_coerce,
    update,
)

from dashcore.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditOutcome,
    ChainHead,
    RecordedAuditEvent,
    canonical_json,
    compute_event_hash,
)
from dashcore.domain.errors import AuditChainBroken, DashcoreError
from dashcore.ports.audit import AuditLog
from dashcore_sql.tables import audit_chain_heads, audit_events
from dashcore_sql.types import stored_instant
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import ConflictInsert, conflict_insert

__all__ = ["ChainHeads", "SqlAuditLog"]

_heads = audit_chain_heads.c
_events = audit_events.c

HEADS_REMEMBERED: Final = 10_000
"""Chains whose head one process remembers (an actor each: about 100 bytes a chain)."""


class ChainHeads:
    """The head each chain had when this process last appended to it, the least recently
    written forgotten first beyond ``capacity``. Only a hint: an append checks it against the
    stored head (see :class:`SqlAuditLog`), so a head another process moved, or that a rolled
    back append left behind, costs the long way and never a fork."""

    def __init__(self, capacity: int = HEADS_REMEMBERED) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._heads: OrderedDict[str, ChainHead] = OrderedDict()

    def get(self, chain: str) -> ChainHead | None:
        return self._heads.get(chain)

    def remember(self, head: ChainHead) -> None:
        self._heads[head.chain] = head
        self._heads.move_to_end(head.chain)
        if len(self._heads) > self._capacity:
            self._heads.popitem(last=False)


class SqlAuditLog(AuditLog):
    """Appends events in the caller's unit of work; they commit or roll back with it.

    Appends to one chain serialize on that chain's head row: a new chain's head is created
    with ``INSERT … ON CONFLICT DO NOTHING``, then locked (``SELECT … FOR UPDATE`` on
    PostgreSQL; on SQLite that first write takes the database's single write lock), so two
    concurrent appends get consecutive positions and never fork the chain. Appends to
    different chains never wait for each other on PostgreSQL.

    The head last written to each chain is remembered (:class:`ChainHeads`, shared by the
    process's logs when one is passed in): the next append to that chain — the next event of
    the request, or the actor's next request — first moves the head only if it is still
    exactly that one (``UPDATE … WHERE seq = :seq AND hash = :hash``, which takes the same row
    lock), and goes the long way only when someone else moved it or the write was rolled back.
    On PostgreSQL that move and the event's insert are one statement (the ``UPDATE`` in a
    ``WITH`` clause, the ``INSERT`` selecting from what it returned, so the event is inserted
    only if the head moved): an append is one round trip to the database.

    ``records()`` reads in pages of ``page_size`` rows in (chain, seq) order, so memory stays
    flat however long the log is.
    """

    def __init__(
        self,
        uow: SqlUnitOfWork,
        *,
        page_size: int = 500,
        heads: ChainHeads | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self._uow = uow
        self._page_size = page_size
        self._heads = ChainHeads() if heads is None else heads

    async def append(self, event: AuditEvent) -> RecordedAuditEvent:
        known = self._heads.get(event.chain)
        record = None if known is None else await self._append_after(event, known)
        if record is None:
            record = await self._append_locked(event)
            await self._uow.execute(_ADD_EVENT, _event_row(record))
        self._heads.remember(ChainHead(record.chain, record.seq, record.hash))
        return record

    async def _append_after(self, event: AuditEvent, known: ChainHead) -> RecordedAuditEvent | None:
        """Append ``event`` after ``known`` if that is still the chain's head, else ``None``
        (nothing written)."""
        record = _next_record(event, known.seq, known.hash)
        head = {**_head_row(record), "read_seq": known.seq, "read_hash": known.hash}
        if self._uow.dialect_name == "postgresql":
            values = {f"event_{name}": value for name, value in _event_row(record).items()}
            appended = await self._uow.execute(_APPEND_AFTER_HEAD, {**head, **values})
            return record if appended.rowcount == 1 else None
        if (await self._uow.execute(_MOVE_HEAD, head)).rowcount != 1:
            return None
        await self._uow.execute(_ADD_EVENT, _event_row(record))
        return record

    async def _append_locked(self, event: AuditEvent) -> RecordedAuditEvent:
        """Lock the chain's head (creating it first), and move it on to ``event``."""
        chain = event.chain
        new_head = _insert_ignoring_duplicates(self._uow.dialect_name, audit_chain_heads)
        await self._uow.execute(new_head.values(chain=chain, seq=0, hash=GENESIS_HASH))
        locked = select(_heads.seq, _heads.hash).where(_heads.chain == chain).with_for_update()
        head = (await self._uow.execute(locked)).one()
        record = _next_record(event, head.seq, head.hash)
        await self._uow.execute(
            update(audit_chain_heads)
            .where(_heads.chain == chain)
            .values(seq=record.seq, hash=record.hash)
        )
        return record

    async def records(self) -> AsyncIterator[RecordedAuditEvent]:
        page = select(*_AS_STORED).order_by(_events.chain, _events.seq).limit(self._page_size)
        query = page
        while True:
            rows = (await self._uow.execute(query)).mappings().all()
            for row in rows:
                yield _recorded(row)
            if len(rows) < self._page_size:
                return
            last = rows[-1]
            query = page.where(tuple_(_events.chain, _events.seq) > (last["chain"], last["seq"]))

    async def heads(self) -> dict[str, ChainHead]:
        rows = await self._uow.execute(select(_heads.chain, _heads.seq, _heads.hash))
        return {row.chain: ChainHead(row.chain, row.seq, row.hash) for row in rows}


_ADD_EVENT = insert(audit_events)
_MOVE_HEAD = (
    update(audit_chain_heads)
    .where(
        _heads.chain == bindparam("head_chain"),
        _heads.seq == bindparam("read_seq"),
        _heads.hash == bindparam("read_hash"),
    )
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
"""Moves a chain's head on only if it is still the one read; built once (compiled cache)."""
_APPEND_AFTER_HEAD = insert(audit_events).from_select(
    [column.name for column in audit_events.c],
    select(
        *(bindparam(f"event_{column.name}", type_=column.type) for column in audit_events.c)
    ).select_from(_MOVE_HEAD.returning(_heads.seq).cte("moved")),
)
"""PostgreSQL: ``_MOVE_HEAD`` and the event's insert in one statement; the event row is
inserted only if the head moved (a data-modifying ``WITH``, which SQLite lacks). The event's
parameters are named ``event_<column>``: named as the columns, they would be taken for the
insert's own column values."""


def _next_record(event: AuditEvent, head_seq: int, head_hash: str) -> RecordedAuditEvent:
    seq = head_seq + 1
    digest = compute_event_hash(event, chain=event.chain, seq=seq, prev_hash=head_hash)
    return RecordedAuditEvent(event, event.chain, seq, head_hash, digest)


def _head_row(record: RecordedAuditEvent) -> dict[str, Any]:
    return {"head_chain": record.chain, "head_seq": record.seq, "head_hash": record.hash}


def _insert_ignoring_duplicates(dialect_name: str, table: Table) -> ConflictInsert:
    key = list(table.primary_key)
    return conflict_insert(dialect_name, table).on_conflict_do_nothing(index_elements=key)


def _event_row(record: RecordedAuditEvent) -> dict[str, Any]:
    event = record.event
    return {
        "id": event.id,
        "chain": record.chain,
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "occurred_at": event.occurred_at,
        "action": event.action,
        "outcome": str(event.outcome),
        "actor": event.actor,
        "target": event.target,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "metadata": canonical_json(event.metadata),
    }


_PARSED: Final = frozenset({"id", "occurred_at"})
_AS_STORED: Final = [
    type_coerce(column, String()).label(column.name) if column.name in _PARSED else column
    for column in audit_events.c
]
"""The columns as the driver gives them: an id or instant edited into text that is not one
must read as a broken link (:func:`_recorded`), not fail inside SQLAlchemy's row processing."""


def _recorded(row: RowMapping) -> RecordedAuditEvent:
    """Rebuild the event exactly as appended; a row that no longer reads back is tampering."""
    try:
        raw_id = row["id"]
        event = AuditEvent(
            id=raw_id if isinstance(raw_id, UUID) else UUID(raw_id),
            occurred_at=stored_instant(row["occurred_at"]),
            action=row["action"],
            outcome=AuditOutcome(row["outcome"]),
            actor=row["actor"],
            target=row["target"],
            ip=row["ip"],
            user_agent=row["user_agent"],
            request_id=row["request_id"],
            metadata=json.loads(row["metadata"]),
        )
    except (ValueError, TypeError, AttributeError, DashcoreError) as exc:
        raise AuditChainBroken(
            "An audit event cannot be read back.",
            details={"chain": str(row["chain"]), "seq": str(row["seq"])},
        ) from exc
    return RecordedAuditEvent(event, row["chain"], row["seq"], row["prev_hash"], row["hash"])
