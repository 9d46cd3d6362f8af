"""The unit of work: one connection and one transaction per request or job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from dashcore.ports.uow import UnitOfWork
from dashcore_sql.errors import database_errors

__all__ = ["SqlUnitOfWork", "unit_of_work"]


class SqlUnitOfWork(UnitOfWork):
    """One connection with an open transaction, shared by the repositories built on it.

    Writes are visible to other units of work only after ``commit()``. After ``commit()`` or
    ``rollback()`` the next statement starts a new transaction. A statement that fails leaves
    the transaction unusable on PostgreSQL: roll back before going on. Every database error
    leaves as a domain error (see ``dashcore_sql.errors``).
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @property
    def connection(self) -> AsyncConnection:
        return self._connection

    @property
    def dialect_name(self) -> str:
        """``postgresql`` or ``sqlite``: repositories pick dialect-specific SQL with it."""
        return self._connection.dialect.name

    async def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> CursorResult[Any]:
        """Run one statement in this unit of work's transaction (rows come back buffered); a
        sequence of parameter sets runs it once per set."""
        with database_errors():
            return await self._connection.execute(statement, parameters)

    async def commit(self) -> None:
        with database_errors():
            await self._connection.commit()

    async def rollback(self) -> None:
        with database_errors():
            await self._connection.rollback()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[SqlUnitOfWork]:
    """Open a connection and a transaction; on the way out, roll back whatever was not
    committed and give the connection back. Nothing is ever committed implicitly."""
    connection = engine.connect()
    with database_errors():
        await connection.start()
    try:
        with database_errors():
            await connection.begin()
        yield SqlUnitOfWork(connection)
    finally:
        with database_errors():
            try:
                await connection.rollback()
            finally:
                await connection.close()
