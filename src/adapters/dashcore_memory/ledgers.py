"""Stored lot ledgers in memory (``LedgerSnapshots``; see the port for the rules).

The stored value is kept as it is (frozen, plain values). A put is guarded: of two open units
of work storing one user's ledger by one method, the second is refused at once, and a commit
is refused if another unit of work stored one there since (``Conflict``
``ledger_snapshot_changed``), so an older ledger never overwrites a newer one.
"""

from __future__ import annotations

from uuid import UUID

from dashcore.domain.ledger import CostMethod
from dashcore.ports.ledgers import LedgerSnapshots, StoredLedger
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryLedgerSnapshots"]

SNAPSHOTS = "ledger_snapshots"


class MemoryLedgerSnapshots(LedgerSnapshots):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID, method: CostMethod) -> StoredLedger | None:
        stored: StoredLedger | None = self._uow.get(SNAPSHOTS, (user_id, method))
        return stored

    async def put(self, user_id: UUID, method: CostMethod, stored: StoredLedger) -> None:
        current = await self.get(user_id, method)
        if current is not None and current.revision >= stored.revision:
            return
        self._uow.put(SNAPSHOTS, (user_id, method), stored, if_unchanged="ledger_snapshot_changed")
