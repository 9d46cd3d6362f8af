"""SQLite's one-trip driver connection (``dashcore_sql.sqlite_driver``) behind the engine the
app builds: results whole and in order at any length, streamed results bounded, row counts,
a failed or abandoned statement leaving the transaction usable, one trip to the connection's
thread per statement, and the transaction's ``BEGIN IMMEDIATE`` riding with its first
statement."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_sql import create_engine
from dashcore_sql.sqlite_driver import PREFETCH_ROWS, OneTripConnection

ROWS = PREFETCH_ROWS * 2 + 7  # more than one trip's worth, not a multiple of it
T = table("t", column("id"))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with made.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        await connection.execute(
            text("INSERT INTO t (id, v) VALUES (:id, :v)"),
            [{"id": number, "v": f"row {number}"} for number in range(ROWS)],
        )
    yield made
    await made.dispose()


async def test_the_engine_runs_on_the_one_trip_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, OneTripConnection)


@pytest.mark.parametrize("limit", [0, 1, PREFETCH_ROWS - 1, PREFETCH_ROWS, PREFETCH_ROWS + 1, ROWS])
async def test_a_result_of_any_length_comes_back_whole_and_in_order(
    engine: AsyncEngine, limit: int
) -> None:
    async with engine.connect() as connection:
        got = await connection.execute(select(T.c.id).order_by(T.c.id).limit(limit))
    assert [row.id for row in got] == list(range(limit))


async def test_one_row_at_a_time_and_in_batches_read_every_row_once(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT id FROM t ORDER BY id"))
        first = result.fetchone()
        batch = result.fetchmany(PREFETCH_ROWS)
        rest = result.fetchall()
    assert first is not None and first.id == 0
    assert [row.id for row in batch] == list(range(1, PREFETCH_ROWS + 1))
    assert [row.id for row in rest] == list(range(PREFETCH_ROWS + 1, ROWS))


async def test_a_streamed_result_comes_in_the_batches_asked_for(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        streamed = await connection.stream(
            select(T.c.id).order_by(T.c.id).execution_options(yield_per=300)
        )
        batches = [[row.id for row in batch] async for batch in streamed.partitions()]
    assert [len(batch) for batch in batches] == [300] * (ROWS // 300) + [ROWS % 300]
    assert [number for batch in batches for number in batch] == list(range(ROWS))


async def test_a_stream_left_early_does_not_stop_the_transaction_committing(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        streamed = await connection.stream(
            select(T.c.id).order_by(T.c.id).execution_options(yield_per=10)
        )
        async for _ in streamed:
            break
        await streamed.close()
        await connection.execute(text("DELETE FROM t WHERE id = 0"))
        await connection.commit()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == ROWS - 1


async def test_writes_report_the_rows_they_changed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        updated = await connection.execute(text("UPDATE t SET v = 'x' WHERE id < 10"))
        missed = await connection.execute(text("UPDATE t SET v = 'x' WHERE id < 0"))
        inserted = await connection.execute(
            text("INSERT INTO t (v) VALUES (:v) RETURNING id"), {"v": "new"}
        )
    assert (updated.rowcount, missed.rowcount) == (10, 0)
    assert inserted.scalar_one() == ROWS


async def test_a_failed_statement_leaves_the_transaction_usable(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO t (id, v) VALUES (1, 'again')"))
        await connection.execute(text("UPDATE t SET v = 'kept' WHERE id = 2"))
        await connection.commit()
        assert (await connection.execute(text("SELECT v FROM t WHERE id = 2"))).scalar() == "kept"


async def test_a_transaction_makes_one_trip_per_statement_and_one_to_commit(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[str] = []
    on_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, function: Any, *arguments: Any) -> Any:
        trips.append(getattr(function, "__name__", repr(function)))
        return await on_thread(self, function, *arguments)

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the pool's connection is open
        await connection.rollback()
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await connection.execute(text("SELECT v FROM t WHERE id = 3"))  # BEGIN IMMEDIATE first
        await connection.execute(text("UPDATE t SET v = 'y' WHERE id = 3"))
        await connection.commit()
    assert trips == ["_execute", "_execute", "commit"]


@pytest.fixture
def other(engine: AsyncEngine, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection to the database, straight through ``sqlite3``, that never waits."""
    connection = sqlite3.connect(tmp_path / "driver.db", timeout=0, isolation_level=None)
    yield connection
    connection.close()


def assert_write_lock_taken(other: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")


def seen_by(other: sqlite3.Connection, number: int) -> str:
    value: str = other.execute("SELECT v FROM t WHERE id = ?", (number,)).fetchone()[0]
    return value


async def test_the_transaction_begins_with_its_first_statement_and_holds_the_write_lock(
    engine: AsyncEngine, other: sqlite3.Connection
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT v FROM t WHERE id = 4"))
        assert_write_lock_taken(other)
        await connection.execute(text("UPDATE t SET v = 'mine' WHERE id = 4"))
        assert seen_by(other, 4) == "row 4"
        await connection.rollback()
    assert seen_by(other, 4) == "row 4"


async def test_a_begin_that_found_the_database_locked_is_tried_again_by_the_next_statement(
    engine: AsyncEngine, other: sqlite3.Connection
) -> None:
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA busy_timeout = 50")
        await connection.commit()
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            await connection.execute(text("SELECT v FROM t WHERE id = 5"))
        other.execute("ROLLBACK")
        await connection.execute(text("UPDATE t SET v = 'mine' WHERE id = 5"))
        # Inside a transaction, not committed on its own: the other connection sees the old row
        # and cannot write.
        assert seen_by(other, 5) == "row 5"
        assert_write_lock_taken(other)
        await connection.rollback()
    assert seen_by(other, 5) == "row 5"
