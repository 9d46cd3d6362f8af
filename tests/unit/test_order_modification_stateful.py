"""Modifications under any interleaving (issue #8): an order grown or shrunk through dashcore,
its answer lost or not, changed in the broker's own app, filled by a moving price, polled,
refreshed by a webhook hint and cancelled, in any order, always ends on the broker's terms:
its quantity, limit price, status and filled quantity are the sandbox's, and the fills it
recorded as trades add up to what the broker filled.

One resting Kite limit buy (10 INFY at 1350.00, the market at 1500.00) per run.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from dashcore.domain.errors import Conflict, InvalidInput, ProviderUnavailable
from dashcore.domain.orders import OrderChange, OrderType
from dashcore.domain.trading import CANCEL_CONFIRMATION_WINDOW, PlacedOrder
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import SimOrder
from dashcore_memory.trades import MemoryTradeRepository
from tests.unit.orders_world import KITE_MODIFY_PATH, OrdersMachine, machine_settings

PROVIDER = "zerodha"
LOST = "lost-modification"


class ModificationInterleavings(OrdersMachine):
    def __init__(self) -> None:
        super().__init__()
        trader, connection = self.run(self.world.trader(PROVIDER))
        self.user_id, self.connection_id = trader.user_id, connection.id
        draft = self.world.draft(
            PROVIDER, type=OrderType.LIMIT, limit_price=Decimal(1350), quantity=Decimal(10)
        )
        placement = self.run(self.world.place_order(trader, connection, "rest", draft))
        self.order_id = placement.order.id

    # -- rules -------------------------------------------------------------------------------
    @rule(
        quantity=st.integers(min_value=6, max_value=14),
        limit=st.sampled_from([None, Decimal("1340.00"), Decimal("1360.50")]),
        lose_the_answer=st.booleans(),
    )
    def modify(self, quantity: int, limit: Decimal | None, lose_the_answer: bool) -> None:
        faults = self.world.world.sandboxes[PROVIDER].faults
        if lose_the_answer:
            faults.add(
                FaultRule(
                    path=KITE_MODIFY_PATH,
                    method="PUT",
                    kind=FaultKind.TIMEOUT_AFTER_ACCEPT,
                    id=LOST,
                )
            )
        change = OrderChange(quantity=Decimal(quantity), limit_price=limit)
        try:
            self.run(self.world.modify(self.world.uow())(self.trader(), self.order_id, change))
        except (Conflict, InvalidInput):  # final, or at or below what filled, or refused
            pass
        except ProviderUnavailable:
            assert lose_the_answer
        finally:
            faults.remove(LOST)

    @rule(quantity=st.integers(min_value=6, max_value=14))
    def change_at_the_broker(self, quantity: int) -> None:
        """The person changes the order in Kite's own app."""
        at_broker = self.at_broker()
        if at_broker.is_open and quantity > at_broker.filled_quantity:
            self.exchange().modify(at_broker.id, quantity=Decimal(quantity))

    @rule(price=st.sampled_from([Decimal("1500.00"), Decimal("1345.00"), Decimal("1300.00")]))
    def move_price(self, price: Decimal) -> None:
        self.exchange().set_price("INFY", price)

    @rule()
    def poll(self) -> None:
        self.run(self.world.poller(self.world.uow())())

    @rule()
    def webhook(self) -> None:
        order = self.order()
        assert order.broker_order_id is not None
        self.run(
            self.world.refresher(self.world.uow()).by_broker_id(PROVIDER, order.broker_order_id)
        )

    @rule()
    def cancel(self) -> None:
        try:
            self.run(self.world.cancel(self.world.uow())(self.trader(), self.order_id))
        except Conflict:
            assert self.order().is_final

    # -- helpers -----------------------------------------------------------------------------
    def trader(self) -> Any:
        return self.world.trader_of(self.user_id)

    def exchange(self) -> Any:
        return self.world.world.sandboxes[PROVIDER].exchange

    def order(self) -> PlacedOrder:
        return self.run(self.world.stored(self.order_id))

    def at_broker(self) -> SimOrder:
        [at_broker] = self.world.broker_orders(PROVIDER)
        return at_broker

    def settle_and_compare(self) -> None:
        """Past the cancel confirmation window, one poll: the order is the broker's."""
        self.world.clock.advance(CANCEL_CONFIRMATION_WINDOW)
        self.run(self.world.poller(self.world.uow())())
        order = self.order()
        assert order.broker_order_id is not None
        brokers = self.world.brokers(self.world.uow())
        session = self.run(brokers.session(PROVIDER, self.connection_id))
        report = self.run(session.orders.get(order.account_id, order.broker_order_id))
        assert (order.request.quantity, order.request.limit_price) == (
            report.quantity,
            report.limit_price,
        ), (order, report)
        assert (order.status, order.filled_quantity) == (report.status, report.filled_quantity)
        trades = self.run(MemoryTradeRepository(self.world.uow()).all_for_user(self.user_id))
        assert sum(trade.quantity for trade in trades) == report.filled_quantity


def test_an_order_modified_in_any_interleaving_ends_on_the_brokers_terms() -> None:
    run_state_machine_as_test(
        ModificationInterleavings, settings=machine_settings(examples=25, steps=10)
    )
