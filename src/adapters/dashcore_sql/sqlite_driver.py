"""SQLite's driver connection: aiosqlite with one trip to its thread per statement.

aiosqlite runs every call on the connection's own thread and hands the result back to the
event loop. Through SQLAlchemy a statement makes three or four such trips (open a cursor,
execute, fetch the rows, close the cursor), and each trip costs a thread wake-up, a loop
wake-up and two hand-overs of the GIL: together more than the statement itself.

:class:`OneTripConnection` is aiosqlite's connection with a cursor that does all of it in
one trip: it opens, executes, reads the rows (up to :data:`PREFETCH_ROWS`) and closes in the
thread, then answers ``description``, ``rowcount`` and the rows it read without going back.
A longer result (a streamed export) keeps its cursor open and reads the rest in further
trips, so memory stays bounded by what the caller asks for. A transaction's ``BEGIN`` rides in
the trip of its first statement, and a rollback with nothing to roll back makes no trip.
Everything else (commit, closing, SQLAlchemy's own calls) is aiosqlite's.

Measured on uvloop, one-row ``SELECT`` through SQLAlchemy: 229 µs a statement with
aiosqlite's cursor, 144 µs with this one; an ``UPDATE``: 158 µs and 122 µs
(``bench/README.md``, order placement).

:func:`connect` takes the arguments SQLAlchemy derives from the URL, as ``aiosqlite.connect``
does; ``dashcore_sql.engine`` plugs it in through the engine's ``do_connect`` event.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from dashcore_sql import sqlite_functions

__all__ = ["PREFETCH_ROWS", "OneTripConnection", "connect"]

PREFETCH_ROWS = 1000
"""Rows a statement reads in its one trip; a longer result reads the rest in later trips."""

_Description = tuple[tuple[str, None, None, None, None, None, None], ...] | None


class OneTripCursor:
    """The cursor SQLAlchemy's aiosqlite dialect drives (``execute``, ``executemany``,
    ``fetchone/many/all``, ``close``, ``description``, ``rowcount``, ``lastrowid``), making
    one trip to the connection's thread per statement."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneTripCursor:
        await self.close()  # what is left of an earlier statement
        await self._connection.on_thread(self._execute, sql, parameters or ())
        return self

    async def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> OneTripCursor:
        await self.close()
        await self._connection.on_thread(self._executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        if not self._rows and self._open is not None:
            return await self._connection.on_thread(self._open.fetchone)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        wanted = self.arraysize if size is None else size
        rows = [self._rows.popleft() for _ in range(min(wanted, len(self._rows)))]
        if len(rows) < wanted and self._open is not None:
            rows.extend(await self._connection.on_thread(self._open.fetchmany, wanted - len(rows)))
        return rows

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        if self._open is not None:
            rows.extend(await self._connection.on_thread(self._open.fetchall))
        return rows

    async def close(self) -> None:
        self._rows.clear()
        if self._open is not None:
            cursor, self._open = self._open, None
            await self._connection.on_thread(cursor.close)

    def _execute(self, sql: str, parameters: Sequence[Any]) -> None:
        """On the connection's thread: the statement, and its first rows."""
        cursor = self._connection.sqlite.cursor()
        try:
            self._connection.begin_if_pending(cursor)
            cursor.execute(sql, parameters)
            self._remember(cursor)
            if cursor.description is not None:
                rows = cursor.fetchmany(PREFETCH_ROWS)
                self._rows.extend(rows)
                if len(rows) == PREFETCH_ROWS:
                    self._open = cursor
        finally:
            if self._open is not cursor:
                cursor.close()

    def _executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> None:
        cursor = self._connection.sqlite.cursor()
        try:
            self._connection.begin_if_pending(cursor)
            cursor.executemany(sql, parameters)
            self._remember(cursor)
        finally:
            cursor.close()

    def _remember(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors make one trip per statement.

    A transaction's ``BEGIN`` (see :meth:`begin_with_next_statement`) needs no trip of its own
    either: it runs in the trip of the transaction's first statement, just before it. Nor does
    a rollback when no statement has run since the last commit or rollback: the pool rolls back
    every connection given back to it, and the unit of work gives its connection back right
    after committing.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._pending_begin: str | None = None
        self._ran_since_end = False  # a statement ran since the last commit or rollback

    def begin_with_next_statement(self, begin: str) -> None:
        """Run ``begin`` (such as ``BEGIN IMMEDIATE``) first in the next statement's trip.

        Until that ``begin`` has succeeded, every statement tries it again first: a ``BEGIN``
        that failed (the write lock still taken when the busy timeout ran out) must not leave
        the statements after it running outside a transaction. A commit or rollback before
        any statement drops it: there is no transaction to end."""
        self._pending_begin = begin

    def begin_if_pending(self, cursor: sqlite3.Cursor) -> None:
        """On the connection's thread, before a statement: the pending ``BEGIN``, if any."""
        if self._pending_begin is not None:
            cursor.execute(self._pending_begin)
            self._pending_begin = None

    async def commit(self) -> None:
        self._pending_begin = None
        await super().commit()
        self._ran_since_end = False

    async def rollback(self) -> None:
        self._pending_begin = None
        if self._ran_since_end:
            await super().rollback()
            self._ran_since_end = False

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # aiosqlite's is awaitable
        # SQLAlchemy awaits ``cursor().__aenter__()``, which both kinds answer.
        return OneTripCursor(self)

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The driver's connection; use it only on the connection's thread."""
        connection: sqlite3.Connection = self._conn
        return connection

    async def on_thread(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """``function(*arguments)`` on the connection's thread (aiosqlite's queue)."""
        self._ran_since_end = True
        return await self._execute(function, *arguments)  # type: ignore[no-untyped-call]


def connect(database: str, **arguments: Any) -> OneTripConnection:
    """What ``aiosqlite.connect(database, **arguments)`` builds, with one-trip cursors and
    dashcore's exact decimal functions (``dashcore_sql.sqlite_functions``). The thread is a
    daemon, as SQLAlchemy makes aiosqlite's, so that a connection left open does not keep the
    process alive."""

    def open_database() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **arguments)
        sqlite_functions.register(connection)
        return connection

    connection = OneTripConnection(open_database, iter_chunk_size=64)
    connection._thread.daemon = True
    return connection
