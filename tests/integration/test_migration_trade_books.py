"""Migration 0012 on a database that already holds trades (SQLite and PostgreSQL): every user
with trades gets a book whose last position is their latest trade's, so that the first write
after the upgrade is judged an append or a rewrite against every trade stored before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.trades import Trade
from dashcore_sql import create_engine, downgrade, unit_of_work, upgrade
from dashcore_sql.tables import trade_books, trades
from dashcore_sql.trades import SqlTradeRepository
from dashcore_sql.users import SqlUserRepository
from tests.conftest import PostgresSchema
from tests.contract.people import person
from tests.contract.test_trade_store import trade

BEFORE = "0011_exports"
NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


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


def row(item: Trade) -> dict[str, object]:
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
    await upgrade(engine, BEFORE)
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
        await connection.execute(insert(trades), [row(item) for item in stored])

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

    await downgrade(engine, BEFORE)
    await upgrade(engine)
