from decimal import Context, Decimal, Inexact

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Currency, Money, input_decimal, plain_decimal, to_decimal

amounts = st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
)


def test_arithmetic_stays_exact() -> None:
    total = Money.of("0.10", "USD") + Money.of("0.20", "USD")
    assert total == Money.of("0.30", "USD")
    assert Money.of("10", "INR") - Money.of("2.5", "INR") == Money.of("7.5", "INR")
    assert Money.of("1.25", "USD") * 3 == Money.of("3.75", "USD")


widest_inputs = st.decimals(
    allow_nan=False,
    allow_infinity=False,
    places=18,
    min_value=Decimal("-999999999999999999.999999999999999999"),
    max_value=Decimal("999999999999999999.999999999999999999"),
)


@given(widest_inputs, widest_inputs)
def test_arithmetic_is_exact_for_every_input_dashcore_takes(a: Decimal, b: Decimal) -> None:
    """Inputs have up to 36 significant digits; Python's default context keeps 28, which
    turned 1e17 + 1e-18 into 1e17 in a manual account's balance."""
    usd_a, usd_b = Money(a, Currency("USD")), Money(b, Currency("USD"))
    assert (usd_a + usd_b) - usd_b == usd_a
    assert (usd_a - usd_b) + usd_b == usd_a
    assert (-usd_a).amount == a.copy_negate()
    assert (usd_a * b).amount == Context(prec=200, traps=[Inexact]).multiply(a, b)


def test_the_widest_amounts_add_and_multiply_exactly() -> None:
    big, tiny = Money.of("100000000000000000", "CHF"), Money.of("0.000000000000000001", "CHF")
    assert (big + tiny).amount == Decimal("100000000000000000.000000000000000001")
    assert (big + tiny - big).amount == Decimal("0.000000000000000001")
    widest = Decimal("999999999999999999.999999999999999999")
    assert (Money(widest, Currency("INR")) * widest).amount == Decimal(
        "999999999999999999999999999999999998.000000000000000000000000000000000001"
    )


def test_currencies_never_mix() -> None:
    with pytest.raises(InvalidInput) as raised:
        Money.of(1, "USD") + Money.of(1, "INR")
    assert raised.value.errors[0].field == "currency"
    with pytest.raises(InvalidInput):
        _ = Money.of(1, "USD") < Money.of(2, "EUR")


@pytest.mark.parametrize("bad", [0.1, float("nan"), "abc", "Infinity", True, None])
def test_floats_and_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput):
        to_decimal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["usd", "US", "USDT", "U$D", "ÜSD"])
def test_currency_is_three_upper_case_letters(code: str) -> None:
    with pytest.raises(InvalidInput):
        Currency(code)


@pytest.mark.parametrize("code", ["QQQ", "XXX", "XTS", "ABC"])
def test_a_currency_a_person_names_is_one_iso_4217_issues(code: str) -> None:
    """A broker's unlisted code keeps its shape check only; a person's must be a currency."""
    assert Currency(code).code == code
    with pytest.raises(InvalidInput, match="not an ISO 4217 currency"):
        Currency.issued(code)


def test_listed_currencies_funds_and_metals_are_issued() -> None:
    assert [Currency.issued(code).code for code in ("USD", "INR", "XAU", "CHE")] == [
        "USD",
        "INR",
        "XAU",
        "CHE",
    ]


def test_rounding_is_half_even() -> None:
    assert Money.of("2.345", "USD").rounded() == Money.of("2.34", "USD")
    assert Money.of("2.355", "USD").rounded() == Money.of("2.36", "USD")


@given(amounts, amounts)
def test_addition_is_commutative_and_subtraction_inverts_it(a: Decimal, b: Decimal) -> None:
    x, y = Money.of(a, "USD"), Money.of(b, "USD")
    assert x + y == y + x
    assert (x + y) - y == x
    assert x + (-x) == Money.zero("USD")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Decimal("1e999999999"), "digits before"),
        ("1000000000000000000", "digits before"),
        (Decimal("-1e18"), "digits before"),
        ("0.0000000000000000001", "decimal places"),
        (Decimal("1e-999999999"), "decimal places"),
    ],
)
def test_an_input_amount_out_of_range_is_refused_by_name(
    value: str | Decimal, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        input_decimal(value, field="quantity")
    assert problem in refused.value.message
    assert [error.field for error in refused.value.errors] == ["quantity"]


@pytest.mark.parametrize(
    "text", ["999999999999999999.999999999999999999", "-500000000000000000", "0.000000000000000001"]
)
def test_an_input_amount_within_range_is_kept_exactly(text: str) -> None:
    assert input_decimal(text) == Decimal(text)
    assert str(input_decimal(text)) == str(Decimal(text))


@pytest.mark.parametrize("text", ["1e3", "1E+2", "+5", ".5", "5.", " 5", "5 ", "1_000", "٥", "NaN"])
def test_an_input_amount_is_text_in_plain_digits(text: str) -> None:
    """ "1e3" is not read as a thousand shares: only the positional form responses use."""
    with pytest.raises(InvalidInput) as refused:
        input_decimal(text, field="quantity")
    assert "plain digits" in refused.value.message
    assert [error.field for error in refused.value.errors] == ["quantity"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("-1250.50"), "-1250.50"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("1E-12"), "0.000000000001"),
        (Decimal("-0.00"), "-0.00"),
        (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
    ],
)
def test_decimals_are_written_as_plain_exact_digits(value: Decimal, text: str) -> None:
    assert plain_decimal(value) == text
    assert Decimal(text) == value


@pytest.mark.parametrize(("text", "kept"), [("-0", "0"), ("-0.00", "0.00"), ("0.0", "0.0")])
def test_a_negative_zero_input_is_zero(text: str, kept: str) -> None:
    """Found by QA: "-0" was stored and shown as "-0"."""
    assert plain_decimal(input_decimal(text)) == kept
