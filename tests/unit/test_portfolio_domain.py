"""Accounts, positions and pages (issue #6): an account is known by the provider's id and shows
only a masked number; a position's sign says long or short; a page without a cursor is the last."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Money
from dashcore.domain.portfolio import (
    Account,
    AccountType,
    Page,
    Position,
    mask_account_number,
)
from tests.unit.test_instruments import equity, field_of


def position(quantity: Decimal) -> Position:
    return Position(
        provider_account_id="ACC-1",
        instrument=equity(),
        quantity=quantity,
        product="intraday",
        average_price=Money.of("187.25", "USD"),
        last_price=Money.of("190.00", "USD"),
        market_value=None,
    )


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("12345678", "****5678"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("12", "****"),
        ("", "****"),
    ],
)
def test_mask_account_number(number: str, masked: str) -> None:
    assert mask_account_number(number) == masked


@given(st.text(min_size=5))
def test_a_mask_shows_only_the_last_four_characters(number: str) -> None:
    assert mask_account_number(number) == "****" + number[-4:]


@given(st.text(max_size=4))
def test_a_number_of_four_characters_or_fewer_shows_nothing(number: str) -> None:
    assert mask_account_number(number) == "****"


def test_an_account_is_known_by_the_provider_s_id() -> None:
    account = Account("9F3A-HASH", mask_account_number("12345678"), AccountType.MARGIN, "USD")
    assert account.provider_account_id == "9F3A-HASH"
    assert account.masked_number == "****5678"
    assert account.name is None


def test_an_account_needs_the_provider_s_id() -> None:
    with pytest.raises(InvalidInput) as raised:
        Account("", "****5678", AccountType.CASH, "INR")
    assert field_of(raised) == "provider_account_id"


@pytest.mark.parametrize(
    ("quantity", "short"),
    [(Decimal(-10), True), (Decimal("-0.001"), True), (Decimal(0), False), (Decimal(10), False)],
)
def test_a_position_is_short_when_its_quantity_is_negative(quantity: Decimal, short: bool) -> None:
    assert position(quantity).is_short is short


def test_a_page_without_a_cursor_is_the_last() -> None:
    page: Page[int] = Page((1, 2, 3))
    assert page.items == (1, 2, 3)
    assert page.next_cursor is None


def test_a_page_with_a_cursor_has_more() -> None:
    assert Page((1,), next_cursor="c2").next_cursor == "c2"


def test_a_page_can_be_built_through_its_parametrized_alias() -> None:
    assert Page[int]((1,)).items == (1,)
