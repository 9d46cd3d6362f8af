"""Stored lot ledgers in SQL (``LedgerSnapshots``; see the port for the rules).

A snapshot is kept as ``state``: a format byte, then the ``LedgerSnapshot`` as MessagePack
(msgspec). Decimals travel as their text, so every digit and exponent comes back; instants as
MessagePack timestamps, given back in UTC. A state this version cannot read (another format,
damaged bytes) reads as no snapshot: the portfolio builds afresh and stores a new one.

``put`` is one ``INSERT … ON CONFLICT (user_id, method) DO UPDATE … WHERE`` the stored
revision is lower: of two transactions storing one user's ledger, PostgreSQL makes the second
wait for the first and then keeps the higher revision; SQLite serializes writers.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

import msgspec
from sqlalchemy import select

from dashcore.domain.ledger import CostMethod, LedgerSnapshot
from dashcore.ports.clock import Clock
from dashcore.ports.ledgers import LedgerSnapshots, StoredLedger
from dashcore.ports.trades import TradeCursor
from dashcore_sql.tables import ledger_snapshots
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import conflict_insert

__all__ = ["SqlLedgerSnapshots"]

_snapshots = ledger_snapshots.c
_FORMAT: Final = b"\x03"
"""The first byte of every state this version writes; change it when the snapshot changes, or
the ledger's arithmetic (2: quotients at fixed places; 3: a split keeps the position's exact
total), so that no stored ledger resumes with figures the ledger would no longer compute."""
_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(LedgerSnapshot)


def _encode(snapshot: LedgerSnapshot) -> bytes:
    return _FORMAT + _encoder.encode(snapshot)


def _decode(state: bytes) -> LedgerSnapshot | None:
    """The snapshot in ``state``, or ``None`` when it is not one this version wrote."""
    if state[:1] != _FORMAT:
        return None
    try:
        return _decoder.decode(memoryview(state)[1:])
    except msgspec.MsgspecError:
        return None


class SqlLedgerSnapshots(LedgerSnapshots):
    def __init__(self, uow: SqlUnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def get(self, user_id: UUID, method: CostMethod) -> StoredLedger | None:
        query = select(
            _snapshots.revision, _snapshots.through_at, _snapshots.through_id, _snapshots.state
        ).where(_snapshots.user_id == user_id, _snapshots.method == method.value)
        row = (await self._uow.execute(query)).one_or_none()
        if row is None:
            return None
        snapshot = _decode(row.state)
        if snapshot is None or snapshot.method != method.value:
            return None
        through = None if row.through_at is None else TradeCursor(row.through_at, row.through_id)
        return StoredLedger(row.revision, through, snapshot)

    async def put(self, user_id: UUID, method: CostMethod, stored: StoredLedger) -> None:
        through = stored.through
        statement = conflict_insert(self._uow.dialect_name, ledger_snapshots).values(
            user_id=user_id,
            method=method.value,
            revision=stored.revision,
            through_at=None if through is None else through.executed_at,
            through_id=None if through is None else through.trade_id,
            state=_encode(stored.snapshot),
            built_at=self._clock.now(),
        )
        new = statement.excluded
        await self._uow.execute(
            statement.on_conflict_do_update(
                index_elements=[_snapshots.user_id, _snapshots.method],
                set_={
                    name: new[name]
                    for name in ("revision", "through_at", "through_id", "state", "built_at")
                },
                where=_snapshots.revision < new.revision,
            )
        )
