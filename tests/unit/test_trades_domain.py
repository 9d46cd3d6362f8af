"""Trades and splits (issue #8): what a recorded execution must satisfy before the ledger sees
it — one currency per trade, positive quantities, no negative charges, UTC instants, a broker
fill carrying the broker's trade id — and what a split ratio may be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import (
    MANUAL_ACCOUNT,
    Split,
    Trade,
    TradeSource,
    TradeType,
    parse_account,
)
from tests.unit.test_instruments import field_of

AAPL = InstrumentKey("AAPL", "XNAS")
EXECUTED_AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def usd(amount: str | int) -> Money:
    return Money.of(amount, "USD")


def trade(**overrides: Any) -> Trade:
    """A manual buy of ten shares at 100 USD with 1 USD charges; tests override a field."""
    fields: dict[str, Any] = {
        "id": UUID(int=1),
        "user_id": UUID(int=2),
        "account": MANUAL_ACCOUNT,
        "instrument": AAPL,
        "side": OrderSide.BUY,
        "quantity": Decimal(10),
        "price": usd(100),
        "charges": usd(1),
        "type": TradeType.EQUITY,
        "executed_at": EXECUTED_AT,
        "source": TradeSource.MANUAL,
    }
    fields.update(overrides)
    return Trade(**fields)


def test_a_valid_trade_keeps_its_fields_and_optional_links() -> None:
    fill = trade(
        source=TradeSource.BROKER_FILL,
        broker_trade_id="T-77",
        order_id=UUID(int=9),
        account="0190f0a4-0000-7000-8000-000000000001",
        mtf_charge=usd("0.25"),
        capital_used=usd(500),
    )
    assert fill.broker_trade_id == "T-77"
    assert fill.order_id == UUID(int=9)
    assert fill.total_charges == usd("1.25")
    assert fill.gross_value == usd(1000)


def test_total_charges_without_an_mtf_charge_are_the_charges() -> None:
    assert trade().total_charges == usd(1)


def test_executed_at_is_kept_in_utc() -> None:
    local = datetime(2026, 3, 10, 20, 0, tzinfo=IST)
    assert trade(executed_at=local).executed_at == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert trade(executed_at=local).executed_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": Decimal(0)}, "quantity"),
        ({"quantity": Decimal(-1)}, "quantity"),
        ({"quantity": Decimal("NaN")}, "quantity"),
        ({"quantity": Decimal("Infinity")}, "quantity"),
        ({"quantity": 10}, "quantity"),
        ({"price": usd(-1)}, "price"),
        ({"price": Decimal(100)}, "price"),
        ({"charges": usd("-0.01")}, "charges"),
        ({"charges": Money.of(1, "INR")}, "charges"),
        ({"charges": None}, "charges"),
        ({"mtf_charge": usd(-1)}, "mtf_charge"),
        ({"mtf_charge": Money.of(1, "EUR")}, "mtf_charge"),
        ({"capital_used": usd(-5)}, "capital_used"),
        ({"capital_used": Money.of(5, "INR")}, "capital_used"),
        ({"executed_at": datetime(2026, 3, 10, 14, 30)}, "executed_at"),  # noqa: DTZ001
        ({"account": ""}, "account"),
        ({"account": " manual"}, "account"),
        ({"account": "a" * 65}, "account"),
        ({"account": "line\nbreak"}, "account"),
        ({"instrument": InstrumentKey("", "XNAS")}, "instrument.symbol"),
        ({"instrument": InstrumentKey("AAPL", "")}, "instrument.exchange"),
        ({"instrument": "AAPL"}, "instrument"),
        ({"side": "buy"}, "side"),
        ({"type": "equity"}, "type"),
        ({"source": "manual"}, "source"),
        ({"broker_trade_id": "  "}, "broker_trade_id"),
        ({"broker_trade_id": 7}, "broker_trade_id"),
        ({"source": TradeSource.BROKER_FILL}, "broker_trade_id"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_trades_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        trade(**overrides)
    assert field_of(raised) == field


def test_a_free_trade_is_allowed() -> None:
    """Bonus units and gifted shares arrive at price zero with no charges."""
    free = trade(price=usd(0), charges=usd(0))
    assert free.gross_value == usd(0)


def test_account_labels() -> None:
    assert parse_account(MANUAL_ACCOUNT) == "manual"
    assert parse_account("a" * 64) == "a" * 64
    with pytest.raises(InvalidInput):
        parse_account(None)  # type: ignore[arg-type]


def test_trade_types_and_sources_are_the_documented_words() -> None:
    assert [t.value for t in TradeType] == [
        "equity",
        "futures",
        "options",
        "currency",
        "commodity",
        "other",
    ]
    assert [s.value for s in TradeSource] == ["broker_fill", "manual"]


def test_a_split_keeps_its_ratio_as_whole_numbers_in_utc() -> None:
    split = Split(AAPL, 1, 3, datetime(2026, 6, 1, 9, 0, tzinfo=IST))
    assert (split.numerator, split.denominator) == (1, 3)
    assert split.effective_at == datetime(2026, 6, 1, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("numerator", "denominator", "field"),
    [
        (0, 1, "numerator"),
        (-2, 1, "numerator"),
        (2, 0, "denominator"),
        (True, 1, "numerator"),
        (Decimal(2), 1, "numerator"),
        (2, 2, "numerator"),
    ],
)
def test_invalid_split_ratios_are_refused(numerator: Any, denominator: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Split(AAPL, numerator, denominator, EXECUTED_AT)
    assert field_of(raised) == field


def test_a_split_needs_an_aware_instant_and_an_instrument() -> None:
    with pytest.raises(InvalidInput) as raised:
        Split(AAPL, 2, 1, datetime(2026, 6, 1))  # noqa: DTZ001
    assert field_of(raised) == "effective_at"
    with pytest.raises(InvalidInput) as raised:
        Split(InstrumentKey("", "XNAS"), 2, 1, EXECUTED_AT)
    assert field_of(raised) == "instrument.symbol"
