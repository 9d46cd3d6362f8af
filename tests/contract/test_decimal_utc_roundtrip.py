"""Money stays exact and instants stay UTC through every store (DESIGN: Modelling rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.errors import InvalidInput
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork
from dashcore_sql import ExactDecimal, UtcDateTime, unit_of_work

scratch = MetaData()
values = Table(
    "roundtrip_values",
    scratch,
    Column("id", Integer, primary_key=True),
    Column("amount", ExactDecimal()),
    Column("at", UtcDateTime()),
)

EXAMPLES = settings(max_examples=50)

decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=40),
    st.integers(-80, 80),
).filter(lambda value: not (value.is_zero() and value.is_signed()))

offsets = st.builds(
    lambda minutes, seconds: timezone(timedelta(minutes=minutes, seconds=seconds)),
    st.integers(-23 * 60, 23 * 60),
    st.sampled_from([0, 0, 0, 30]),
)
instants = st.datetimes(
    min_value=datetime(1800, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive by contract
    max_value=datetime(9998, 12, 30),  # noqa: DTZ001
    timezones=st.one_of(st.just(UTC), offsets),
)


@pytest.fixture
async def scratch_engine(sql_engine: AsyncEngine) -> AsyncEngine:
    async with sql_engine.begin() as connection:
        await connection.run_sync(scratch.create_all)
    return sql_engine


async def sql_round_trip(
    engine: AsyncEngine, amount: Decimal, at: datetime
) -> tuple[Decimal, datetime]:
    async with unit_of_work(engine) as uow:
        row_id = (
            await uow.execute(insert(values).values(amount=amount, at=at).returning(values.c.id))
        ).scalar_one()
        await uow.commit()
    async with unit_of_work(engine) as uow:
        row = (
            await uow.execute(select(values.c.amount, values.c.at).where(values.c.id == row_id))
        ).one()
    return row.amount, row.at


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def assert_utc_instant(loaded: datetime, original: datetime) -> None:
    assert loaded.tzinfo is UTC
    assert loaded == original
    assert loaded.isoformat() == original.astimezone(UTC).isoformat()


@given(amount=decimals, at=instants)
@EXAMPLES
async def test_sql_round_trip(scratch_engine: AsyncEngine, amount: Decimal, at: datetime) -> None:
    loaded_amount, loaded_at = await sql_round_trip(scratch_engine, amount, at)
    assert loaded_amount == amount
    if scratch_engine.dialect.name == "sqlite":
        assert loaded_amount.as_tuple() == amount.as_tuple(), "SQLite keeps the very digits"
    else:
        assert decimal_places(loaded_amount) == decimal_places(amount), "NUMERIC keeps the scale"
    assert_utc_instant(loaded_at, at)


@pytest.mark.parametrize("amount", [Decimal("1E+30"), Decimal("-0.000000001"), Decimal("1.500")])
async def test_named_edge_cases(scratch_engine: AsyncEngine, amount: Decimal) -> None:
    loaded, _ = await sql_round_trip(scratch_engine, amount, datetime(2026, 1, 1, tzinfo=UTC))
    assert loaded == amount
    assert decimal_places(loaded) == decimal_places(amount)
    if scratch_engine.dialect.name == "sqlite":
        assert str(loaded) == str(amount)


@given(amount=decimals, at=instants)
@EXAMPLES
async def test_memory_round_trip(amount: Decimal, at: datetime) -> None:
    """The memory store keeps what it is given; instants reach it in UTC, as domain objects
    and the ``Clock`` port hand them over."""
    database = MemoryDatabase()
    writer = MemoryUnitOfWork(database)
    writer.put("values", 1, (amount, at.astimezone(UTC)))
    await writer.commit()
    stored = MemoryUnitOfWork(database).get("values", 1)
    assert stored is not None
    loaded_amount, loaded_at = stored
    assert loaded_amount.as_tuple() == amount.as_tuple()
    assert_utc_instant(loaded_at, at)


@given(moments=st.lists(instants, min_size=2, max_size=8))
@settings(max_examples=25)
async def test_sql_orders_instants_by_time(
    scratch_engine: AsyncEngine, moments: list[datetime]
) -> None:
    async with unit_of_work(scratch_engine) as uow:
        await uow.execute(values.delete())
        await uow.execute(insert(values), [{"at": moment} for moment in moments])
        ordered = (
            await uow.execute(select(values.c.at).order_by(values.c.at, values.c.id))
        ).scalars()
        assert list(ordered) == sorted(moments)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", datetime(2026, 1, 1, 9, 0)),  # noqa: DTZ001 - the naive datetime under test
        ("amount", 0.1),
        ("amount", Decimal("NaN")),
        ("amount", Decimal("-Infinity")),
    ],
    ids=["naive-datetime", "float", "nan", "infinity"],
)
async def test_inexact_or_ambiguous_values_are_refused(
    scratch_engine: AsyncEngine, column: str, value: object
) -> None:
    async with unit_of_work(scratch_engine) as uow:
        with pytest.raises(InvalidInput):
            await uow.execute(insert(values).values({column: value}))
