"""Trading (issue #8): our record of a placed order, its client reference, idempotency keys and
fingerprints, local validation before any broker call, the monotonic rule for broker reports,
keyset cursors and the order preview."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.instruments import Instrument, InstrumentKey
from dashcore.domain.money import Money
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderChange,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.trading import (
    CANCEL_CONFIRMATION_WINDOW,
    CHARGE_SCHEDULES,
    LIFECYCLE_RANK,
    IdempotencyKey,
    IdempotencyRecord,
    OrderCursor,
    OrderDraft,
    OrderFailure,
    OrderFilters,
    OrderPreview,
    PlacedOrder,
    client_reference_for,
    request_fingerprint,
    validate_order,
)
from tests.unit.test_instruments import INR, equity

S = OrderStatus
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
USER = UUID("00000000-0000-7000-8000-000000000001")
CONNECTION = UUID("00000000-0000-7000-8000-000000000002")
ORDER_ID = UUID("00000000-0000-7000-8000-000000000003")
INFY = equity(symbol="INFY", exchange="NSE", currency=INR, tick_size=Decimal("0.05"))
CAPS = CapabilityMap(
    operations=frozenset(Operation),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    products=frozenset({Product.DELIVERY, Product.INTRADAY}),
    validities=frozenset({Validity.DAY, Validity.IOC}),
    client_reference=ClientReference.ECHOED,
)


def draft(**overrides: Any) -> OrderDraft:
    fields: dict[str, Any] = {
        "account_id": "AB1234",
        "instrument": INFY.key,
        "side": OrderSide.BUY,
        "type": OrderType.LIMIT,
        "quantity": Decimal(10),
        "limit_price": Decimal("1500.05"),
    }
    fields.update(overrides)
    return OrderDraft(**fields)


def placed(**overrides: Any) -> PlacedOrder:
    order = PlacedOrder.create(
        ORDER_ID,
        USER,
        CONNECTION,
        "zerodha",
        draft().to_request(INFY, client_reference_for(ORDER_ID)),
        "k" * 64,
        NOW,
        NOW + timedelta(seconds=30),
    )
    return replace(order, **overrides)


def report(status: OrderStatus, filled: Decimal = Decimal(0), **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "provider_order_id": "240310000000001",
        "provider_account_id": "AB1234",
        "instrument": INFY,
        "side": OrderSide.BUY,
        "type": OrderType.LIMIT,
        "quantity": Decimal(10),
        "filled_quantity": filled,
        "status": status,
        "provider_status": str(status).upper(),
        "placed_at": NOW,
        "limit_price": Decimal("1500.05"),
        "client_reference": client_reference_for(ORDER_ID),
    }
    fields.update(overrides)
    return Order(**fields)


def fill(trade_id: str, quantity: int) -> Fill:
    return Fill(trade_id, "240310000000001", Decimal(quantity), Money.of("1500", "INR"), NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", 1.5), ("quantity", True), ("limit_price", 1500.05), ("stop_price", "1500")],
)
def test_a_draft_s_numbers_must_be_decimals(field: str, value: object) -> None:
    """Found by QA: a float quantity from an embedding service was an AttributeError."""
    with pytest.raises(InvalidInput) as refused:
        draft(**{field: value})
    assert [error.field for error in refused.value.errors] == [field]


def test_a_draft_s_whole_numbers_become_decimals() -> None:
    made = draft(quantity=10, limit_price=1500, stop_price=None)
    assert (made.quantity, made.limit_price) == (Decimal(10), Decimal(1500))
    assert type(made.quantity) is Decimal
    assert (
        made.canonical() == draft(quantity=Decimal("10.0"), limit_price=Decimal(1500)).canonical()
    )


# -- client references ---------------------------------------------------------------------


@given(st.uuids())
def test_a_client_reference_is_twenty_alphanumerics_derived_from_the_order_id(
    order_id: UUID,
) -> None:
    reference = client_reference_for(order_id)
    assert len(reference) == 20
    assert set(reference) <= set(string.ascii_uppercase + string.digits)
    assert client_reference_for(order_id) == reference


def test_sequential_ids_get_unrelated_references() -> None:
    references = {client_reference_for(UUID(int=(7 << 76) | n)) for n in range(10_000)}
    assert len(references) == 10_000


@pytest.mark.parametrize("length", [8, 12, 20])
def test_a_shorter_reference_is_a_prefix_of_the_full_one(length: int) -> None:
    assert client_reference_for(ORDER_ID).startswith(client_reference_for(ORDER_ID, length))


@pytest.mark.parametrize("length", [0, 7, 21])
def test_a_reference_length_outside_every_brokers_range_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="8 to 20"):
        client_reference_for(ORDER_ID, length)


# -- idempotency ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "~" * 255, "0b2f3c9e-4a1d-4c37-9a0e-5f0f0d1d2c3b", "!#$%"])
def test_idempotency_keys_are_one_to_255_visible_ascii_characters(value: str) -> None:
    assert IdempotencyKey(value).value == value


@pytest.mark.parametrize(
    "value", ["", "x" * 256, "has space", "tab\t", "new\nline", "é", "\x7f", "ｋｅｙ"]
)
def test_other_idempotency_keys_are_refused_naming_the_header(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        IdempotencyKey(value)
    assert raised.value.code == "invalid_idempotency_key"
    assert raised.value.errors[0].field == "Idempotency-Key"


def test_an_idempotency_key_is_stored_hashed_and_scoped_to_its_user() -> None:
    key = IdempotencyKey("retry-me")
    other_user = UUID("00000000-0000-7000-8000-0000000000ff")
    assert len(key.hash_for(USER)) == 64
    assert "retry-me" not in key.hash_for(USER)
    assert key.hash_for(USER) == IdempotencyKey("retry-me").hash_for(USER)
    assert key.hash_for(USER) != key.hash_for(other_user)
    assert "retry-me" not in repr(key)


def test_an_idempotency_record_lives_24_hours_and_refuses_another_fingerprint() -> None:
    record = IdempotencyRecord.create(USER, "h" * 64, "f" * 64, ORDER_ID, NOW)
    assert record.expires_at == NOW + timedelta(hours=24)
    assert not record.is_expired(NOW + timedelta(hours=23, minutes=59))
    assert record.is_expired(NOW + timedelta(hours=24))
    record.check_same_request("f" * 64)
    with pytest.raises(InvalidInput) as raised:
        record.check_same_request("e" * 64)
    assert raised.value.code == "idempotency_key_reused"


def test_the_fingerprint_ignores_how_numbers_are_written_but_not_what_they_say() -> None:
    same = request_fingerprint(CONNECTION, draft())
    assert same == request_fingerprint(
        CONNECTION, draft(quantity=Decimal("10.000"), limit_price=Decimal("1500.050"))
    )
    assert same == request_fingerprint(CONNECTION, draft(quantity=Decimal("1E+1")))
    assert len(same) == 64
    different = [
        request_fingerprint(UUID(int=5), draft()),
        request_fingerprint(CONNECTION, draft(quantity=Decimal(11))),
        request_fingerprint(CONNECTION, draft(side=OrderSide.SELL)),
        request_fingerprint(CONNECTION, draft(product=Product.INTRADAY)),
        request_fingerprint(CONNECTION, draft(instrument=InstrumentKey("INFY", "BSE"))),
        request_fingerprint(CONNECTION, draft(account_id="ZZ9999")),
        request_fingerprint(CONNECTION, draft(type=OrderType.MARKET, limit_price=None)),
    ]
    assert len({same, *different}) == len(different) + 1


def test_a_number_out_of_the_input_range_has_no_fingerprint_and_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        request_fingerprint(CONNECTION, draft(quantity=Decimal("1e999999999")))
    assert [error.field for error in caught.value.errors] == ["quantity"]


# -- validation ------------------------------------------------------------------------------


def fields_of(problems: list[Any]) -> list[str]:
    return [problem.field for problem in problems]


def test_a_good_order_has_no_problems() -> None:
    assert validate_order(draft(), INFY, CAPS) == []
    assert validate_order(draft(type=OrderType.MARKET, limit_price=None), INFY, CAPS) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": Decimal(0)}, "quantity"),
        ({"quantity": Decimal(-1)}, "quantity"),
        ({"quantity": Decimal("1.5")}, "quantity"),
        ({"quantity": Decimal("NaN")}, "quantity"),
        ({"quantity": Decimal("Infinity")}, "quantity"),
        ({"quantity": Decimal("1e309")}, "quantity"),
        ({"limit_price": None}, "limit_price"),
        ({"limit_price": Decimal("1500.03")}, "limit_price"),
        ({"limit_price": Decimal(0)}, "limit_price"),
        ({"limit_price": Decimal("-1500")}, "limit_price"),
        ({"limit_price": Decimal("NaN")}, "limit_price"),
        ({"type": OrderType.MARKET}, "limit_price"),
        ({"stop_price": Decimal(1400)}, "stop_price"),
        ({"type": OrderType.STOP, "limit_price": None, "stop_price": Decimal(1400)}, "type"),
        ({"product": Product.MARGIN}, "product"),
        ({"validity": Validity.GTC}, "validity"),
        ({"account_id": ""}, "account_id"),
    ],
)
def test_each_problem_names_its_field(changes: dict[str, Any], field: str) -> None:
    assert fields_of(validate_order(draft(**changes), INFY, CAPS)) == [field]


def test_a_quantity_must_be_whole_lots_of_the_instrument() -> None:
    nifty = equity(symbol="NIFTY26MARFUT", exchange="NFO", currency=INR, lot_size=Decimal(75))
    assert validate_order(draft(quantity=Decimal(150)), nifty, CAPS) == []
    assert fields_of(validate_order(draft(quantity=Decimal(100)), nifty, CAPS)) == ["quantity"]


def test_an_unknown_instrument_is_a_problem_and_the_rest_is_still_checked() -> None:
    problems = validate_order(draft(quantity=Decimal(0), product=Product.MARGIN), None, CAPS)
    assert fields_of(problems) == ["instrument", "quantity", "product"]


# -- the placed order --------------------------------------------------------------------------


def test_a_new_order_is_pending_submit_with_the_reference_of_its_id() -> None:
    order = placed()
    assert order.status is S.PENDING_SUBMIT
    assert order.client_reference == client_reference_for(ORDER_ID)
    assert order.account_id == "AB1234"
    assert order.version == 0
    assert order.submit_attempts == 0
    assert order.needs_reconciliation
    assert order.order_value == Decimal("15000.50")
    assert order.can_send(NOW)
    assert not order.can_send(NOW + timedelta(seconds=30))


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        placed(created_at=datetime(2026, 3, 10, 4, 0))  # noqa: DTZ001 (the point of the test)


def test_send_attempts_are_counted_and_stop_at_the_deadline() -> None:
    order = placed().send_attempted(NOW).send_attempted(NOW + timedelta(seconds=1))
    assert order.submit_attempts == 2
    with pytest.raises(Conflict) as raised:
        order.send_attempted(NOW + timedelta(seconds=30))
    assert raised.value.code == "order_not_sendable"


def test_an_accepted_order_is_bound_to_the_brokers_id_and_takes_its_state() -> None:
    later = NOW + timedelta(seconds=1)
    order = placed().accepted(report(S.OPEN), later)
    assert order.broker_order_id == "240310000000001"
    assert order.status is S.OPEN
    assert order.broker_status == "OPEN"
    assert order.status_changed_at == later
    assert order.updated_at == later


def test_a_lost_answer_makes_the_order_unknown_and_reconciliation_settles_it() -> None:
    failure = OrderFailure("order_state_unknown", "Kite did not confirm the order.")
    unknown = placed().state_unknown(NOW, failure)
    assert unknown.status is S.UNKNOWN
    assert unknown.last_error == failure
    settled = unknown.accepted(report(S.SUBMITTED), NOW + timedelta(seconds=5))
    assert settled.status is S.SUBMITTED
    assert settled.last_error is None


def test_a_deferred_look_is_counted_and_names_the_next_one() -> None:
    unknown = placed().state_unknown(NOW, OrderFailure("order_state_unknown", "No answer."))
    later = NOW + timedelta(seconds=61)
    deferred = unknown.reconcile_deferred(later, later + timedelta(seconds=1))
    assert deferred.status is S.UNKNOWN
    assert deferred.reconcile_attempts == 1
    assert deferred.reconcile_after == later + timedelta(seconds=1)
    assert deferred.status_changed_at == NOW  # the grace and the window still count from here
    settled = deferred.accepted(report(S.OPEN), later)
    assert settled.reconcile_deferred(later, later) is settled  # settled meanwhile: untouched


def test_an_order_bound_to_one_broker_order_refuses_another() -> None:
    order = placed().accepted(report(S.OPEN), NOW)
    with pytest.raises(Conflict) as raised:
        order.accepted(report(S.OPEN, provider_order_id="other"), NOW)
    assert raised.value.code == "broker_order_mismatch"
    with pytest.raises(Conflict):
        order.observed(report(S.FILLED, provider_order_id="other"), NOW)


def test_a_second_acceptance_of_the_same_broker_order_is_an_observation() -> None:
    order = placed().accepted(report(S.OPEN), NOW)
    assert order.accepted(report(S.SUBMITTED), NOW) is order  # the placer's answer came late


def test_a_rejection_is_final_and_keeps_the_reason() -> None:
    failure = OrderFailure("insufficient_margin", "Not enough funds." + "!" * 600)
    order = placed().rejected(NOW, failure)
    assert order.status is S.REJECTED
    assert order.last_error is not None
    assert len(order.last_error.message) == 500
    with pytest.raises(Conflict) as raised:
        order.accepted(report(S.OPEN), NOW)
    assert raised.value.code == "invalid_order_transition"
    assert order.state_unknown(NOW, failure) is order  # a lost answer arriving late


def test_failure_codes_are_bounded() -> None:
    with pytest.raises(ValueError, match="1-64"):
        OrderFailure("", "no code")
    with pytest.raises(ValueError, match="1-64"):
        OrderFailure("x" * 65, "too long")


def test_a_cancel_needs_a_broker_order_and_completes_when_the_broker_confirms() -> None:
    with pytest.raises(Conflict) as raised:
        placed().cancel_requested(NOW)
    assert raised.value.code == "order_not_cancellable"
    order = placed().accepted(report(S.OPEN), NOW).cancel_requested(NOW)
    assert order.status is S.CANCEL_REQUESTED
    assert order.observed(report(S.OPEN), NOW) is order  # the state before the cancel landed
    assert order.observed(report(S.CANCELLED), NOW).status is S.CANCELLED


def test_a_refused_cancel_returns_to_what_the_broker_says() -> None:
    order = placed().accepted(report(S.OPEN), NOW).cancel_requested(NOW)
    assert order.cancel_refused(report(S.OPEN), NOW).status is S.OPEN


def test_a_live_report_is_taken_for_one_before_the_cancel_only_within_the_window() -> None:
    order = placed().accepted(report(S.OPEN), NOW).cancel_requested(NOW)
    just_before = NOW + CANCEL_CONFIRMATION_WINDOW - timedelta(microseconds=1)
    assert order.observed(report(S.OPEN), just_before) is order
    assert order.observed(report(S.SUBMITTED), just_before) is order
    live = order.observed(report(S.OPEN), NOW + CANCEL_CONFIRMATION_WINDOW)
    assert (live.status, live.status_changed_at) == (S.OPEN, NOW + CANCEL_CONFIRMATION_WINDOW)
    filled = order.observed(report(S.FILLED, Decimal(10)), just_before)
    assert filled.status is S.FILLED  # a final state is never held back
    accepted = order.observed(report(S.SUBMITTED), NOW + CANCEL_CONFIRMATION_WINDOW)
    assert accepted.status is S.SUBMITTED  # not yet open at the broker: live again all the same


def test_a_cancel_turned_away_unread_returns_the_order_to_where_it_was() -> None:
    for before in (S.SUBMITTED, S.OPEN, S.PARTIALLY_FILLED):
        order = placed().accepted(report(before, Decimal(before is S.PARTIALLY_FILLED)), NOW)
        requested = order.cancel_requested(NOW)
        assert requested.cancel_not_taken(before, NOW).status is before
    filled = requested.observed(report(S.FILLED, Decimal(10)), NOW)
    assert filled.cancel_not_taken(S.PARTIALLY_FILLED, NOW) is filled  # a report moved it on


def test_a_filled_order_cannot_be_cancelled() -> None:
    order = placed().accepted(report(S.FILLED, Decimal(10)), NOW)
    with pytest.raises(Conflict):
        order.cancel_requested(NOW)


def test_fills_are_merged_by_trade_id_and_the_filled_quantity_never_drops() -> None:
    order = placed().accepted(report(S.PARTIALLY_FILLED, Decimal(4), fills=(fill("t1", 4),)), NOW)
    again = order.observed(
        report(S.PARTIALLY_FILLED, Decimal(6), fills=(fill("t1", 4), fill("t2", 2))), NOW
    )
    assert [f.trade_id for f in again.fills] == ["t1", "t2"]
    assert again.filled_quantity == Decimal(6)
    assert again.observed(report(S.PARTIALLY_FILLED, Decimal(4)), NOW) is again


def test_out_of_order_reports_never_undo_a_final_state() -> None:
    filled = placed().accepted(report(S.FILLED, Decimal(10)), NOW)
    for stale in (S.OPEN, S.SUBMITTED, S.PARTIALLY_FILLED, S.CANCEL_REQUESTED):
        assert filled.observed(report(stale), NOW) is filled


def test_broker_time_decides_when_both_sides_have_one() -> None:
    t1, t2 = NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)
    order = placed().accepted(report(S.OPEN), NOW).observed(report(S.OPEN), NOW, t2)
    assert order.broker_updated_at == t2
    assert order.observed(report(S.FILLED, Decimal(10)), NOW, t1) is order  # older: ignored
    newer_partial = order.observed(report(S.PARTIALLY_FILLED, Decimal(2)), NOW, t2 + t2.resolution)
    assert newer_partial.status is S.PARTIALLY_FILLED


def test_a_newer_report_the_lifecycle_forbids_is_a_broker_bug_surfaced() -> None:
    t1 = NOW + timedelta(seconds=1)
    filled = placed().accepted(report(S.OPEN), NOW).observed(report(S.FILLED, Decimal(10)), NOW, t1)
    with pytest.raises(Conflict) as raised:
        filled.observed(report(S.OPEN), NOW, t1 + timedelta(seconds=1))
    assert raised.value.code == "invalid_order_transition"


statuses = st.sampled_from(sorted(set(OrderStatus) - {S.PENDING_SUBMIT}))


@given(st.lists(st.tuples(statuses, st.integers(0, 10)), min_size=1, max_size=12))
def test_any_sequence_of_reports_never_lowers_rank_or_fills(
    reports: list[tuple[OrderStatus, int]],
) -> None:
    order = placed().accepted(report(S.SUBMITTED), NOW)
    for status, quantity in reports:
        before = order
        try:
            order = order.observed(report(status, Decimal(quantity)), NOW)
        except Conflict:
            continue
        assert LIFECYCLE_RANK[order.status] >= LIFECYCLE_RANK[before.status]
        assert order.filled_quantity >= before.filled_quantity
        if before.is_final:  # a final order only learns more of its fills
            assert order.status is before.status


def test_a_modification_replacing_the_broker_order_carries_what_filled() -> None:
    order = placed().accepted(report(S.PARTIALLY_FILLED, Decimal(4)), NOW)
    change = OrderChange(quantity=Decimal(12), limit_price=Decimal("1499.95"))
    replaced = order.modified(
        change,
        report(S.OPEN, Decimal(0), provider_order_id="replacement", quantity=Decimal(8)),
        NOW,
    )
    assert replaced.broker_order_id == "replacement"
    assert replaced.request.quantity == Decimal(12)
    assert replaced.request.limit_price == Decimal("1499.95")
    assert replaced.filled_quantity == Decimal(4)
    assert replaced.carried_quantity == Decimal(4)
    done = replaced.observed(
        report(S.FILLED, Decimal(8), provider_order_id="replacement", quantity=Decimal(8)), NOW
    )
    assert done.filled_quantity == Decimal(12)


def test_a_replacement_we_did_not_bind_is_followed_with_what_filled_before() -> None:
    """The answer to a modification was lost: the bound broker order ends replaced, having
    filled 4 (the 4th after our last look), and a new one of 8 at 1490 works the rest."""
    order = placed().accepted(report(S.PARTIALLY_FILLED, Decimal(3), fills=(fill("t1", 3),)), NOW)
    old = report(
        S.CANCELLED, Decimal(4), fills=(fill("t1", 3), fill("t2", 1)), replaced_by="replacement"
    )
    new = report(
        S.OPEN, provider_order_id="replacement", quantity=Decimal(8), limit_price=Decimal(1490)
    )
    followed = order.replaced(old, new, NOW)
    assert (followed.status, followed.broker_order_id) == (S.PARTIALLY_FILLED, "replacement")
    assert (followed.request.quantity, followed.request.limit_price) == (12, 1490)
    assert (followed.carried_quantity, followed.filled_quantity) == (4, 4)
    assert [f.trade_id for f in followed.fills] == ["t1", "t2"]
    with pytest.raises(Conflict):
        order.replaced(replace(old, replaced_by="elsewhere"), new, NOW)


def test_a_replaced_order_asks_its_broker_order_for_the_rest_only() -> None:
    order = placed().accepted(report(S.PARTIALLY_FILLED, Decimal(4)), NOW)
    unchanged = OrderChange(quantity=Decimal(12))
    assert order.broker_change(unchanged) is unchanged  # nothing carried yet
    replaced = order.modified(
        unchanged,
        report(S.OPEN, Decimal(0), provider_order_id="replacement", quantity=Decimal(8)),
        NOW,
    )
    assert replaced.broker_change(OrderChange(quantity=Decimal(10))) == OrderChange(
        quantity=Decimal(6)
    )
    price_only = OrderChange(limit_price=Decimal("1499.95"))
    assert replaced.broker_change(price_only) is price_only
    with pytest.raises(InvalidInput) as refused:
        replaced.broker_change(OrderChange(quantity=Decimal(4)))
    assert refused.value.errors[0].field == "quantity"


def test_a_modification_in_place_keeps_the_broker_id() -> None:
    order = placed().accepted(report(S.OPEN), NOW)
    changed = order.modified(
        OrderChange(limit_price=Decimal("1490")), report(S.OPEN, limit_price=Decimal(1490)), NOW
    )
    assert changed.broker_order_id == order.broker_order_id
    assert changed.carried_quantity == 0
    assert changed.request.limit_price == Decimal(1490)


def test_a_modification_moves_updated_at_even_when_the_report_is_unchanged() -> None:
    order = placed().accepted(report(S.OPEN), NOW)
    later = NOW + timedelta(seconds=5)
    changed = order.modified(OrderChange(quantity=Decimal(12)), report(S.OPEN), later)
    assert changed.request.quantity == Decimal(12)
    assert changed.updated_at == later
    assert changed.status_changed_at == order.status_changed_at


def test_a_modification_off_the_tick_is_refused() -> None:
    order = placed().accepted(report(S.OPEN), NOW)
    with pytest.raises(InvalidInput):
        order.modified(OrderChange(limit_price=Decimal("1490.01")), report(S.OPEN), NOW)


# -- listing ---------------------------------------------------------------------------------


def test_filters_narrow_by_each_field() -> None:
    order = placed()
    assert OrderFilters().matches(order)
    assert OrderFilters(statuses=frozenset({S.PENDING_SUBMIT}), symbol="INFY").matches(order)
    assert not OrderFilters(statuses=frozenset({S.OPEN})).matches(order)
    assert not OrderFilters(connection_id=ORDER_ID).matches(order)
    assert not OrderFilters(side=OrderSide.SELL).matches(order)
    assert not OrderFilters(created_from=NOW + timedelta(seconds=1)).matches(order)
    assert not OrderFilters(created_before=NOW).matches(order)


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_a_cursor_round_trips_through_its_text(created_at: datetime, order_id: UUID) -> None:
    cursor = OrderCursor(created_at, order_id)
    assert OrderCursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text", ["", "not-base64!", "aGVsbG8", "MjAyNnx4", "MjAyNi0wMy0xMFQwNDowMHx4"]
)
def test_a_malformed_cursor_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        OrderCursor.decode(text)
    assert raised.value.errors[0].field == "cursor"


# -- preview ---------------------------------------------------------------------------------


def test_a_preview_prices_a_limit_order_at_its_limit() -> None:
    preview = OrderPreview.of(
        draft(),
        [],
        instrument=INFY,
        last_price=Money.of("1400", "INR"),
        charges=CHARGE_SCHEDULES["zerodha"],
        position=Decimal(5),
        cash=Money.of("100000", "INR"),
    )
    assert preview.is_valid
    assert preview.estimated_cost == Money.of("15000.50", "INR")
    # brokerage 0.03 % = 4.50015, STT 0.1 % = 15.0005 → 19.50
    assert preview.estimated_charges == Money.of("19.50", "INR")
    assert preview.projected_position == Decimal(15)
    assert preview.projected_cash == Money.of("84980.00", "INR")


def test_a_preview_prices_a_market_sale_at_the_last_price() -> None:
    preview = OrderPreview.of(
        draft(
            type=OrderType.MARKET, limit_price=None, side=OrderSide.SELL, product=Product.INTRADAY
        ),
        [],
        instrument=INFY,
        last_price=Money.of("100000", "INR"),
        charges=CHARGE_SCHEDULES["zerodha"],
        position=Decimal(10),
        cash=Money.of("0", "INR"),
    )
    assert preview.estimated_cost == Money.of("1000000", "INR")
    # brokerage capped at 20, intraday sell STT 0.025 % = 250
    assert preview.estimated_charges == Money.of("270.00", "INR")
    assert preview.projected_position == Decimal(0)
    assert preview.projected_cash == Money.of("999730.00", "INR")


def test_a_preview_without_a_price_or_instrument_keeps_only_the_problems() -> None:
    market = draft(type=OrderType.MARKET, limit_price=None)
    bare = OrderPreview.of(
        market, [], instrument=INFY, last_price=None, charges=None, position=None, cash=None
    )
    assert bare == OrderPreview(())
    problems = validate_order(draft(), None, CAPS)
    unknown = OrderPreview.of(
        draft(), problems, instrument=None, last_price=None, charges=None, position=None, cash=None
    )
    assert not unknown.is_valid
    assert unknown.estimated_cost is None


def test_a_preview_never_mixes_currencies() -> None:
    preview = OrderPreview.of(
        draft(),
        [],
        instrument=INFY,
        last_price=None,
        charges=None,
        position=None,
        cash=Money.of("100", "USD"),
    )
    assert preview.estimated_cost == Money.of("15000.50", "INR")
    assert preview.estimated_charges is None
    assert preview.projected_cash is None
    assert isinstance(INFY, Instrument)


def test_a_changed_request_is_checked_like_a_new_one() -> None:
    order = placed().accepted(report(S.PARTIALLY_FILLED, Decimal(4)), NOW)
    assert order.changed_request(OrderChange(quantity=Decimal(4))).quantity == Decimal(4)
    with pytest.raises(InvalidInput) as raised:
        order.changed_request(OrderChange(quantity=Decimal(3)))
    assert raised.value.errors[0].field == "quantity"
    with pytest.raises(InvalidInput) as raised:
        order.changed_request(OrderChange(limit_price=Decimal("1500.01")))
    assert raised.value.errors[0].field == "limit_price"


def test_a_flag_records_why_without_moving_the_status() -> None:
    failure = OrderFailure("needs_review", "Look at it.")
    order = placed().state_unknown(NOW, OrderFailure("order_state_unknown", "Lost."))
    flagged = order.flagged(NOW + timedelta(seconds=1), failure)
    assert flagged.status is S.UNKNOWN
    assert flagged.last_error == failure
    assert flagged.flagged(NOW + timedelta(seconds=2), failure) is flagged


# -- terms the broker runs ----------------------------------------------------------------


def test_a_report_asked_for_before_the_order_was_last_saved_leaves_its_terms() -> None:
    order = placed(broker_order_id="240310000000001", status=S.OPEN)
    grown = report(S.OPEN, quantity=Decimal(12), limit_price=Decimal("1500.50"))

    saved_since = order.version - 1  # a modification was saved after the report was asked for
    assert order.observed(grown, NOW, asked_at_version=saved_since).request == order.request
    assert order.observed(grown, NOW).request == order.request  # no instant asked: not followed
    followed = order.observed(grown, NOW, asked_at_version=order.version)
    assert (followed.request.quantity, followed.request.limit_price) == (12, Decimal("1500.50"))
    assert followed.estimated_value == Decimal("18006.00")
    filled = report(S.FILLED, Decimal(12), quantity=Decimal(12))  # the broker's last word
    assert order.observed(filled, NOW, asked_at_version=saved_since).request.quantity == 12


def test_terms_the_order_cannot_take_are_the_brokers_bug_and_left_as_they_are() -> None:
    order = placed(broker_order_id="240310000000001", status=S.OPEN)
    off_tick = report(S.OPEN, limit_price=Decimal("1500.01"))
    without_price = report(S.OPEN, limit_price=None)
    for odd in (off_tick, without_price):
        assert order.observed(odd, NOW, asked_at_version=0).request == order.request


def test_a_partly_filled_replacement_adds_what_the_old_one_filled() -> None:
    order = placed(
        broker_order_id="240310000000001",
        status=S.PARTIALLY_FILLED,
        carried_quantity=Decimal(4),
        filled_quantity=Decimal(4),
        request=replace(placed().request, quantity=Decimal(10)),
    )
    same = report(S.OPEN, quantity=Decimal(6))  # 4 carried + 6: the terms it has
    assert order.observed(same, NOW, asked_at_version=0).request.quantity == Decimal(10)
    more = report(S.OPEN, quantity=Decimal(8))
    assert order.observed(more, NOW, asked_at_version=0).request.quantity == Decimal(12)
