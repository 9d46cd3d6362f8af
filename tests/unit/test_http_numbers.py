"""Decimals in response bodies: exact digits, positional notation, whatever the magnitude."""

import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dashcore_http.schemas.numbers import DECIMAL_PATTERN, decimal_string, optional_decimal_string


@given(
    st.decimals(allow_nan=False, allow_infinity=False).filter(
        lambda value: -60 <= value.as_tuple().exponent <= 60  # type: ignore[operator]
    )
)
def test_every_finite_decimal_leaves_as_documented_digits_of_the_same_value(
    value: Decimal,
) -> None:
    text = decimal_string(value)
    assert re.fullmatch(DECIMAL_PATTERN, text), text
    assert Decimal(text) == value


def test_small_and_round_numbers_have_no_exponent() -> None:
    assert decimal_string(Decimal("-6.6666666666666666666666666666666666667E-11")) == (
        "-0.000000000066666666666666666666666666666666666667"
    )
    assert decimal_string(Decimal("1E+2")) == "100"
    assert decimal_string(Decimal("0E-8")) == "0.00000000"
    assert optional_decimal_string(None) is None
