"""Orders (issue #6): what an order request must satisfy before it reaches a provider, what a
modification must change, and the normalized status lifecycle every provider's reports are held
to (a move the lifecycle forbids is a provider bug to surface, never to follow)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import product
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.orders import (
    FINAL_STATUSES,
    Order,
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
    can_transition,
)
from tests.unit.test_instruments import equity, field_of

S = OrderStatus
ALL = frozenset(OrderStatus)
LIVE = frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.EXPIRED})
FINALS = (S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED)
PLACED_AT = datetime(2026, 3, 10, 9, 15, tzinfo=UTC)

# The lifecycle, written out independently of the implementation: where each status may go
# besides staying put.
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_SUBMIT: LIVE | {S.SUBMITTED, S.REJECTED, S.UNKNOWN},
    S.SUBMITTED: LIVE | {S.REJECTED, S.UNKNOWN},
    S.OPEN: (LIVE - {S.OPEN}) | {S.UNKNOWN},
    S.PARTIALLY_FILLED: (LIVE - {S.OPEN, S.PARTIALLY_FILLED}) | {S.UNKNOWN},
    S.CANCEL_REQUESTED: frozenset(
        {S.SUBMITTED, S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}
    ),
    S.UNKNOWN: ALL - {S.PENDING_SUBMIT, S.UNKNOWN},
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def matrix() -> list[Any]:
    cases = []
    for current, new in product(OrderStatus, OrderStatus):
        allowed = new is current or new in ALLOWED[current]
        cases.append(pytest.param(current, new, allowed, id=f"{current}->{new}"))
    return cases


def order_request(**overrides: Any) -> OrderRequest:
    """A valid market buy of one share; a test overrides the fields it is about."""
    fields: dict[str, Any] = {
        "provider_account_id": "ACC-1",
        "instrument": equity(),
        "side": OrderSide.BUY,
        "type": OrderType.MARKET,
        "quantity": Decimal(1),
        "client_reference": "dc-0001",
    }
    fields.update(overrides)
    return OrderRequest(**fields)


def order(status: OrderStatus = S.OPEN, **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "provider_order_id": "ORD-1",
        "provider_account_id": "ACC-1",
        "instrument": equity(),
        "side": OrderSide.BUY,
        "type": OrderType.LIMIT,
        "quantity": Decimal(10),
        "filled_quantity": Decimal(0),
        "status": status,
        "provider_status": status.upper(),
        "placed_at": PLACED_AT,
        "limit_price": Decimal("187.25"),
        "client_reference": "dc-0001",
    }
    fields.update(overrides)
    return Order(**fields)


def prices_for(order_type: OrderType) -> dict[str, Decimal]:
    """The prices a valid request of ``order_type`` carries."""
    prices = {}
    if order_type.needs_limit_price:
        prices["limit_price"] = Decimal("187.25")
    if order_type.needs_stop_price:
        prices["stop_price"] = Decimal("186.50")
    return prices


# --------------------------------------------------------------------------- order requests


@pytest.mark.parametrize("order_type", list(OrderType))
def test_a_request_with_the_prices_its_type_needs_is_valid(order_type: OrderType) -> None:
    request = order_request(type=order_type, **prices_for(order_type))
    assert request.product is Product.DELIVERY
    assert request.validity is Validity.DAY
    assert (request.limit_price is not None) is order_type.needs_limit_price
    assert (request.stop_price is not None) is order_type.needs_stop_price


def test_only_limit_and_stop_limit_need_a_limit_price_and_only_stops_a_stop_price() -> None:
    assert {t for t in OrderType if t.needs_limit_price} == {OrderType.LIMIT, OrderType.STOP_LIMIT}
    assert {t for t in OrderType if t.needs_stop_price} == {OrderType.STOP, OrderType.STOP_LIMIT}


@pytest.mark.parametrize(
    ("order_type", "with_limit", "with_stop"),
    list(product(OrderType, (False, True), (False, True))),
)
def test_prices_are_present_exactly_when_the_type_needs_them(
    order_type: OrderType, with_limit: bool, with_stop: bool
) -> None:
    prices: dict[str, Decimal] = {}
    if with_limit:
        prices["limit_price"] = Decimal("187.25")
    if with_stop:
        prices["stop_price"] = Decimal("186.50")
    limit_right = with_limit is order_type.needs_limit_price
    stop_right = with_stop is order_type.needs_stop_price
    if limit_right and stop_right:
        order_request(type=order_type, **prices)
        return
    with pytest.raises(InvalidInput) as raised:
        order_request(type=order_type, **prices)
    assert field_of(raised) == ("stop_price" if limit_right else "limit_price")


@pytest.mark.parametrize(
    ("lot", "quantity"),
    [
        (Decimal(1), Decimal(0)),
        (Decimal(1), Decimal(-5)),
        (Decimal(1), Decimal("1.5")),
        (Decimal(25), Decimal(30)),
        (Decimal(25), Decimal(-25)),
    ],
)
def test_the_quantity_is_a_positive_multiple_of_the_lot(lot: Decimal, quantity: Decimal) -> None:
    with pytest.raises(InvalidInput) as raised:
        order_request(instrument=equity(lot_size=lot), quantity=quantity)
    assert field_of(raised) == "quantity"
    assert str(lot) in raised.value.message


def test_whole_lots_are_accepted() -> None:
    nifty = equity(symbol="NIFTY26MARFUT", exchange="NFO", lot_size=Decimal(25))
    assert order_request(instrument=nifty, quantity=Decimal(75)).quantity == Decimal(75)


@pytest.mark.parametrize("name", ["limit_price", "stop_price"])
@pytest.mark.parametrize("price", [Decimal("2450.03"), Decimal(0), Decimal("-2450.05")])
def test_prices_sit_on_the_tick(name: str, price: Decimal) -> None:
    nse = equity(symbol="RELIANCE", exchange="NSE", tick_size=Decimal("0.05"))
    prices = {"limit_price": Decimal("2450.05"), "stop_price": Decimal("2449.95"), name: price}
    with pytest.raises(InvalidInput) as raised:
        order_request(instrument=nse, type=OrderType.STOP_LIMIT, **prices)
    assert field_of(raised) == name
    assert "0.05" in raised.value.message


@pytest.mark.parametrize("reference", ["x", "A" * 20])
def test_a_client_reference_of_one_to_twenty_characters_is_accepted(reference: str) -> None:
    assert order_request(client_reference=reference).client_reference == reference


@pytest.mark.parametrize("reference", ["", "A" * 21])
def test_a_client_reference_outside_one_to_twenty_characters_is_refused(reference: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        order_request(client_reference=reference)
    assert field_of(raised) == "client_reference"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", "1E+101"),
        ("limit_price", "NaN"),
        ("limit_price", "Infinity"),
    ],
)
def test_non_finite_quantities_and_prices_are_invalid_input(name: str, value: str) -> None:
    fields: dict[str, Any] = {"type": OrderType.LIMIT, "limit_price": Decimal("187.25")}
    fields[name] = Decimal(value)
    with pytest.raises(InvalidInput) as raised:
        order_request(**fields)
    assert field_of(raised) == name


# --------------------------------------------------------------------------- modifications


@pytest.mark.parametrize("name", ["quantity", "limit_price", "stop_price"])
def test_a_change_of_one_positive_field_is_valid(name: str) -> None:
    change = OrderChange(**{name: Decimal(5)})
    assert getattr(change, name) == Decimal(5)


def test_a_change_must_change_something() -> None:
    with pytest.raises(InvalidInput) as raised:
        OrderChange()
    assert field_of(raised) == "quantity"


@pytest.mark.parametrize("name", ["quantity", "limit_price", "stop_price"])
@pytest.mark.parametrize("value", [Decimal(0), Decimal("-0.05")])
def test_changed_fields_are_positive(name: str, value: Decimal) -> None:
    with pytest.raises(InvalidInput) as raised:
        OrderChange(**{"quantity": Decimal(5), name: value})
    assert field_of(raised) == name


@pytest.mark.parametrize("value", ["Infinity", "NaN"])
def test_a_non_finite_change_is_invalid_input(value: str) -> None:
    with pytest.raises(InvalidInput):
        OrderChange(limit_price=Decimal(value))


# --------------------------------------------------------------------------- lifecycle


def test_the_final_statuses() -> None:
    assert frozenset(FINALS) == FINAL_STATUSES
    assert {s for s in OrderStatus if s.is_final} == set(FINALS)


@pytest.mark.parametrize(("current", "new", "allowed"), matrix())
def test_transition_matrix(current: OrderStatus, new: OrderStatus, allowed: bool) -> None:
    assert can_transition(current, new) is allowed


@pytest.mark.parametrize("final", FINALS)
def test_a_final_status_has_no_exit(final: OrderStatus) -> None:
    assert [s for s in OrderStatus if s is not final and can_transition(final, s)] == []


def test_unknown_can_reach_every_status_but_pending_submit() -> None:
    assert {s for s in OrderStatus if can_transition(S.UNKNOWN, s)} == ALL - {S.PENDING_SUBMIT}


@pytest.mark.parametrize("current", sorted(ALL - FINAL_STATUSES))
def test_every_status_that_is_not_final_can_become_unknown(current: OrderStatus) -> None:
    assert can_transition(current, S.UNKNOWN)


def test_nothing_comes_back_to_pending_submit() -> None:
    assert [
        s for s in OrderStatus if s is not S.PENDING_SUBMIT and can_transition(s, S.PENDING_SUBMIT)
    ] == []


def test_a_fill_can_land_after_a_cancel_request() -> None:
    assert can_transition(S.CANCEL_REQUESTED, S.FILLED)
    assert can_transition(S.CANCEL_REQUESTED, S.PARTIALLY_FILLED)


def test_an_allowed_move_gives_the_same_order_in_the_new_status() -> None:
    before = order(S.OPEN)
    after = before.moved_to(S.PARTIALLY_FILLED, "PARTIALLY FILLED")
    assert after.status is S.PARTIALLY_FILLED
    assert after.provider_status == "PARTIALLY FILLED"
    assert after.provider_order_id == before.provider_order_id
    assert after.quantity == before.quantity
    assert before.status is S.OPEN


def test_a_repeated_report_keeps_the_status_and_records_the_provider_spelling() -> None:
    assert order(S.OPEN).moved_to(S.OPEN, "TRIGGER PENDING").provider_status == "TRIGGER PENDING"


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.FILLED, S.OPEN),
        (S.CANCELLED, S.FILLED),
        (S.REJECTED, S.SUBMITTED),
        (S.EXPIRED, S.UNKNOWN),
        (S.OPEN, S.PENDING_SUBMIT),
        (S.OPEN, S.REJECTED),
        (S.PARTIALLY_FILLED, S.OPEN),
    ],
)
def test_a_forbidden_move_is_a_conflict(current: OrderStatus, new: OrderStatus) -> None:
    with pytest.raises(Conflict) as raised:
        order(current).moved_to(new, new.upper())
    assert raised.value.code == "invalid_order_transition"
    assert str(current) in raised.value.message
    assert str(new) in raised.value.message


def test_pending_quantity_is_what_is_left_to_fill() -> None:
    partly = order(S.PARTIALLY_FILLED, quantity=Decimal(10), filled_quantity=Decimal("3.5"))
    assert partly.pending_quantity == Decimal("6.5")


class OrderLifecycle(RuleBasedStateMachine):
    """A provider reports arbitrary statuses for one order; the domain follows the allowed
    ones, refuses the rest without changing the order, and a final status is never left."""

    def __init__(self) -> None:
        super().__init__()
        self.order = order(S.PENDING_SUBMIT)
        self.final: OrderStatus | None = None
        self.left_pending = False

    @rule(status=st.sampled_from(OrderStatus))
    def provider_reports(self, status: OrderStatus) -> None:
        before = self.order
        if can_transition(before.status, status):
            self.order = before.moved_to(status, status.upper())
        else:
            with pytest.raises(Conflict):
                before.moved_to(status, status.upper())
            assert self.order is before
        if self.order.status.is_final and self.final is None:
            self.final = self.order.status
        if self.order.status is not S.PENDING_SUBMIT:
            self.left_pending = True

    @invariant()
    def a_final_status_is_never_left(self) -> None:
        if self.final is not None:
            assert self.order.status is self.final

    @invariant()
    def pending_submit_never_comes_back(self) -> None:
        if self.left_pending:
            assert self.order.status is not S.PENDING_SUBMIT


TestOrderLifecycle = OrderLifecycle.TestCase
