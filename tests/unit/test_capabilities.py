"""Capability maps (issue #6): a provider declares what it can do, and anything else is refused
as ``NotSupported`` before a call is made, with a code a client can switch on and a message that
says what the provider does take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.connections import IST
from dashcore.domain.errors import NotSupported
from dashcore.domain.orders import OrderType, Product, Validity
from tests.unit.test_orders_domain import order_request, prices_for

READ_ONLY = frozenset(
    {Operation.ACCOUNTS, Operation.BALANCES, Operation.HOLDINGS, Operation.POSITIONS}
)


def kite_like(**overrides: Any) -> CapabilityMap:
    """Every operation; market and limit orders; delivery and intraday; day and IOC."""
    fields: dict[str, Any] = {
        "operations": frozenset(Operation),
        "order_types": frozenset({OrderType.MARKET, OrderType.LIMIT}),
        "products": frozenset({Product.DELIVERY, Product.INTRADAY}),
        "validities": frozenset({Validity.DAY, Validity.IOC}),
        "client_reference": ClientReference.ECHOED,
    }
    fields.update(overrides)
    return CapabilityMap(**fields)


def test_defaults_are_no_push_and_twenty_character_references() -> None:
    capabilities = kite_like()
    assert capabilities.push_updates is False
    assert capabilities.max_client_reference_length == 20


@pytest.mark.parametrize("operation", list(Operation))
def test_supports_answers_from_the_declared_operations(operation: Operation) -> None:
    capabilities = kite_like(operations=READ_ONLY)
    assert capabilities.supports(operation) is (operation in READ_ONLY)


@pytest.mark.parametrize("operation", sorted(READ_ONLY))
def test_require_passes_a_declared_operation(operation: Operation) -> None:
    kite_like(operations=READ_ONLY).require(operation, "Groww")


@pytest.mark.parametrize("operation", sorted(frozenset(Operation) - READ_ONLY))
def test_require_refuses_an_undeclared_operation_naming_it(operation: Operation) -> None:
    with pytest.raises(NotSupported) as raised:
        kite_like(operations=READ_ONLY).require(operation, "Groww")
    assert raised.value.code == "not_supported"
    assert "Groww" in raised.value.message
    assert str(operation) in raised.value.message


def test_check_order_passes_an_order_the_provider_takes() -> None:
    kite_like().check_order(
        order_request(type=OrderType.LIMIT, limit_price=Decimal("187.25"), validity=Validity.IOC),
        "Zerodha",
    )


def test_check_order_needs_order_placement_first() -> None:
    with pytest.raises(NotSupported) as raised:
        kite_like(operations=READ_ONLY).check_order(order_request(), "Zerodha")
    assert raised.value.code == "not_supported"
    assert "place_order" in raised.value.message


@pytest.mark.parametrize(
    ("field", "request_fields", "supported"),
    [
        ("type", {"type": OrderType.STOP, "stop_price": Decimal("180")}, "limit, market"),
        ("product", {"product": Product.MARGIN}, "delivery, intraday"),
        ("validity", {"validity": Validity.GTC}, "day, ioc"),
    ],
)
def test_check_order_refuses_an_unsupported_field_listing_what_is_supported(
    field: str, request_fields: dict[str, Any], supported: str
) -> None:
    request = order_request(**request_fields)
    with pytest.raises(NotSupported) as raised:
        kite_like().check_order(request, "Zerodha")
    assert raised.value.code == f"unsupported_{field}"
    assert "Zerodha" in raised.value.message
    assert str(getattr(request, field)) in raised.value.message
    assert supported in raised.value.message


def test_check_order_names_the_first_unsupported_field() -> None:
    request = order_request(type=OrderType.STOP, stop_price=Decimal("180"), product=Product.MARGIN)
    with pytest.raises(NotSupported) as raised:
        kite_like().check_order(request, "Zerodha")
    assert raised.value.code == "unsupported_type"


def test_check_order_takes_a_reference_of_the_provider_s_maximum_length() -> None:
    kite_like(max_client_reference_length=10).check_order(
        order_request(client_reference="A" * 10), "Groww"
    )


def test_check_order_refuses_a_reference_longer_than_the_provider_keeps() -> None:
    with pytest.raises(NotSupported) as raised:
        kite_like(max_client_reference_length=10).check_order(
            order_request(client_reference="A" * 11), "Groww"
        )
    assert raised.value.code == "unsupported_client_reference"
    assert "10" in raised.value.message


@given(
    st.frozensets(st.sampled_from(OrderType)),
    st.frozensets(st.sampled_from(Product)),
    st.frozensets(st.sampled_from(Validity)),
    st.sampled_from(OrderType),
    st.sampled_from(Product),
    st.sampled_from(Validity),
)
def test_check_order_refuses_exactly_what_is_undeclared(
    order_types: frozenset[OrderType],
    products: frozenset[Product],
    validities: frozenset[Validity],
    order_type: OrderType,
    product: Product,
    validity: Validity,
) -> None:
    capabilities = kite_like(order_types=order_types, products=products, validities=validities)
    request = order_request(
        type=order_type, product=product, validity=validity, **prices_for(order_type)
    )
    missing = [
        name
        for name, value, supported in (
            ("type", order_type, order_types),
            ("product", product, products),
            ("validity", validity, validities),
        )
        if value not in supported
    ]
    if not missing:
        capabilities.check_order(request, "Upstox")
        return
    with pytest.raises(NotSupported) as raised:
        capabilities.check_order(request, "Upstox")
    assert raised.value.code == f"unsupported_{missing[0]}"


def test_a_day_order_book_holds_the_orders_of_its_calendar_day_only() -> None:
    """Kite, Upstox and Groww list the day's orders (the day in India): an order sent at
    23:59 IST is gone from the book read a minute later; a book with no day keeps it."""
    day_book = kite_like(day_order_book=IST)
    sent = datetime(2026, 11, 23, 18, 29, tzinfo=UTC)  # 23:59 IST
    assert day_book.lists_orders_sent_at(sent, sent + timedelta(seconds=59))
    assert not day_book.lists_orders_sent_at(sent, sent + timedelta(minutes=1))
    assert kite_like().lists_orders_sent_at(sent, sent + timedelta(days=9))
