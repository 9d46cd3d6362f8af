"""Order limits (security.md ORD-3): an order above a limit is refused, at or below it is
accepted; an unknown value fails closed; the day's total counts the user's non-rejected orders
of that UTC day in that currency; a user's own limits replace the defaults one by one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput, OrderLimitExceeded
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import (
    CurrencyLimits,
    LimitKind,
    OrderLimits,
    check_order,
    holding_room,
    placed_value,
    room_released,
    trading_day,
)
from dashcore.domain.orders import OrderRequest, OrderSide, OrderStatus, OrderType
from dashcore.domain.trading import PlacedOrder, client_reference_for

INR = Currency("INR")
USD = Currency("USD")
NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
USER = UUID("00000000-0000-7000-8000-000000000001")
amounts = st.decimals(min_value=0, max_value=Decimal(10) ** 12, places=4, allow_nan=False)


@given(limit=amounts, value=amounts)
def test_an_order_worth_more_than_the_limit_is_refused_and_at_or_below_accepted(
    limit: Decimal, value: Decimal
) -> None:
    breach = check_order(CurrencyLimits(max_order_value=limit), INR, Decimal(1), value, Decimal(0))
    if value > limit:
        assert breach is not None
        assert (breach.kind, breach.limit, breach.requested) == (
            LimitKind.MAX_ORDER_VALUE,
            limit,
            value,
        )
    else:
        assert breach is None


@given(limit=amounts, quantity=amounts)
def test_a_quantity_above_the_limit_is_refused_and_at_or_below_accepted(
    limit: Decimal, quantity: Decimal
) -> None:
    breach = check_order(CurrencyLimits(max_order_quantity=limit), INR, quantity, None, Decimal(0))
    assert (breach is not None) == (quantity > limit)
    if breach is not None:
        assert breach.kind is LimitKind.MAX_ORDER_QUANTITY


@given(limit=amounts, placed=amounts, value=amounts)
def test_the_day_is_refused_only_when_its_total_with_the_order_is_above_the_limit(
    limit: Decimal, placed: Decimal, value: Decimal
) -> None:
    breach = check_order(CurrencyLimits(max_daily_value=limit), INR, Decimal(1), value, placed)
    assert (breach is not None) == (placed + value > limit)
    if breach is not None:
        assert (breach.kind, breach.requested) == (LimitKind.MAX_DAILY_VALUE, placed + value)


@pytest.mark.parametrize(
    "limits",
    [CurrencyLimits(max_order_value=Decimal(10**9)), CurrencyLimits(max_daily_value=Decimal(1))],
)
def test_an_order_of_unknown_value_fails_closed_under_a_value_limit(
    limits: CurrencyLimits,
) -> None:
    breach = check_order(limits, INR, Decimal(1), None, Decimal(0))
    assert breach is not None
    assert breach.requested is None
    error = breach.error()
    assert isinstance(error, OrderLimitExceeded)
    assert (error.code, error.limit, error.currency, error.requested) == (
        "order_limit_exceeded",
        breach.kind.value,
        "INR",
        None,
    )
    assert error.errors[0].field == "quantity"


def test_no_limit_means_anything_goes_and_quantity_limits_need_no_price() -> None:
    assert check_order(CurrencyLimits(), INR, Decimal(10**9), None, Decimal(10**12)) is None
    only_quantity = CurrencyLimits(max_order_quantity=Decimal(10))
    assert check_order(only_quantity, INR, Decimal(10), None, Decimal(0)) is None


def test_the_breach_names_the_limit_the_value_and_the_currency() -> None:
    breach = check_order(
        CurrencyLimits(max_order_value=Decimal("1E+6")),
        INR,
        Decimal(1),
        Decimal("1000000.05"),
        Decimal(0),
    )
    assert breach is not None
    assert breach.message == (
        "The order is worth 1000000.05 INR, above your limit of 1000000 INR per order "
        "(max_order_value)."
    )


def test_a_users_own_limits_replace_the_defaults_one_by_one() -> None:
    defaults = OrderLimits(
        {
            INR: CurrencyLimits(Decimal(1_000_000), Decimal(100_000), Decimal(5_000_000)),
            USD: CurrencyLimits(Decimal(50_000)),
        }
    )
    own = OrderLimits(
        {
            INR: CurrencyLimits(max_daily_value=Decimal(10)),
            Currency("EUR"): CurrencyLimits(Decimal(5)),
        }
    )
    effective = defaults.overridden_by(own)
    assert effective.of(INR) == CurrencyLimits(Decimal(1_000_000), Decimal(100_000), Decimal(10))
    assert effective.of(USD) == CurrencyLimits(Decimal(50_000))
    assert effective.of(Currency("EUR")) == CurrencyLimits(Decimal(5))
    assert effective.of(Currency("GBP")) == CurrencyLimits()
    assert own.describe() == "EUR:max_order_value=5;INR:max_daily_value=10"
    assert OrderLimits().describe() == "none"
    assert OrderLimits({INR: CurrencyLimits()}).by_currency == {}


@pytest.mark.parametrize("bad", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_a_limit_is_a_finite_non_negative_decimal(bad: Decimal) -> None:
    with pytest.raises(InvalidInput):
        CurrencyLimits(max_order_value=bad)


def test_the_day_is_the_utc_calendar_day() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    start, end = trading_day(datetime(2026, 5, 5, 2, 0, tzinfo=ist))  # 20:30 UTC on the 4th
    assert (start, end) == (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC))
    assert trading_day(datetime(2026, 5, 4, tzinfo=UTC))[0] == datetime(2026, 5, 4, tzinfo=UTC)


def order(
    number: int,
    *,
    currency: Currency = INR,
    quantity: str = "10",
    limit_price: str | None = "100",
    status: OrderStatus = OrderStatus.OPEN,
    estimated_value: Decimal | None = None,
) -> PlacedOrder:
    order_id = UUID(f"00000000-0000-7000-a000-{number:012x}")
    request = OrderRequest(
        provider_account_id="A",
        instrument=Instrument("X", "NSE", currency),
        side=OrderSide.BUY,
        type=OrderType.LIMIT if limit_price else OrderType.MARKET,
        quantity=Decimal(quantity),
        client_reference=client_reference_for(order_id),
        limit_price=None if limit_price is None else Decimal(limit_price),
    )
    created = PlacedOrder.create(
        order_id,
        USER,
        USER,
        "zerodha",
        request,
        "k" * 64,
        NOW,
        NOW,
        estimated_value=estimated_value,
    )
    return replace(created, status=status)


def test_the_days_total_counts_every_order_but_the_rejected_at_its_checked_value() -> None:
    orders = [
        order(1),  # 10 x 100
        order(2, limit_price=None, estimated_value=Decimal("2500.50")),  # a market order
        order(3, status=OrderStatus.CANCELLED),
        order(4, status=OrderStatus.UNKNOWN),
        order(5, status=OrderStatus.REJECTED),
        order(6, currency=USD),
        order(7, limit_price=None),  # stored before values were: nothing to count
    ]
    assert placed_value(orders, INR) == Decimal("1000") * 3 + Decimal("2500.50")
    assert placed_value(orders, USD) == Decimal(1000)
    assert placed_value(orders, INR, leaving_out=orders[0].id) == Decimal("4500.50")


def test_a_growing_modification_holds_its_room_until_the_broker_refuses_it() -> None:
    legacy = order(1)  # stored before values were: counts 10 x 100
    held = holding_room(legacy, Decimal(1500))
    assert placed_value([held], INR) == Decimal(1500)
    assert holding_room(legacy, Decimal(900)) is legacy  # shrinking holds nothing more
    assert holding_room(legacy, None) is legacy  # nor does a value nobody knows

    released = room_released(held, Decimal(1500), legacy.estimated_value)
    assert released.estimated_value is None
    assert placed_value([released], INR) == Decimal(1000)
    changed_since = replace(held, estimated_value=Decimal(1200))  # modified again meanwhile
    assert room_released(changed_since, Decimal(1500), None) is changed_since
