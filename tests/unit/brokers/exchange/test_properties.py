"""Properties of the exchange engine over arbitrary sequences of orders, price moves and days."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import (
    INDIA_EQUITY_CHARGES,
    AssetClass,
    Exchange,
    OrderKind,
    Product,
    Side,
    SimAccount,
    SimInstrument,
    SimStatus,
    Validity,
)
from tests.unit.brokers.exchange.support import ACCOUNT, START

D = Decimal
TICK = D("0.05")

prices = st.integers(min_value=1_800, max_value=2_200).map(lambda n: D(n) * TICK)
quantities = st.integers(min_value=1, max_value=60).map(D)
place = st.tuples(
    st.just("place"),
    st.sampled_from(Side),
    quantities,
    st.sampled_from(OrderKind),
    prices,
    prices,
    st.sampled_from(Product),
    st.sampled_from(Validity),
)
move = st.tuples(st.just("move"), prices)
cancel = st.tuples(st.just("cancel"), st.integers(min_value=1, max_value=40))
modify = st.tuples(st.just("modify"), st.integers(min_value=1, max_value=40), quantities, prices)
day = st.tuples(st.just("day"))
steps = st.lists(st.one_of(place, place, move, move, cancel, modify, day), max_size=40)


def _exchange(liquidity: Decimal | None) -> Exchange:
    exchange = Exchange(
        FakeClock(START), currency="INR", charges=INDIA_EQUITY_CHARGES, liquidity=liquidity
    )
    exchange.add_instrument(
        SimInstrument("TATA", "NSE", "INR", AssetClass.EQUITY, tick_size=TICK), D(100)
    )
    exchange.open_account(ACCOUNT, number="1", cash=D(50_000))
    exchange.seed_holding(ACCOUNT, "TATA", D(40), D(95))
    return exchange


def _at_cost(account: SimAccount) -> Decimal:
    held = sum((h.cost for h in account.holdings.values()), D(0))
    return account.cash + held + sum((p.cost for p in account.positions.values()), D(0))


def _run(exchange: Exchange, step: tuple[object, ...]) -> None:
    match step:
        case ("place", side, quantity, kind, price, trigger, product, validity):
            exchange.place(
                ACCOUNT,
                symbol="TATA",
                side=side,  # type: ignore[arg-type]
                quantity=quantity,  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                price=price if kind in (OrderKind.LIMIT, OrderKind.STOP_LIMIT) else None,  # type: ignore[arg-type]
                trigger_price=trigger if kind in (OrderKind.STOP, OrderKind.STOP_LIMIT) else None,  # type: ignore[arg-type]
                product=product,  # type: ignore[arg-type]
                validity=validity,  # type: ignore[arg-type]
            )
        case ("move", price):
            exchange.set_price("TATA", price)  # type: ignore[arg-type]
        case ("cancel", number):
            orders = exchange.orders(ACCOUNT)
            if orders:
                order = orders[int(number) % len(orders)]  # type: ignore[call-overload]
                if order.is_open:
                    exchange.cancel(order.id)
        case ("modify", number, quantity, price):
            orders = [o for o in exchange.orders(ACCOUNT) if o.is_open]
            if orders:
                order = orders[int(number) % len(orders)]  # type: ignore[call-overload]
                new_price = price if order.kind in (OrderKind.LIMIT, OrderKind.STOP_LIMIT) else None
                with contextlib.suppress(ValueError):  # refused terms: tested in test_orders
                    exchange.modify(order.id, quantity=quantity, price=new_price)  # type: ignore[arg-type]
        case ("day",):
            exchange.end_of_day()


@settings(max_examples=150, deadline=None)
@given(steps=steps, liquidity=st.sampled_from([None, D(7), D(25)]))
def test_money_is_conserved_and_delivery_never_oversells(
    steps: list[tuple[object, ...]], liquidity: Decimal | None
) -> None:
    exchange = _exchange(liquidity)
    account = exchange.account(ACCOUNT)
    start_at_cost = _at_cost(account)

    for step in steps:
        _run(exchange, step)

        charges = sum((f.charges for f in exchange.fills(ACCOUNT)), D(0))
        # Cash plus everything held at cost moves only by realised profit and by charges.
        assert _at_cost(account) - start_at_cost == account.realised_pnl - charges
        # The ledger explains every unit of cash.
        assert sum((t.amount for t in account.transactions), D(0)) == account.cash
        # Delivery sells never take more than is held.
        assert all(h.quantity >= 0 for h in account.holdings.values())
        assert all(0 <= h.unsettled_quantity <= h.quantity for h in account.holdings.values())
        for order in exchange.orders(ACCOUNT):
            assert 0 <= order.filled_quantity <= order.quantity or (
                order.status is SimStatus.REJECTED
            )
            assert sum((f.quantity for f in order.fills), D(0)) == order.filled_quantity
            if order.status is SimStatus.FILLED:
                assert order.filled_quantity == order.quantity
        assert account.margin_used >= 0


@settings(max_examples=60, deadline=None)
@given(steps=steps)
def test_fills_at_the_last_price_change_marked_value_only_by_charges(
    steps: list[tuple[object, ...]],
) -> None:
    exchange = _exchange(None)
    account = exchange.account(ACCOUNT)

    def book() -> tuple[Decimal, Decimal]:
        held = sum((h.quantity for h in account.holdings.values()), D(0))
        held += sum((p.quantity for p in account.positions.values()), D(0))
        return account.cash, held

    for step in steps:
        cash, held = book()
        fills_before = len(exchange.fills(ACCOUNT))
        _run(exchange, step)
        last = exchange.last_price("TATA")
        new_charges = sum((f.charges for f in exchange.fills(ACCOUNT)[fills_before:]), D(0))
        cash_after, held_after = book()
        # Valued at the last price, trading at the last price costs exactly the charges.
        assert (cash_after + held_after * last) - (cash + held * last) == -new_charges
