"""Building the async engine for PostgreSQL (asyncpg) or SQLite (aiosqlite).

Rules:
- a dead database must fail fast: connecting gives up after ``CONNECT_TIMEOUT`` seconds;
- a database that stops answering (a paused or partitioned server keeps its sockets open)
  must not hang a request: on PostgreSQL each statement gives up after ``COMMAND_TIMEOUT``
  seconds. Schema migrations are the exception
  (``command_timeout=None``): building an index or rewriting a large table may rightly take
  longer, and an operator runs them in front of a terminal that can interrupt them;
- a pooled connection that the server has closed since its last use (a restart, a failover,
  an idle timeout) costs one retry, not an error, and no ping: :func:`first_round_trip` runs
  the first statement of a transaction and, when that finds the connection closed (nothing
  of the transaction has happened yet), runs it once more on a new connection; the pool then
  replaces every connection older than the failure. A pre-ping before every checkout would
  cost three round trips on asyncpg (``BEGIN``, ``;``, ``ROLLBACK``) for every transaction;
- SQLite's driver connection makes one trip to its thread per statement
  (``dashcore_sql.sqlite_driver``), not aiosqlite's three or four, and a transaction's
  ``BEGIN`` goes in the trip of its first statement;
- SQLite enforces foreign keys, uses write-ahead logging (readers never block the writer) and
  waits up to ``CONNECT_TIMEOUT`` for a competing writer instead of failing at once;
- on SQLite every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front
  (waiting for it as above), so reads are part of the transaction and a transaction that reads
  then writes can never fail because another writer committed in between (a deferred ``BEGIN``
  would, at once, with SQLITE_BUSY). Transactions are short (use cases end theirs before slow
  work such as password hashing), so taking the lock early costs little;
- ``schema`` (PostgreSQL only) puts one schema first on the ``search_path`` of every connection,
  which is how tests and co-hosted deployments stay apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from dashcore_sql.sqlite_driver import OneTripConnection, connect

__all__ = [
    "COMMAND_TIMEOUT",
    "CONNECT_TIMEOUT",
    "create_engine",
    "first_round_trip",
    "normalize_url",
    "sqlite_file",
]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a connection (or, on SQLite, for the write lock) before giving up."""

COMMAND_TIMEOUT = 60.0
"""Seconds one PostgreSQL statement may take before it is cancelled and fails as the database
being unavailable."""

_T = TypeVar("_T")

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def normalize_url(url: str | URL) -> URL:
    """Return ``url`` with its async driver: ``postgresql://`` becomes ``postgresql+asyncpg://``
    and ``sqlite:///`` becomes ``sqlite+aiosqlite:///``. Any other database is refused."""
    parsed = make_url(url)
    drivername = _ASYNC_DRIVERS.get(parsed.drivername)
    if drivername is None:
        raise ValueError(
            f"Unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql+asyncpg:// or sqlite+aiosqlite:///"
        )
    return parsed.set(drivername=drivername)


def create_engine(
    url: str | URL,
    *,
    schema: str | None = None,
    echo: bool = False,
    command_timeout: float | None = COMMAND_TIMEOUT,
) -> AsyncEngine:
    """An engine for ``url`` (see :func:`normalize_url`); creating it opens no connection.
    ``command_timeout`` bounds each PostgreSQL statement (``None``: unbounded, for migrations)."""
    target = normalize_url(url)
    if target.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("A schema can only be chosen on PostgreSQL.")
        return _sqlite_engine(target, echo=echo)
    return _postgres_engine(target, schema=schema, echo=echo, command_timeout=command_timeout)


def _postgres_engine(
    url: URL, *, schema: str | None, echo: bool, command_timeout: float | None
) -> AsyncEngine:
    server_settings = {"application_name": "dashcore"}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"Invalid schema name {schema!r}.")
        server_settings["search_path"] = f'"{schema}"'
    return create_async_engine(
        url,
        echo=echo,
        connect_args={
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": command_timeout,
            "server_settings": server_settings,
        },
    )


async def first_round_trip(
    engine: AsyncEngine, run: Callable[[AsyncConnection], Awaitable[_T]]
) -> tuple[AsyncConnection, _T]:
    """A connection from ``engine``'s pool and what ``run`` (the connection's first round trip
    to the server: a transaction's first statement) gave back on it; the caller closes the
    connection. If the server had closed that connection (``run`` fails on a connection the
    driver finds closed), ``run`` goes once more on a new connection: the server never saw
    anything of it. Any other failure, or a second closed connection, is raised."""
    retried = False
    while True:
        connection = await engine.connect().start()  # failing, it leaves nothing to close
        try:
            return connection, await run(connection)
        except DBAPIError as error:
            await connection.close()
            if retried or not error.connection_invalidated:
                raise
            retried = True
        except BaseException:
            await connection.close()
            raise


def sqlite_file(url: str | URL) -> Path | None:
    """The file an SQLite URL names (``None``: another database, an in-memory one, or a
    ``file:`` URI that SQLite resolves itself)."""
    target = make_url(url)
    database = target.database
    if target.get_backend_name() != "sqlite" or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    path = sqlite_file(url)
    if path is not None:
        _create_private(path)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": CONNECT_TIMEOUT})
    event.listen(engine.sync_engine, "do_connect", _connect_in_one_trip)
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


def _create_private(path: Path) -> None:
    """The database file and its directory, if new, readable by this user alone (0600 in a
    0700 directory): on SQLite, which has no roles, the file's permissions are the only guard
    of the data and its audit trail. SQLite gives its journal files the database's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return


def _connect_in_one_trip(
    dialect: Dialect, _record: ConnectionPoolEntry, arguments: list[Any], options: dict[str, Any]
) -> Any:
    # SQLAlchemy's aiosqlite adapter around the one-trip connection (see sqlite_driver).
    return dialect.loaded_dbapi.connect(*arguments, async_creator_fn=connect, **options)


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The driver must not issue BEGIN on its own: _begin_sqlite_transaction does, for every
    # statement kind (see module docstring).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(CONNECT_TIMEOUT * 1000)}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    # In the trip of the transaction's first statement, just before it (see sqlite_driver).
    driver = connection.connection.driver_connection
    assert isinstance(driver, OneTripConnection)
    driver.begin_with_next_statement("BEGIN IMMEDIATE")
