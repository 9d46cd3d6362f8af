"""dashcore's exact decimal functions on every SQLite connection the engine opens
(``dashcore_sql.sqlite_functions``): totals and products of decimal text as exact as money's
own arithmetic, NULLs as SQL's ``SUM`` and ``*`` treat them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.money import ARITHMETIC
from dashcore_sql import create_engine

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=18).filter(
    lambda value: abs(value) < Decimal("1e18")
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    async with made.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE d (v TEXT, w TEXT)")
    yield made
    await made.dispose()


async def _answer(engine: AsyncEngine, rows: list[tuple[str | None, str | None]]) -> list[str]:
    """The total of ``v`` and of ``v × w`` over ``rows``, in one transaction rolled back."""
    async with engine.connect() as connection:
        await connection.execute(text("DELETE FROM d"))
        if rows:
            await connection.execute(
                text("INSERT INTO d (v, w) VALUES (:v, :w)"),
                [{"v": v, "w": w} for v, w in rows],
            )
        answer = await connection.execute(
            text(
                "SELECT dashcore_decimal_total(v), "
                "dashcore_decimal_total(dashcore_decimal_product(v, w)) FROM d"
            )
        )
        total, products = answer.one()
        await connection.rollback()
    return [total, products]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # each example empties the table first
@given(st.lists(st.tuples(decimals, decimals), max_size=12))
async def test_totals_and_products_are_exact(
    engine: AsyncEngine, pairs: list[tuple[Decimal, Decimal]]
) -> None:
    total, products = await _answer(engine, [(str(v), str(w)) for v, w in pairs])
    if not pairs:
        assert (total, products) == (None, None), "no rows: NULL, as SUM answers"
        return
    expected_total = expected_products = Decimal(0)
    for v, w in pairs:
        expected_total = ARITHMETIC.add(expected_total, v)
        expected_products = ARITHMETIC.add(expected_products, ARITHMETIC.multiply(v, w))
    assert Decimal(total) == expected_total
    assert Decimal(products) == expected_products


async def test_where_a_float_would_round_the_answer_is_exact(engine: AsyncEngine) -> None:
    rows = [("0.1", "3"), ("0.2", "3"), ("100000000000000000.000000000000000001", "1")]
    assert await _answer(engine, rows) == [
        "100000000000000000.300000000000000001",
        "100000000000000000.900000000000000001",
    ]


async def test_nulls_are_left_out_and_a_product_with_null_is_null(engine: AsyncEngine) -> None:
    assert await _answer(engine, [("2.5", None), (None, "4"), ("1.5", "2")]) == ["4.0", "3.0"]
    assert await _answer(engine, [(None, "1")]) == [None, None]


async def test_text_that_is_not_a_decimal_is_an_error_not_a_wrong_total(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(OperationalError, match=r"dashcore_decimal_total|step"):
        await _answer(engine, [("12.5", "1"), ("twelve", "1")])
