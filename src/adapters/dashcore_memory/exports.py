"""Exports in memory (the ``memory://`` database and fast tests); answers as the SQL adapter in
``dashcore_sql.exports`` does. ``lock`` takes no lock.

:class:`MemoryExportFileStore` keeps files as bytes in the process: each file is held whole,
so it suits tests and the throw-away ``memory://`` database, never large exports (the
file-system store in ``dashcore_system`` writes in constant memory).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from uuid import UUID

from dashcore.domain.aggregation import StoredTransaction, TransactionFilter
from dashcore.domain.errors import NotFound
from dashcore.domain.exports import Export, check_file_key
from dashcore.ports.exports import ExportFileStore, ExportRepository, TransactionCounter
from dashcore_memory.aggregation import TRANSACTIONS
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryExportFileStore", "MemoryExportRepository", "MemoryTransactionCounter"]

EXPORTS = "exports"
READ_CHUNK = 64 * 1024


class MemoryExportRepository(ExportRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[Export]:
        return [export for _, export in self._uow.rows(EXPORTS)]

    async def add(self, export: Export) -> None:
        self._uow.put(EXPORTS, export.id, export, insert=True)

    async def get(self, export_id: UUID) -> Export | None:
        export: Export | None = self._uow.get(EXPORTS, export_id)
        return export

    async def lock(self, export_id: UUID) -> Export | None:
        return await self.get(export_id)

    async def save(self, export: Export) -> None:
        stored = await self.get(export.id)
        if stored is None or stored.user_id != export.user_id:
            raise NotFound("No such export.", code="export_not_found")
        if export.job_id is None and stored.job_id is not None:
            export = export.with_job(stored.job_id)
        self._uow.put(EXPORTS, export.id, export)

    async def stale(self, before: datetime, *, limit: int) -> Sequence[Export]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        found = [e for e in self._all() if e.is_active and e.heartbeat_at < before]
        return sorted(found, key=lambda e: (e.heartbeat_at, e.id))[:limit]

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Export]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        found = [e for e in self._all() if e.expires_at is not None and e.expires_at <= now]
        return sorted(found, key=lambda e: (e.expires_at, e.id))[:limit]

    async def delete(self, export_id: UUID) -> None:
        self._uow.delete(EXPORTS, export_id)


class MemoryTransactionCounter(TransactionCounter):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def count_transactions(self, user_id: UUID, query: TransactionFilter) -> int:
        rows: list[StoredTransaction] = [row for _, row in self._uow.rows(TRANSACTIONS)]
        return sum(1 for row in rows if row.user_id == user_id and query.matches(row))


class MemoryExportFileStore(ExportFileStore):
    """Files as bytes in this process (see the module docstring)."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_file_key(key)
        parts = [chunk async for chunk in chunks]
        data = b"".join(parts)
        self._files[key] = data
        return len(data)

    async def size(self, key: str) -> int | None:
        data = self._files.get(check_file_key(key))
        return None if data is None else len(data)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        data = self._files.get(check_file_key(key))
        if data is None:
            raise NotFound("No such export file.", code="export_file_missing")
        for start in range(0, len(data), READ_CHUNK):
            yield data[start : start + READ_CHUNK]

    async def delete(self, key: str) -> bool:
        return self._files.pop(check_file_key(key), None) is not None

    async def discard_partial(self, key: str) -> int:
        """Nothing to discard: a write here stores its file whole or not at all."""
        check_file_key(key)
        return 0
