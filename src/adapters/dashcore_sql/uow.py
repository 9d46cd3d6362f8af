"""The unit of work: one connection and one transaction per request or job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from dashcore.ports.uow import UnitOfWork
from dashcore_sql.engine import first_round_trip
from dashcore_sql.errors import database_errors

__all__ = ["SqlUnitOfWork", "unit_of_work"]


class SqlUnitOfWork(UnitOfWork):
    """One connection with an open transaction, shared by the repositories built on it.

    The connection is taken from the pool at the first statement, not before, and given back
    at every ``commit()`` or ``rollback()``: a request answered without the database (a cache
    hit) never touches the pool, and a use case that ends its transaction before slow work
    (password hashing) holds neither a connection nor a snapshot meanwhile.

    Writes are visible to other units of work only after ``commit()``. After ``commit()`` or
    ``rollback()`` the next statement starts a new transaction. A statement that fails leaves
    the transaction unusable on PostgreSQL: roll back before going on. Every database error
    leaves as a domain error (see ``dashcore_sql.errors``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._transactions = 0

    @property
    def connection(self) -> AsyncConnection:
        """The open connection (a statement must have run already)."""
        assert self._connection is not None, "no statement has run in this unit of work"
        return self._connection

    @property
    def transaction(self) -> int | None:
        """A number that names the open transaction (a new one each time this unit of work
        opens one), ``None`` when none is open: what a repository keys on to do something once
        per transaction, such as taking a lock."""
        return self._transactions if self._connection is not None else None

    @property
    def dialect_name(self) -> str:
        """``postgresql`` or ``sqlite``: repositories pick dialect-specific SQL with it."""
        return self._engine.dialect.name

    async def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> CursorResult[*tuple[Any, ...]]:
        """Run one statement in this unit of work's transaction (rows come back buffered); a
        sequence of parameter sets runs it once per set."""
        if self._connection is None:
            return await self._first(statement, parameters)
        with database_errors():
            return await self._connection.execute(statement, parameters)

    async def _first(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    ) -> CursorResult[*tuple[Any, ...]]:
        """A transaction's first statement, on a connection from the pool (once more on a new
        one if the server had closed it: ``first_round_trip``)."""

        async def begin_with(connection: AsyncConnection) -> CursorResult[*tuple[Any, ...]]:
            await connection.begin()
            return await connection.execute(statement, parameters)

        with database_errors():
            self._connection, result = await first_round_trip(self._engine, begin_with)
        self._transactions += 1
        return result

    async def commit(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                with database_errors():
                    await connection.commit()
            finally:
                await connection.close()

    async def rollback(self) -> None:
        """Roll back what was not committed and give the connection back to the pool."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with database_errors():
            try:
                await connection.rollback()
            finally:
                await connection.close()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[SqlUnitOfWork]:
    """A unit of work on ``engine``; on the way out, roll back whatever was not committed and
    give the connection back. Nothing is ever committed implicitly."""
    uow = SqlUnitOfWork(engine)
    try:
        yield uow
    finally:
        await uow.rollback()
