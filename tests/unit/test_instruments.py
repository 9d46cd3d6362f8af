"""Instruments (issue #6): what identifies one, and the lot and tick grids that every order
quantity and price must sit on. Lots and ticks are checked with exact ``Decimal`` arithmetic."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import AssetClass, Instrument, InstrumentKey
from dashcore.domain.money import Currency

USD = Currency("USD")
INR = Currency("INR")

# Grid sizes as brokers publish them: one share, an NSE F&O lot, a fractional fund unit;
# a cent, an NSE five-paisa tick, a sub-cent tick.
grid_sizes = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(-exponent),
    st.integers(min_value=1, max_value=1000),
    st.integers(min_value=0, max_value=4),
)
multiples = st.integers(min_value=1, max_value=10**9)
# A strictly fractional part r = m / 10**j with 0 < r < 1, exact in Decimal.
fractions = st.integers(min_value=1, max_value=4).flatmap(
    lambda j: st.builds(
        lambda m: Decimal(m).scaleb(-j), st.integers(min_value=1, max_value=10**j - 1)
    )
)


def equity(**overrides: Any) -> Instrument:
    """An instrument with defaults a test can override one field at a time."""
    fields: dict[str, Any] = {"symbol": "AAPL", "exchange": "XNAS", "currency": USD}
    fields.update(overrides)
    return Instrument(**fields)


def field_of(raised: pytest.ExceptionInfo[InvalidInput]) -> str:
    return raised.value.errors[0].field


def test_defaults_are_one_share_lots_on_a_one_cent_tick() -> None:
    apple = equity()
    assert apple.lot_size == Decimal(1)
    assert apple.tick_size == Decimal("0.01")
    assert apple.asset_class is AssetClass.EQUITY
    assert apple.isin is None


def test_key_is_the_symbol_on_its_exchange() -> None:
    reliance = equity(symbol="RELIANCE", exchange="NSE", currency=INR, isin="INE002A01018")
    assert reliance.key == InstrumentKey("RELIANCE", "NSE")
    assert str(reliance.key) == "NSE:RELIANCE"
    assert equity(isin="US0378331005").key == equity().key


def test_instruments_are_values() -> None:
    assert equity() == equity()
    assert equity() != equity(exchange="XNYS")
    assert len({equity(), equity()}) == 1


@pytest.mark.parametrize("missing", ["symbol", "exchange"])
def test_symbol_and_exchange_are_required(missing: str) -> None:
    with pytest.raises(InvalidInput):
        equity(**{missing: ""})


def test_a_missing_symbol_is_reported_on_the_symbol() -> None:
    with pytest.raises(InvalidInput) as raised:
        equity(symbol="")
    assert field_of(raised) == "symbol"


def test_a_missing_exchange_is_reported_on_the_exchange() -> None:
    with pytest.raises(InvalidInput) as raised:
        equity(exchange="")
    assert field_of(raised) == "exchange"


@pytest.mark.parametrize("size", [Decimal(0), Decimal("-1"), Decimal("-0.01")])
@pytest.mark.parametrize("grid", ["lot_size", "tick_size"])
def test_lot_and_tick_sizes_are_positive(grid: str, size: Decimal) -> None:
    with pytest.raises(InvalidInput):
        equity(**{grid: size})


def test_a_bad_lot_size_is_reported_on_the_lot_size() -> None:
    with pytest.raises(InvalidInput) as raised:
        equity(lot_size=Decimal(0))
    assert field_of(raised) == "lot_size"


def test_a_bad_tick_size_is_reported_on_the_tick_size() -> None:
    with pytest.raises(InvalidInput) as raised:
        equity(tick_size=Decimal(0))
    assert field_of(raised) == "tick_size"


@pytest.mark.parametrize("size", ["Infinity", "NaN"])
@pytest.mark.parametrize("grid", ["lot_size", "tick_size"])
def test_non_finite_lot_and_tick_sizes_are_invalid_input(grid: str, size: str) -> None:
    with pytest.raises(InvalidInput):
        equity(**{grid: Decimal(size)})


@pytest.mark.parametrize("isin", ["US0378331005", "INE002A01018", "GB00B03MLX29"])
def test_a_well_formed_isin_is_kept(isin: str) -> None:
    assert equity(isin=isin).isin == isin


@pytest.mark.parametrize(
    "isin", ["", "US037833100", "US03783310055", "US-378331005", "US 378331005", "US037833100$"]
)
def test_an_isin_is_twelve_letters_and_digits(isin: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        equity(isin=isin)
    assert field_of(raised) == "isin"


@pytest.mark.parametrize(
    "isin",
    [
        "ÉS0378331005",  # non-ASCII letter
        "US03783310٥5",  # Arabic-Indic digit
        "us0378331005",  # lower case
        "120378331005",  # the country code is two letters
        "US037833100A",  # the check character is a digit
    ],
)
def test_an_isin_has_the_iso_6166_shape(isin: str) -> None:
    with pytest.raises(InvalidInput):
        equity(isin=isin)


@pytest.mark.parametrize(
    ("lot", "quantity", "whole"),
    [
        (Decimal(1), Decimal(1), True),
        (Decimal(1), Decimal("100.00"), True),
        (Decimal(1), Decimal("1.5"), False),
        (Decimal(25), Decimal(50), True),
        (Decimal(25), Decimal(30), False),
        (Decimal("0.001"), Decimal("12.345"), True),
        (Decimal("0.001"), Decimal("12.3455"), False),
        (Decimal(1), Decimal(0), False),
        (Decimal(1), Decimal(-1), False),
        (Decimal(25), Decimal(-25), False),
    ],
)
def test_is_whole_lots(lot: Decimal, quantity: Decimal, whole: bool) -> None:
    assert equity(lot_size=lot).is_whole_lots(quantity) is whole


@pytest.mark.parametrize(
    ("tick", "price", "on_tick"),
    [
        (Decimal("0.01"), Decimal("187.25"), True),
        (Decimal("0.01"), Decimal("187.250"), True),
        (Decimal("0.01"), Decimal("187.255"), False),
        (Decimal("0.05"), Decimal("2450.05"), True),
        (Decimal("0.05"), Decimal("2450.10"), True),
        (Decimal("0.05"), Decimal("2450.03"), False),
        (Decimal("0.0001"), Decimal("0.9999"), True),
        (Decimal("0.01"), Decimal(0), False),
        (Decimal("0.01"), Decimal("-0.05"), False),
    ],
)
def test_is_on_tick(tick: Decimal, price: Decimal, on_tick: bool) -> None:
    assert equity(tick_size=tick).is_on_tick(price) is on_tick


@given(grid_sizes, multiples)
def test_every_positive_multiple_of_the_tick_is_on_tick(tick: Decimal, k: int) -> None:
    assert equity(tick_size=tick).is_on_tick(k * tick)


@given(grid_sizes, st.integers(min_value=0, max_value=10**9), fractions)
def test_a_price_between_two_ticks_is_off_tick(tick: Decimal, k: int, r: Decimal) -> None:
    assert not equity(tick_size=tick).is_on_tick((k + r) * tick)


@given(grid_sizes, multiples)
def test_every_positive_multiple_of_the_lot_is_whole_lots(lot: Decimal, k: int) -> None:
    assert equity(lot_size=lot).is_whole_lots(k * lot)


@given(grid_sizes, st.integers(min_value=0, max_value=10**9), fractions)
def test_a_quantity_between_two_lots_is_not_whole_lots(lot: Decimal, k: int, r: Decimal) -> None:
    assert not equity(lot_size=lot).is_whole_lots((k + r) * lot)


@pytest.mark.parametrize(
    ("price", "on_tick"), [("1E+27", True), ("Infinity", False), ("NaN", False)]
)
def test_is_on_tick_answers_for_any_decimal(price: str, on_tick: bool) -> None:
    assert equity().is_on_tick(Decimal(price)) is on_tick


@pytest.mark.parametrize(
    ("quantity", "whole"), [("1E+28", True), ("Infinity", False), ("NaN", False)]
)
def test_is_whole_lots_answers_for_any_decimal(quantity: str, whole: bool) -> None:
    assert equity().is_whole_lots(Decimal(quantity)) is whole
