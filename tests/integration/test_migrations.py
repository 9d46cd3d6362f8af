"""Migrations on SQLite and PostgreSQL databases: the stairway, the schema they build, finding
the scripts from anywhere, and migration 0012 on a database that already holds trades (every
user with trades gets a book whose last position is their latest trade's, so that the first
write after the upgrade is judged an append or a rewrite against every trade stored before)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.trades import Trade
from dashcore_sql import (
    create_engine,
    current,
    downgrade,
    history,
    metadata,
    unit_of_work,
    upgrade,
)
from dashcore_sql.tables import mail_outbox, trade_books, trades
from dashcore_sql.trades import SqlTradeRepository
from dashcore_sql.users import SqlUserRepository
from tests.conftest import PostgresSchema
from tests.contract.people import person
from tests.contract.test_trade_store import trade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(URL, schema) of an empty database private to this test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'dashcore.db'}", None
    postgres: PostgresSchema = request.getfixturevalue("postgres_schema")
    return postgres.url, postgres.schema


@pytest.fixture
async def engine(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, schema = database
    engine = create_engine(url, schema=schema)
    try:
        yield engine
    finally:
        await engine.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


def schema_drift(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_stairway_up_down_up_for_every_revision(engine: AsyncEngine) -> None:
    revisions = [revision for revision, _, _ in history()]
    assert await current(engine) is None
    for revision in revisions:
        await upgrade(engine, revision)
        assert await current(engine) == revision
        await downgrade(engine, "-1")
        await upgrade(engine, revision)
        assert await current(engine) == revision
    await downgrade(engine, "base")
    assert await current(engine) is None
    assert await table_names(engine) == {"alembic_version"}


async def test_head_builds_exactly_the_schema_the_adapter_uses(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await table_names(engine) == {"alembic_version", *metadata.tables}
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_drift) == []


async def test_upgrading_twice_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await upgrade(engine)
    assert await current(engine) == history()[-1][0]


def test_history_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    revisions = history()
    assert revisions[0][:2] == ("0001", None)
    assert revisions[0][2].startswith("Foundation")
    assert [down for _, down, _ in revisions[1:]] == [rev for rev, _, _ in revisions[:-1]]


BEFORE_TRADE_BOOKS = "0011_exports"
NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def trade_row(item: Trade) -> dict[str, object]:
    return {
        "id": item.id,
        "user_id": item.user_id,
        "account": item.account,
        "symbol": item.instrument.symbol,
        "exchange": item.instrument.exchange,
        "side": item.side.value,
        "quantity": item.quantity,
        "currency": item.price.currency.code,
        "price": item.price.amount,
        "charges": item.charges.amount,
        "type": item.type.value,
        "source": item.source.value,
        "executed_at": item.executed_at,
    }


async def test_every_user_with_trades_gets_a_book_at_their_latest_trade(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine, BEFORE_TRADE_BOOKS)
    trader, tied, idle = (person(number, NOW) for number in (1, 2, 3))
    async with unit_of_work(engine) as uow:
        for user in (trader, tied, idle):
            await SqlUserRepository(uow).add(user)
        await uow.commit()
    latest = trade(2, trader, executed_at=NOW + timedelta(hours=1))
    # Two trades at one instant: the greater id is the later.
    tie_high = trade(9, tied, executed_at=NOW)
    stored = [
        trade(1, trader, executed_at=NOW),
        latest,
        trade(3, trader, executed_at=NOW - timedelta(days=3)),
        trade(8, tied, executed_at=NOW),
        tie_high,
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(trades), [trade_row(item) for item in stored])

    await upgrade(engine)

    async with unit_of_work(engine) as uow:
        books = (await uow.execute(select(trade_books))).all()
        repository = SqlTradeRepository(uow)
        assert {tuple(book) for book in books} == {
            (trader.id, 1, 1, latest.executed_at, latest.id),
            (tied.id, 1, 1, tie_high.executed_at, tie_high.id),
        }
        # The next insert is judged against every trade stored before the upgrade.
        await repository.add(replace(trade(4, trader), executed_at=NOW + timedelta(minutes=30)))
        await repository.add(trade(5, idle))
        book = await repository.book(trader.id)
        assert (book.revision, book.rewritten_at) == (2, 2)
        assert book.last is not None and book.last.trade_id == latest.id
        assert (await repository.book(idle.id)).rewritten_at == 0

    await downgrade(engine, BEFORE_TRADE_BOOKS)
    await upgrade(engine)


BEFORE_MAIL_EXPIRY = "0016_order_limits"


async def test_mail_expiry_adds_the_expired_status_and_its_downgrade_makes_those_dead(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine)
    row = {
        "id": UUID(int=1),
        "recipient": "mike@example.org",
        "subject": "Reset your dashcore password",
        "template": "password_reset",
        "body": None,
        "status": "expired",
        "attempts": 0,
        "created_at": NOW,
        "next_attempt_at": NOW,
        "expires_at": NOW + timedelta(minutes=30),
    }
    async with engine.begin() as connection:
        await connection.execute(insert(mail_outbox).values(**row))

    await downgrade(engine, BEFORE_MAIL_EXPIRY)

    async with engine.connect() as connection:
        status = (await connection.execute(select(mail_outbox.c.status))).scalar_one()
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in inspect(sync).get_columns("mail_outbox")}
        )
    assert status == "dead"
    assert "expires_at" not in columns
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(update(mail_outbox).values(status="expired"))
