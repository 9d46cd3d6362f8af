"""The hypothesis state machine that drives one adapter's orders through their lifecycle.

Rules: place (a market or near-the-price limit buy), modify, cancel, and move the price so
that resting orders fill. After every step the machine re-reads the orders it placed and checks
each sighting with :class:`~dashcore.testing.lifecycle.OrderWatch`: only transitions
:func:`~dashcore.domain.orders.can_transition` allows, quantities that agree with the status.
It also checks what each answer means: a place answers ``submitted`` or later, a successful
cancel answers ``cancel_requested`` or ``cancelled``, a modification carries the new price, and
modifying or cancelling a final order is refused (``Conflict`` or ``InvalidInput``) and leaves
it as it was.

Hypothesis runs state machines synchronously; the adapter is asynchronous and bound to the
test's event loop. :func:`run_lifecycle` therefore runs the machine in a worker thread and each
step hands its coroutine back to the test's loop, which stays free while the thread waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dashcore.domain.capabilities import Operation
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.orders import Order, OrderChange, OrderRequest, OrderStatus, OrderType
from dashcore.testing.desk import Desk
from dashcore.testing.inspection import read_listing
from dashcore.testing.lifecycle import OrderWatch

__all__ = ["run_lifecycle"]

T = TypeVar("T")

_STEP_TIMEOUT_SECONDS = 60.0
_REFUSALS = (Conflict, InvalidInput)
_SETTLED_AFTER_CANCEL = frozenset({OrderStatus.CANCEL_REQUESTED, OrderStatus.CANCELLED})
_EDITABLE = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN})


async def run_lifecycle(desk: Desk, *, examples: int, steps: int) -> None:
    """Drive ``desk``'s adapter through ``examples`` random runs of up to ``steps`` steps."""
    loop = asyncio.get_running_loop()
    base = desk.on_tick(await desk.control.price(desk.control.instrument))

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(_STEP_TIMEOUT_SECONDS)

    class OrderLifecycle(_Lifecycle):
        def __init__(self) -> None:
            super().__init__(desk, run, base)

    machine_settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    await asyncio.to_thread(run_state_machine_as_test, OrderLifecycle, settings=machine_settings)


class _Lifecycle(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self, desk: Desk, run: Any, base: Decimal) -> None:
        super().__init__()
        self.desk = desk
        self.run = run
        self.base = base
        self.watch = OrderWatch()
        self.requests: dict[str, OrderRequest] = {}

    # ------------------------------------------------------------------ rules

    @initialize(target=orders)
    def place_resting(self) -> str:
        """Every run starts at the base price (the sandbox outlives a run, and hypothesis
        replays a failing run to shrink it: a price left by an earlier run made the replay
        take another path, reported as a "flaky" strategy instead of the adapter's fault)
        with an order far from the price, which only a cancel ends."""
        self.run(self.desk.control.set_price(self.desk.control.instrument, self.base))
        return self.placed(self.run(self.desk.resting()))

    @rule(target=orders, marketable=st.booleans(), ticks=st.integers(1, 12))
    def place(self, marketable: bool, ticks: int) -> str:
        desk = self.desk
        if marketable:
            return self.placed(self.run(desk.marketable()))
        return self.placed(desk.request(OrderType.LIMIT, limit_price=self.base - ticks * desk.tick))

    def placed(self, request: OrderRequest) -> str:
        """Place ``request`` and check the answer; the new order's id."""
        order: Order = self.run(self.desk.session.orders.place(request))
        context = f"answer to placing a {request.type} buy ({request.client_reference})"
        assert order.status not in (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN), (
            f"order {order.provider_order_id} reads {order.status} in the {context}; a place "
            "answers submitted or later (a lost answer is OrderStateUnknown)"
        )
        self.requests[order.provider_order_id] = request
        self.watch.observe(order, context)
        self.refresh("after a placement")
        return order.provider_order_id

    @precondition(lambda self: self.desk.declares(Operation.MODIFY_ORDER))
    @rule(order_id=orders, ticks=st.integers(1, 12))
    def modify(self, order_id: str, ticks: int) -> None:
        desk = self.desk
        new_price = self.base - ticks * desk.tick
        last = self.watch.last_status(order_id)
        request = self.requests[order_id]
        call = desk.session.orders.modify(
            desk.account_id, order_id, OrderChange(limit_price=new_price)
        )
        if (last is not None and last.is_final) or request.type is not OrderType.LIMIT:
            self.refused(call, order_id, "modifying")
            return
        try:
            order: Order = self.run(call)
        except _REFUSALS:
            assert last not in _EDITABLE, (
                f"modifying order {order_id}, last seen {last}, was refused; an order that "
                "rests can be modified"
            )
            return
        self.watch.observe(order, f"answer to modifying its limit to {new_price}")
        assert order.limit_price == new_price, (
            f"order {order.provider_order_id} answers limit {order.limit_price} after a "
            f"modification to {new_price}"
        )
        if order.provider_order_id != order_id:
            self.requests[order.provider_order_id] = request
        self.refresh("after a modification")

    @precondition(lambda self: self.desk.declares(Operation.CANCEL_ORDER))
    @rule(order_id=orders)
    def cancel(self, order_id: str) -> None:
        desk = self.desk
        last = self.watch.last_status(order_id)
        call = desk.session.orders.cancel(desk.account_id, order_id)
        if last is not None and last.is_final:
            self.refused(call, order_id, "cancelling")
            return
        try:
            order: Order = self.run(call)
        except _REFUSALS:
            assert last not in _EDITABLE, (
                f"cancelling order {order_id}, last seen {last}, was refused; an order that "
                "rests can be cancelled"
            )
            return
        self.watch.observe(order, "answer to a cancel")
        assert order.status in _SETTLED_AFTER_CANCEL, (
            f"order {order_id} reads {order.status} (provider status {order.provider_status!r}) "
            "in the answer to a cancel that succeeded; it must read cancel_requested or "
            "cancelled: check the adapter's status table"
        )
        self.refresh("after a cancel")

    @rule(ticks=st.integers(-10, 10))
    def move_price(self, ticks: int) -> None:
        price = self.base + ticks * self.desk.tick
        self.run(self.desk.control.set_price(self.desk.control.instrument, price))
        self.refresh(f"after the price moved to {price}")

    # ---------------------------------------------------------------- helpers

    def refused(self, call: Coroutine[Any, Any, Order], order_id: str, doing: str) -> None:
        """A change to a final order: refused, and the order stays as it was."""
        last = self.watch.last_status(order_id)
        try:
            order = self.run(call)
        except _REFUSALS:
            self.refresh(f"after {doing} a final order was refused")
            return
        raise AssertionError(
            f"{doing} order {order_id}, last seen {last}, answered {order.status}; changing a "
            "final order must be refused with Conflict or InvalidInput"
        )

    def refresh(self, context: str) -> None:
        """Re-read every order this run placed and check each sighting. Orders of earlier
        runs in the listing are left alone (``test_every_order_has_a_normalized_status``
        checks every listed order): which of them are there depends on the sandbox's history,
        and a check of them would make a replayed run fail at another step."""
        desk = self.desk
        account = desk.account_id
        orders = desk.session.orders
        if desk.declares(Operation.LIST_ORDERS):
            listed = self.run(
                read_listing(
                    lambda cursor: orders.list(account, cursor=cursor),
                    lambda order: order.provider_order_id,
                    "orders",
                )
            )
            for order in listed:
                if order.provider_order_id in self.requests:
                    self.watch.observe(order, f"listed {context}")
        if desk.declares(Operation.GET_ORDER):
            for order_id in self.watch.order_ids:
                self.watch.observe(self.run(orders.get(account, order_id)), f"read {context}")
