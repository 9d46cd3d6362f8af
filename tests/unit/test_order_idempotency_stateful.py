"""Idempotent, crash-safe placement under any interleaving (issue #8 acceptance; security.md
ORD-1, ORD-2, c.4), for a broker that echoes our client reference (Zerodha Kite) and one that
keeps none and is matched by the order's fields (Schwab).

Hypothesis interleaves: placing under one of a few idempotency keys (a first placement or a
retry), retrying a key with another request, a lost answer after the broker accepted
(``timeout_after_accept``), a 5xx before it did, time passing, reconciliation, polling, a webhook
hint (``RefreshOrderStatus`` by the broker's id), cancelling, prices crossing resting limits, the
broker's reads (order book and order lookups) failing for a while, and an outage of its reads
longer than the reconciliation window, during which orders it could not be asked about are
flagged for review. Time passing also runs the scheduled refresh of access tokens, as the
scheduler does: Schwab's last 30 minutes.

After every step: never two broker orders for one idempotency key, never more placement
requests than keys used, each key's replays name one order, and every order's last audited
status is its status. At the end, once time has passed every deadline and reconciliation and
polling have run: every order is settled and matches the sandbox (the broker's state as its
adapter reads it; ``rejected`` where the broker never received it), flagged or not.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from dashcore.application.orders import Trader
from dashcore.domain.errors import Conflict, InvalidInput, ProviderUnavailable
from dashcore.domain.orders import OrderStatus, OrderType
from dashcore.domain.trading import (
    CANCEL_CONFIRMATION_WINDOW,
    IdempotencyKey,
    OrderDraft,
    PlacedOrder,
)
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import SimOrder
from tests.unit.orders_world import BOOKS, OrdersMachine, machine_settings

KEYS = ("alpha", "bravo", "charlie", "delta")
PRICES = {"zerodha": Decimal(1500), "schwab": Decimal(190)}
"""The seeded last price of each book's instrument."""
READS_DOWN = "reads-down"


class OrderInterleavings(OrdersMachine):
    provider = "zerodha"

    def __init__(self) -> None:
        super().__init__()
        trader, self.connection = self.run(self.world.trader(self.provider))
        self.user_id = trader.user_id
        self.placed: dict[str, UUID] = {}
        self.price = PRICES[self.provider]

    # -- the requests of each key ------------------------------------------------------------
    def draft(self, key: str, *, other: bool = False) -> OrderDraft:
        """Each key asks for its own quantity (so that a broker matching by fields can tell
        the keys apart); even keys rest below the market, odd ones are market orders."""
        index = KEYS.index(key)
        quantity = Decimal(index + 1 + (10 if other else 0))
        if index % 2 == 0:
            tick = Decimal("0.05") if self.provider == "zerodha" else Decimal("0.01")
            limit = (self.price * Decimal("0.9")).quantize(tick)
            return self.world.draft(
                self.provider, type=OrderType.LIMIT, limit_price=limit, quantity=quantity
            )
        return self.world.draft(self.provider, quantity=quantity)

    # -- rules -------------------------------------------------------------------------------
    @rule(key=st.sampled_from(KEYS))
    def place(self, key: str) -> None:
        retry = key in self.placed
        placement = self.run(
            self.world.place(self.world.uow())(
                self.trader(), self.connection.id, IdempotencyKey(key), self.draft(key)
            )
        )
        assert placement.replayed == retry
        assert placement.order.id == self.placed.setdefault(key, placement.order.id)

    @rule(key=st.sampled_from(KEYS))
    def reuse_key_for_another_order(self, key: str) -> None:
        if key not in self.placed:
            return
        with pytest.raises(InvalidInput) as raised:
            self.run(
                self.world.place(self.world.uow())(
                    self.trader(),
                    self.connection.id,
                    IdempotencyKey(key),
                    self.draft(key, other=True),
                )
            )
        assert raised.value.code == "idempotency_key_reused"

    @rule()
    def lose_the_next_answer(self) -> None:
        self.world.arm(self.provider, FaultKind.TIMEOUT_AFTER_ACCEPT)

    @rule()
    def fail_the_next_placement(self) -> None:
        self.world.arm(self.provider, FaultKind.STATUS, status=503)

    @rule(seconds=st.sampled_from([5, 31, 61, 95]))
    def time_passes(self, seconds: int) -> None:
        self.pass_time(timedelta(seconds=seconds))

    @rule(down=st.booleans())
    def broker_reads_fail(self, down: bool) -> None:
        """The broker's reads answer 503 from now on (``down``), or work again."""
        faults = self.world.world.sandboxes[self.provider].faults
        faults.remove(READS_DOWN)
        if down:
            faults.add(
                FaultRule(
                    path="*",
                    method="GET",
                    kind=FaultKind.STATUS,
                    status=503,
                    times=None,
                    id=READS_DOWN,
                )
            )

    @rule()
    def long_read_outage(self) -> None:
        """The broker's reads fail for longer than the reconciliation window, with a round
        every 2.5 minutes; then they come back (and the next rounds settle what was
        flagged)."""
        self.broker_reads_fail(True)
        policy = self.world.policy
        step = policy.reconcile_backoff_max * 2.5  # every look that is due, and a few rounds
        for _ in range((policy.reconcile_window + policy.reconcile_grace) // step + 2):
            self.pass_time(step)
            self.reconcile()
        self.broker_reads_fail(False)

    @rule()
    def reconcile(self) -> None:
        self.run(self.world.reconciler(self.world.uow())())

    @rule()
    def poll(self) -> None:
        self.run(self.world.poller(self.world.uow())())

    @rule(key=st.sampled_from(KEYS))
    def webhook(self, key: str) -> None:
        order = self.order(key)
        if order is None or order.broker_order_id is None:
            return
        try:
            self.run(
                self.world.refresher(self.world.uow()).by_broker_id(
                    self.provider, order.broker_order_id
                )
            )
        except ProviderUnavailable:  # the event stays stored; reconciling and polling catch up
            assert self.reads_down()

    @rule(key=st.sampled_from(KEYS))
    def cancel(self, key: str) -> None:
        order = self.order(key)
        if order is None:
            return
        try:
            self.run(self.world.cancel(self.world.uow())(self.trader(), order.id))
        except Conflict:
            assert order.is_final or order.broker_order_id is None
        except ProviderUnavailable:  # the person is told to try again
            assert self.reads_down()

    @rule(fraction=st.sampled_from([Decimal("0.85"), Decimal(1)]))
    def move_price(self, fraction: Decimal) -> None:
        price = (PRICES[self.provider] * fraction).quantize(Decimal("0.05"))
        symbol = BOOKS[self.provider].instrument.symbol
        self.world.world.sandboxes[self.provider].exchange.set_price(symbol, price)
        self.price = PRICES[self.provider]  # the limits stay where the seed price puts them

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def one_broker_order_per_key(self) -> None:
        for key in KEYS:
            assert len(self.at_broker(key)) <= 1, key
        assert self.world.place_requests(self.provider) <= len(self.placed)

    @invariant()
    def every_status_is_audited(self) -> None:
        for key in self.placed:
            order = self.order(key)
            assert order is not None
            events = [
                e
                for e in self.world.audit()
                if e.target == f"order:{order.id}"
                and e.action in ("order_created", "order_status_changed")
            ]
            assert events[-1].metadata["status"] == str(order.status)

    # -- helpers -----------------------------------------------------------------------------
    def trader(self) -> Trader:
        """The user, signed in just now: a person acting after a long wait signs in again
        (step-up) when asked to."""
        return self.world.trader_of(self.user_id)

    def reads_down(self) -> bool:
        faults = self.world.world.sandboxes[self.provider].faults
        return any(rule.id == READS_DOWN for rule in faults.rules)

    def pass_time(self, span: timedelta) -> None:
        """The clock moves on, and the scheduled refresh of access tokens runs."""
        self.world.clock.advance(span)
        self.run(self.world.world.refresher(self.world.uow()).refresh_due())

    def order(self, key: str) -> PlacedOrder | None:
        order_id = self.placed.get(key)
        return None if order_id is None else self.run(self.world.stored(order_id))

    def at_broker(self, key: str) -> list[SimOrder]:
        """The broker's orders of ``key``: by its client reference where the broker keeps it,
        else by the key's quantity."""
        orders = self.world.broker_orders(self.provider)
        order = self.order(key)
        if self.provider == "schwab" or order is None:
            quantity = self.draft(key).quantity
            return [o for o in orders if o.quantity == quantity]
        return [o for o in orders if o.tag == order.client_reference]

    def settle_and_compare(self) -> None:
        policy = self.world.policy
        self.world.world.sandboxes[self.provider].faults.clear()
        deadlines = policy.submit_deadline + policy.reconcile_grace + policy.reconcile_backoff_max
        self.pass_time(max(deadlines, CANCEL_CONFIRMATION_WINDOW) + timedelta(seconds=1))
        self.run(self.world.reconciler(self.world.uow())())
        self.run(self.world.poller(self.world.uow())())
        session = self.run(
            self.world.brokers(self.world.uow()).session(self.provider, self.connection.id)
        )
        for key in self.placed:
            order = self.order(key)
            assert order is not None
            brokers = self.at_broker(key)
            if not brokers:
                assert order.status is OrderStatus.REJECTED, (key, order)
                continue
            assert order.broker_order_id is not None, (key, order)
            at_broker = self.run(session.orders.get(order.account_id, order.broker_order_id))
            assert order.status is at_broker.status, (key, order.status, at_broker.status)
            assert order.filled_quantity == at_broker.filled_quantity


class SchwabInterleavings(OrderInterleavings):
    provider = "schwab"


MACHINE_SETTINGS = machine_settings(examples=12, steps=14)


def test_kite_never_places_twice_per_key() -> None:
    run_state_machine_as_test(OrderInterleavings, settings=MACHINE_SETTINGS)


def test_schwab_never_places_twice_per_key() -> None:
    run_state_machine_as_test(SchwabInterleavings, settings=MACHINE_SETTINGS)
