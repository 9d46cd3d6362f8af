"""A tiny transactional key-value store that gives memory repositories real UoW semantics.

Each unit of work keeps a private journal of writes; reads see committed state plus the
journal; ``commit`` checks insert and unique-index conflicts and applies the journal atomically
(it runs without an ``await``, so no other task interleaves). Uncommitted journals vanish.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dashcore.domain.errors import Conflict
from dashcore.ports.uow import UnitOfWork

__all__ = ["MemoryDatabase", "MemoryUnitOfWork"]

_DELETED = object()


@dataclass(slots=True)
class _Write:
    value: Any
    insert: bool
    unique: tuple[tuple[str, Hashable], ...]


@dataclass(slots=True)
class MemoryDatabase:
    """Committed state: ``tables[table][key] = row`` and unique indexes ``(table, index)``."""

    tables: dict[str, dict[Hashable, Any]] = field(default_factory=dict)
    indexes: dict[tuple[str, str], dict[Hashable, Hashable]] = field(default_factory=dict)

    def table(self, name: str) -> dict[Hashable, Any]:
        return self.tables.setdefault(name, {})


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, database: MemoryDatabase) -> None:
        self.database = database
        self._journal: dict[tuple[str, Hashable], _Write] = {}

    # -- repository API ---------------------------------------------------------------
    def get(self, table: str, key: Hashable) -> Any | None:
        write = self._journal.get((table, key))
        if write is not None:
            return None if write.value is _DELETED else write.value
        return self.database.table(table).get(key)

    def rows(self, table: str) -> Iterator[tuple[Hashable, Any]]:
        """Every row of ``table`` as this unit of work sees it (committed + own writes)."""
        merged = dict(self.database.table(table))
        for (name, key), write in self._journal.items():
            if name != table:
                continue
            if write.value is _DELETED:
                merged.pop(key, None)
            else:
                merged[key] = write.value
        yield from merged.items()

    def put(
        self,
        table: str,
        key: Hashable,
        value: Any,
        *,
        insert: bool = False,
        unique: tuple[tuple[str, Hashable], ...] = (),
    ) -> None:
        """Stage a write. ``insert`` fails on commit if the key exists; ``unique`` lists
        ``(index name, value)`` pairs that no other row of the table may hold."""
        if insert and self.get(table, key) is not None:
            raise Conflict(f"{table} {key!r} already exists.", code=f"{table}_exists")
        self._check_unique(table, key, unique)
        previous = self._journal.get((table, key))
        self._journal[(table, key)] = _Write(
            value, insert or bool(previous and previous.insert), unique
        )

    def delete(self, table: str, key: Hashable) -> None:
        self._journal[(table, key)] = _Write(_DELETED, False, ())

    # -- transaction ------------------------------------------------------------------
    async def commit(self) -> None:
        for (table, key), write in self._journal.items():
            if write.insert and key in self.database.table(table):
                self._journal.clear()
                raise Conflict(f"{table} {key!r} already exists.", code=f"{table}_exists")
            try:
                self._check_unique(table, key, write.unique, committed_only=True)
            except Conflict:
                self._journal.clear()
                raise
        for (table, key), write in self._journal.items():
            rows = self.database.table(table)
            self._unindex(table, key)
            if write.value is _DELETED:
                rows.pop(key, None)
            else:
                rows[key] = write.value
                for index, value in write.unique:
                    self.database.indexes.setdefault((table, index), {})[value] = key
        self._journal.clear()

    async def rollback(self) -> None:
        self._journal.clear()

    # -- internals --------------------------------------------------------------------
    def _unindex(self, table: str, key: Hashable) -> None:
        for (name, _), index in self.database.indexes.items():
            if name == table:
                for value in [v for v, k in index.items() if k == key]:
                    del index[value]

    def _check_unique(
        self,
        table: str,
        key: Hashable,
        unique: tuple[tuple[str, Hashable], ...],
        *,
        committed_only: bool = False,
    ) -> None:
        for index, value in unique:
            owner = self.database.indexes.get((table, index), {}).get(value)
            if owner is not None and owner != key:
                # The committed owner keeps the value unless this unit of work deletes it or
                # rewrites it without the value (as a database would once that update ran).
                pending = self._journal.get((table, owner))
                if pending is None or (index, value) in pending.unique:
                    raise Conflict(
                        f"{table}.{index} must be unique.", code=f"{table}_{index}_taken"
                    )
            if committed_only:
                continue
            for (name, other), write in self._journal.items():
                if name == table and other != key and (index, value) in write.unique:
                    raise Conflict(
                        f"{table}.{index} must be unique.", code=f"{table}_{index}_taken"
                    )
