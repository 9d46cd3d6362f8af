"""Order placement, matching, modification and cancellation on the exchange engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import (
    Exchange,
    OrderKind,
    Product,
    Side,
    SimOrder,
    SimStatus,
    Validity,
)
from tests.unit.brokers.exchange.support import ACCOUNT, START, us_exchange

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP, STOP_LIMIT = OrderKind


def buy(exchange: Exchange, quantity: str, kind: OrderKind = MARKET, **terms: object) -> SimOrder:
    return exchange.place(
        ACCOUNT, symbol="ACME", side=BUY, quantity=D(quantity), kind=kind, **terms
    )  # type: ignore[arg-type]


def sell(exchange: Exchange, quantity: str, kind: OrderKind = MARKET, **terms: object) -> SimOrder:
    return exchange.place(
        ACCOUNT, symbol="ACME", side=SELL, quantity=D(quantity), kind=kind, **terms
    )  # type: ignore[arg-type]


# Validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"quantity": D(0)}, "quantity must be positive"),
        ({"quantity": D(-5)}, "quantity must be positive"),
        ({"quantity": D("NaN")}, "quantity must be positive"),
        ({"kind": LIMIT}, "a LIMIT order needs a price"),
        ({"kind": STOP}, "a STOP order needs a trigger price"),
        ({"kind": STOP_LIMIT, "price": D(101)}, "a STOP_LIMIT order needs a trigger price"),
        ({"kind": STOP_LIMIT, "trigger_price": D(101)}, "a STOP_LIMIT order needs a price"),
        ({"price": D(100)}, "a MARKET order takes no price"),
        ({"kind": LIMIT, "price": D(99), "trigger_price": D(98)}, "takes no trigger price"),
        ({"kind": LIMIT, "price": D("99.005")}, "price must be a multiple of the tick size 0.01"),
        ({"kind": LIMIT, "price": D(0)}, "price must be a positive number"),
        ({"kind": STOP, "trigger_price": D(-1)}, "trigger price must be a positive number"),
        ({"kind": LIMIT, "price": D("Infinity")}, "price must be a positive number"),
    ],
)
def test_invalid_orders_are_recorded_as_rejected_with_the_reason(
    us: Exchange, terms: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"symbol": "ACME", "side": BUY, "quantity": D(1), "kind": MARKET}
    order = us.place(ACCOUNT, **(fields | terms))  # type: ignore[arg-type]

    assert order.status is SimStatus.REJECTED
    assert message in order.status_message
    assert order.filled_quantity == 0
    assert us.orders(ACCOUNT) == [order]
    assert us.account(ACCOUNT).cash == D(100_000)


def test_an_unknown_instrument_is_rejected_not_raised(us: Exchange) -> None:
    order = us.place(ACCOUNT, symbol="NOPE", side=BUY, quantity=D(1), kind=MARKET)

    assert order.status is SimStatus.REJECTED
    assert order.status_message == "unknown instrument: NOPE"
    assert order.instrument.symbol == "NOPE"


def test_a_quantity_off_the_lot_size_is_rejected(india: Exchange) -> None:
    off = india.place(ACCOUNT, symbol="LOT", side=BUY, quantity=D(30), kind=MARKET)
    whole = india.place(ACCOUNT, symbol="LOT", side=BUY, quantity=D(50), kind=MARKET)

    assert off.status is SimStatus.REJECTED
    assert off.status_message == "quantity must be a multiple of the lot size 25"
    assert whole.status is SimStatus.FILLED


def test_a_price_off_the_indian_tick_is_rejected(india: Exchange) -> None:
    off = india.place(
        ACCOUNT, symbol="TATA", side=BUY, quantity=D(1), kind=LIMIT, price=D("499.03")
    )
    on = india.place(ACCOUNT, symbol="TATA", side=BUY, quantity=D(1), kind=LIMIT, price=D("499.05"))

    assert off.status is SimStatus.REJECTED
    assert "tick size 0.05" in off.status_message
    assert on.status is SimStatus.OPEN


def test_a_delivery_buy_beyond_the_buying_power_is_rejected(us: Exchange) -> None:
    order = buy(us, "1001")  # 100,100.00 > 100,000.00

    assert order.status is SimStatus.REJECTED
    assert order.status_message.startswith("insufficient funds")
    assert buy(us, "1000").status is SimStatus.FILLED


def test_open_delivery_buys_block_cash_for_later_ones(us: Exchange) -> None:
    resting = buy(us, "600", LIMIT, price=D(90))

    assert us.account(ACCOUNT).margin_used == D(54_000)
    assert buy(us, "500").status is SimStatus.REJECTED
    assert buy(us, "400").status is SimStatus.FILLED

    us.cancel(resting.id)

    assert us.account(ACCOUNT).margin_used == 0


def test_a_delivery_sell_beyond_the_holding_is_rejected(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(10), D(80))

    too_many = sell(us, "11")

    assert too_many.status is SimStatus.REJECTED
    assert too_many.status_message == "insufficient holdings: 10 ACME available to sell"
    assert sell(us, "10").status is SimStatus.FILLED


def test_open_delivery_sells_hold_shares_back_from_later_ones(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(10), D(80))
    sell(us, "6", LIMIT, price=D(120))

    assert sell(us, "5").status is SimStatus.REJECTED
    assert sell(us, "4").status is SimStatus.FILLED


def test_a_margin_account_may_buy_up_to_twice_its_cash(clock: FakeClock) -> None:
    exchange = us_exchange(clock)
    exchange.open_account("m", number="2", kind="MARGIN", cash=D(1_000))

    over = exchange.place("m", symbol="ACME", side=BUY, quantity=D(21), kind=MARKET)
    within = exchange.place("m", symbol="ACME", side=BUY, quantity=D(20), kind=MARKET)

    assert over.status is SimStatus.REJECTED
    assert within.status is SimStatus.FILLED
    assert exchange.account("m").cash == D(-1_000)


def test_placing_for_an_unknown_account_raises(us: Exchange) -> None:
    with pytest.raises(KeyError, match="unknown account"):
        us.place("ghost", symbol="ACME", side=BUY, quantity=D(1), kind=MARKET)


# Matching -------------------------------------------------------------------------------------


def test_a_market_order_fills_at_once_at_the_last_price(us: Exchange, clock: FakeClock) -> None:
    order = buy(us, "10", tag="client-1")

    assert order.status is SimStatus.FILLED
    assert order.filled_quantity == D(10)
    assert order.pending_quantity == 0
    assert order.average_price == D(100)
    [fill] = order.fills
    assert (fill.quantity, fill.price, fill.charges, fill.at) == (D(10), D(100), D(0), START)
    assert us.fills(ACCOUNT) == [fill]


def test_a_limit_buy_rests_until_the_price_falls_to_it(us: Exchange) -> None:
    order = buy(us, "10", LIMIT, price=D("95.00"))
    assert order.status is SimStatus.OPEN
    assert order.pending_quantity == D(10)

    assert us.set_price("ACME", D("96.00")) == []
    fills = us.set_price("ACME", D("94.50"))

    assert order.status is SimStatus.FILLED
    assert [(f.quantity, f.price) for f in fills] == [(D(10), D("94.50"))]


def test_a_marketable_limit_order_fills_at_the_better_last_price(us: Exchange) -> None:
    bought = buy(us, "5", LIMIT, price=D(105))
    sold = sell(us, "5", LIMIT, price=D(95))

    assert bought.average_price == D(100)
    assert sold.average_price == D(100)


def test_a_limit_sell_rests_until_the_price_rises_to_it(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(10), D(80))
    order = sell(us, "10", LIMIT, price=D(110))

    us.set_price("ACME", D("109.99"))
    assert order.status is SimStatus.OPEN
    us.set_price("ACME", D(110))
    assert order.status is SimStatus.FILLED
    assert order.average_price == D(110)


def test_a_stop_buy_waits_for_its_trigger_then_fills_as_market(us: Exchange) -> None:
    order = buy(us, "3", STOP, trigger_price=D(105))
    assert order.status is SimStatus.TRIGGER_PENDING

    us.set_price("ACME", D("104.99"))
    assert order.status is SimStatus.TRIGGER_PENDING
    us.set_price("ACME", D(106))

    assert order.status is SimStatus.FILLED
    assert order.average_price == D(106)


def test_a_stop_sell_triggers_when_the_price_falls_to_it(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(3), D(80))
    order = sell(us, "3", STOP, trigger_price=D(95))

    us.set_price("ACME", D(95))

    assert order.status is SimStatus.FILLED
    assert order.average_price == D(95)


def test_a_stop_already_reached_at_placement_triggers_at_once(us: Exchange) -> None:
    assert buy(us, "1", STOP, trigger_price=D(100)).status is SimStatus.FILLED


def test_a_stop_limit_becomes_a_limit_order_once_triggered(us: Exchange) -> None:
    order = buy(us, "2", STOP_LIMIT, trigger_price=D(105), price=D(106))

    us.set_price("ACME", D(107))  # triggers; 107 is above the limit
    assert order.status is SimStatus.OPEN
    us.set_price("ACME", D(106))

    assert order.status is SimStatus.FILLED
    assert order.average_price == D(106)


def test_resting_orders_fill_in_time_priority_under_limited_liquidity(clock: FakeClock) -> None:
    exchange = us_exchange(clock, liquidity=D(4))
    first = buy(exchange, "3", LIMIT, price=D(90))
    second = buy(exchange, "3", LIMIT, price=D(90))

    exchange.set_price("ACME", D(90))

    assert (first.status, first.filled_quantity) == (SimStatus.FILLED, D(3))
    assert (second.status, second.filled_quantity) == (SimStatus.PARTIALLY_FILLED, D(1))
    assert second.pending_quantity == D(2)


def test_liquidity_fills_a_market_order_over_several_price_moves(clock: FakeClock) -> None:
    exchange = us_exchange(clock, liquidity=D(4))
    order = buy(exchange, "10")

    assert (order.status, order.filled_quantity) == (SimStatus.PARTIALLY_FILLED, D(4))
    exchange.set_price("ACME", D(102))
    assert (order.status, order.filled_quantity) == (SimStatus.PARTIALLY_FILLED, D(8))
    exchange.set_price("ACME", D(101))

    assert order.status is SimStatus.FILLED
    assert [f.quantity for f in order.fills] == [D(4), D(4), D(2)]
    assert order.average_price == (D(400) + D(408) + D(202)) / D(10)


def test_liquidity_fills_whole_lots_only(clock: FakeClock) -> None:
    exchange = Exchange(clock, currency="USD", liquidity=D(60))
    from dashcore_brokers.sandbox.exchange import AssetClass, SimInstrument

    exchange.add_instrument(
        SimInstrument("LOTS", "NYSE", "USD", AssetClass.EQUITY, lot_size=D(25)), D(10)
    )
    exchange.open_account(ACCOUNT, number="1", cash=D(10_000))

    order = exchange.place(ACCOUNT, symbol="LOTS", side=BUY, quantity=D(100), kind=MARKET)

    assert order.filled_quantity == D(50)


def test_ioc_cancels_what_does_not_fill_at_once(clock: FakeClock) -> None:
    exchange = us_exchange(clock, liquidity=D(4))

    partial = buy(exchange, "10", validity=Validity.IOC)
    unmarketable = buy(exchange, "1", LIMIT, price=D(90), validity=Validity.IOC)

    assert (partial.status, partial.filled_quantity) == (SimStatus.CANCELLED, D(4))
    assert partial.cancelled_quantity == D(6)
    assert (unmarketable.status, unmarketable.filled_quantity) == (SimStatus.CANCELLED, D(0))
    assert exchange.set_price("ACME", D(80)) == []


def test_an_ioc_stop_is_cancelled_only_after_it_triggers(us: Exchange) -> None:
    order = buy(us, "1", STOP_LIMIT, trigger_price=D(105), price=D(105), validity=Validity.IOC)
    assert order.status is SimStatus.TRIGGER_PENDING

    us.set_price("ACME", D(107))

    assert order.status is SimStatus.CANCELLED


def test_order_ids_are_increasing_numeric_strings(us: Exchange) -> None:
    ids = [buy(us, "1").id, buy(us, "0").id, buy(us, "1", LIMIT, price=D(1)).id]

    assert ids == ["1", "2", "3"]


def test_an_order_is_found_again_by_its_tag(us: Exchange) -> None:
    buy(us, "1", tag="ref-1")
    latest = buy(us, "2", tag="ref-1")
    buy(us, "3", tag="ref-2")

    assert us.find_by_tag(ACCOUNT, "ref-1") is latest
    assert us.find_by_tag(ACCOUNT, "ref-9") is None


def test_a_symbol_listed_twice_shares_one_price_and_one_holding(india: Exchange) -> None:
    from dashcore_brokers.sandbox.exchange import AssetClass, SimInstrument

    india.add_instrument(
        SimInstrument("TATA", "BSE", "INR", AssetClass.EQUITY, tick_size=D("0.05")), D(501)
    )
    on_bse = india.place(
        ACCOUNT, symbol="TATA", side=BUY, quantity=D(2), kind=MARKET, exchange="BSE"
    )
    on_nse = india.place(ACCOUNT, symbol="TATA", side=BUY, quantity=D(1), kind=MARKET)

    assert on_bse.instrument.exchange == "BSE"
    assert on_nse.instrument.exchange == "NSE"
    assert india.last_price("TATA") == D(501)
    assert india.account(ACCOUNT).holdings["TATA"].quantity == D(3)
    assert india.instrument("TATA", "BSE").exchange == "BSE"
    with pytest.raises(KeyError):
        india.instrument("TATA", "MCX")


# Modify and cancel ----------------------------------------------------------------------------


def test_modify_changes_a_resting_order_and_matches_it_again(
    us: Exchange, clock: FakeClock
) -> None:
    order = buy(us, "10", LIMIT, price=D(90))
    clock.advance(seconds=5)

    us.modify(order.id, quantity=D(12))
    assert (order.quantity, order.status, order.updated_at) == (D(12), SimStatus.OPEN, clock.now())
    us.modify(order.id, price=D(100))

    assert order.status is SimStatus.FILLED
    assert order.filled_quantity == D(12)


def test_modify_moves_a_pending_trigger(us: Exchange) -> None:
    order = buy(us, "1", STOP, trigger_price=D(110))

    us.modify(order.id, trigger_price=D(100))

    assert order.status is SimStatus.FILLED


def test_modify_refuses_bad_terms(clock: FakeClock) -> None:
    exchange = us_exchange(clock, liquidity=D(4))
    partial = buy(exchange, "10")
    limit = buy(exchange, "1", LIMIT, price=D(50))

    with pytest.raises(ValueError, match="must exceed the filled quantity"):
        exchange.modify(partial.id, quantity=D(4))
    with pytest.raises(ValueError, match="MARKET order has no limit price"):
        exchange.modify(partial.id, price=D(99))
    with pytest.raises(ValueError, match="trigger"):
        exchange.modify(limit.id, trigger_price=D(60))
    with pytest.raises(ValueError, match="tick size"):
        exchange.modify(limit.id, price=D("50.001"))
    with pytest.raises(ValueError, match="insufficient funds"):
        exchange.modify(limit.id, quantity=D(10_000))
    assert (limit.quantity, limit.price) == (D(1), D(50))


def test_modify_refuses_a_sell_beyond_the_holding(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(5), D(80))
    order = sell(us, "5", LIMIT, price=D(120))

    with pytest.raises(ValueError, match="insufficient holdings: 5 ACME"):
        us.modify(order.id, quantity=D(6))


@pytest.mark.parametrize("status", [SimStatus.FILLED, SimStatus.REJECTED, SimStatus.CANCELLED])
def test_only_working_orders_can_be_modified_or_cancelled(us: Exchange, status: SimStatus) -> None:
    order = {
        SimStatus.FILLED: lambda: buy(us, "1"),
        SimStatus.REJECTED: lambda: buy(us, "0"),
        SimStatus.CANCELLED: lambda: us.cancel(buy(us, "1", LIMIT, price=D(1)).id),
    }[status]()
    assert order.status is status

    with pytest.raises(ValueError, match="only open orders"):
        us.modify(order.id, quantity=D(2))
    with pytest.raises(ValueError, match="only open orders"):
        us.cancel(order.id)


def test_cancel_keeps_the_fills_already_made(clock: FakeClock) -> None:
    exchange = us_exchange(clock, liquidity=D(4))
    order = buy(exchange, "10")

    exchange.cancel(order.id)

    assert (order.status, order.filled_quantity) == (SimStatus.CANCELLED, D(4))
    assert order.status_message == "cancelled by the user"
    assert order.pending_quantity == 0
    assert order.cancelled_quantity == D(6)
    assert exchange.account(ACCOUNT).holdings["ACME"].quantity == D(4)
    assert exchange.set_price("ACME", D(99)) == []


def test_cancel_of_a_trigger_pending_order(us: Exchange) -> None:
    order = sell(us, "1", STOP, trigger_price=D(90), product=Product.INTRADAY)

    assert us.cancel(order.id).status is SimStatus.CANCELLED


def test_unknown_orders_raise_key_error(us: Exchange) -> None:
    for call in (us.order, us.cancel, us.modify):
        with pytest.raises(KeyError, match="unknown order: 99"):
            call("99")
