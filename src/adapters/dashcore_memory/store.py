"""A tiny transactional key-value store that gives memory repositories real UoW semantics.

Each unit of work keeps a private journal of writes; reads see committed state plus the
journal; ``commit`` checks insert, unique-index and stale-write conflicts and applies the
journal atomically (it runs without an ``await``, so no other task interleaves). Uncommitted
journals vanish.

A write staged with ``if_unchanged`` is an optimistic lock, as a SQL ``UPDATE ... WHERE
version = :read`` is: the key is claimed until this unit of work ends (a second open unit of
work writing it guarded is refused at once), and the commit is refused if another unit of work
committed a different row there since this one first wrote it. Without it the last commit
wins.
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
    exists_code: str
    stale_code: str | None
    base: Any
    """The committed row when this unit of work first wrote the key (``None``: there was none)."""


@dataclass(slots=True)
class MemoryDatabase:
    """Committed state: ``tables[table][key] = row`` and unique indexes ``(table, index)``;
    ``claims`` names the open unit of work holding each key a guarded write is pending on."""

    tables: dict[str, dict[Hashable, Any]] = field(default_factory=dict)
    indexes: dict[tuple[str, str], dict[Hashable, Hashable]] = field(default_factory=dict)
    claims: dict[tuple[str, Hashable], object] = field(default_factory=dict)

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
        exists_code: str | None = None,
        if_unchanged: str | None = None,
    ) -> None:
        """Stage a write. ``insert`` fails (``Conflict`` ``exists_code``, by default
        ``<table>_exists``) now or on commit if the key exists; ``unique`` lists ``(index name,
        value)`` pairs that no other row of the table may hold; ``if_unchanged`` is the
        ``Conflict`` code commit raises if another unit of work committed this key after this
        one first wrote it."""
        exists = exists_code or f"{table}_exists"
        if insert and self.get(table, key) is not None:
            raise Conflict(f"{table} {key!r} already exists.", code=exists)
        self._check_unique(table, key, unique)
        self._stage(table, key, value, insert, unique, exists, if_unchanged)

    def delete(self, table: str, key: Hashable) -> None:
        self._stage(table, key, _DELETED, False, (), f"{table}_exists", None)

    # -- transaction ------------------------------------------------------------------
    async def commit(self) -> None:
        try:
            for (table, key), write in self._journal.items():
                committed = self.database.table(table)
                if write.insert and key in committed:
                    raise Conflict(f"{table} {key!r} already exists.", code=write.exists_code)
                if write.stale_code is not None and committed.get(key) is not write.base:
                    raise self._stale(table, key, write.stale_code)
                self._check_unique(table, key, write.unique, committed_only=True)
            self._apply()
        finally:
            self._end()

    async def rollback(self) -> None:
        self._end()

    # -- internals --------------------------------------------------------------------
    def _apply(self) -> None:
        for (table, key), write in self._journal.items():
            rows = self.database.table(table)
            self._unindex(table, key)
            if write.value is _DELETED:
                rows.pop(key, None)
            else:
                rows[key] = write.value
                for index, value in write.unique:
                    self.database.indexes.setdefault((table, index), {})[value] = key

    def _end(self) -> None:
        """Drop the journal and release this unit of work's claims on guarded keys."""
        for entry, write in self._journal.items():
            if write.stale_code is not None and self.database.claims.get(entry) is self:
                del self.database.claims[entry]
        self._journal.clear()

    @staticmethod
    def _stale(table: str, key: Hashable, code: str) -> Conflict:
        return Conflict(f"{table} {key!r} was changed by another unit of work.", code=code)

    def _stage(
        self,
        table: str,
        key: Hashable,
        value: Any,
        insert: bool,
        unique: tuple[tuple[str, Hashable], ...],
        exists_code: str,
        stale_code: str | None,
    ) -> None:
        """Journal a write; a key written again keeps its first base and stays guarded."""
        previous = self._journal.get((table, key))
        if stale_code is not None:
            self._claim(table, key, stale_code)
        if previous is None:
            base = self.database.table(table).get(key)
        else:
            base = previous.base
            insert = insert or (previous.insert and value is not _DELETED)
            stale_code = stale_code or previous.stale_code
        self._journal[(table, key)] = _Write(
            value, insert, unique, exists_code, stale_code=stale_code, base=base
        )

    def _claim(self, table: str, key: Hashable, stale_code: str) -> None:
        """Take the key for a guarded write, or refuse it at once when another open unit of
        work holds it: of two concurrent guarded writers the first wins, as in a database
        where the second updater of a row fails."""
        holder = self.database.claims.setdefault((table, key), self)
        if holder is not self:
            raise self._stale(table, key, stale_code)

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
