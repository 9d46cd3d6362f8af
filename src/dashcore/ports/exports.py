"""Ports of exports (issue #7): the export records, the count that estimates an export's size,
and the store of export files.

The repository and the counter work inside the caller's unit of work. The file store is not
transactional: a file is written whole or not at all, and is named by a key dashcore makes
from the export's id (never from user input).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.aggregation import TransactionFilter
from dashcore.domain.exports import Export

__all__ = ["ExportFileStore", "ExportRepository", "TransactionCounter"]


class ExportRepository(Protocol):
    async def add(self, export: Export) -> None:
        """Insert a new export (``Conflict`` ``exports_exists`` for a taken id)."""
        ...

    async def get(self, export_id: UUID) -> Export | None: ...

    async def lock(self, export_id: UUID) -> Export | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, export: Export) -> None:
        """Rewrite an existing export (``NotFound`` ``export_not_found`` if there is none with
        that id and owner), keeping its stored ``job_id`` when ``export`` has none: the job is
        set once, by whoever queued it, and a worker's copy read before that must not clear
        it."""
        ...

    async def stale(self, before: datetime, *, limit: int) -> Sequence[Export]:
        """Queued or running exports whose heartbeat is older than ``before``, oldest first."""
        ...

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Export]:
        """Finished exports whose ``expires_at`` is at or before ``now``, oldest first."""
        ...

    async def delete(self, export_id: UUID) -> None:
        """Forget an export (nothing happens for an unknown id)."""
        ...


class TransactionCounter(Protocol):
    async def count_transactions(self, user_id: UUID, query: TransactionFilter) -> int:
        """How many of the user's transactions match ``query`` now (what an export of it
        expects to read)."""
        ...


class ExportFileStore(Protocol):
    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store ``chunks`` as the file ``key`` and return its size in bytes. Readers see the
        whole new file or what was there before, never part of it; when ``chunks`` raises,
        nothing is stored and the error propagates. Memory stays bounded by one chunk.

        Raises ``InvalidInput`` for a key the store would not name a file with,
        ``DependencyUnavailable`` when the storage fails (full disk, no permission)."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored file's size in bytes, ``None`` when there is none."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The file in chunks, from the start (``NotFound`` ``export_file_missing`` when it
        is not there, raised at the first chunk)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the file; ``False`` when there was none."""
        ...

    async def discard_partial(self, key: str) -> int:
        """Remove what writes of ``key`` that never ended left behind (their process was
        killed mid-write); how many pieces were removed. The file itself, if any, stays."""
        ...
