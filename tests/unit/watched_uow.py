"""A memory unit of work that knows whether a transaction is open, for the tests of the rule
that no transaction is open while a broker or provider answers (on SQLite, every transaction
holds the database's single write lock from its first statement)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from dashcore_memory import MemoryUnitOfWork

__all__ = ["WatchedUnitOfWork"]


class WatchedUnitOfWork(MemoryUnitOfWork):
    """A memory unit of work that knows whether a transaction is open: from its first read or
    write until its commit or rollback, as on SQL (where, on SQLite, it holds the database's
    write lock)."""

    in_transaction = False

    def get(self, table: str, key: Hashable) -> Any | None:
        self.in_transaction = True
        return super().get(table, key)

    def rows(self, table: str) -> Iterator[tuple[Hashable, Any]]:
        self.in_transaction = True
        return super().rows(table)

    def put(self, table: str, key: Hashable, value: Any, **options: Any) -> None:
        self.in_transaction = True
        super().put(table, key, value, **options)

    def delete(self, table: str, key: Hashable) -> None:
        self.in_transaction = True
        super().delete(table, key)

    async def commit(self) -> None:
        try:
            await super().commit()
        finally:
            self.in_transaction = False

    async def rollback(self) -> None:
        await super().rollback()
        self.in_transaction = False
