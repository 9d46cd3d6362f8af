"""Order limits in the order use cases (security.md ORD-3), on memory repositories and the Kite
adapter against its sandbox (INFY at 1500 INR): placing, modifying and previewing are held to the
limits before the broker is called and before anything is stored; the day's total counts the
user's own non-rejected orders of the UTC day; an administrator's change is audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.application.order_limits import LowerOrderLimits, ManageOrderLimits
from dashcore.domain.errors import DashcoreError, Forbidden, NotFound, OrderLimitExceeded
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits, OrderLimits
from dashcore.domain.orders import OrderChange, OrderStatus, OrderType
from dashcore.domain.trading import OrderDraft
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_memory.order_limits import MemoryOrderLimitRepository
from dashcore_memory.trading import ORDERS
from dashcore_memory.users import MemoryUserRepository
from tests.unit.connections_world import CALLER
from tests.unit.orders_world import KITE_MODIFY_PATH, OrdersWorld, open_orders_world

INR = Currency("INR")


@pytest.fixture
async def world() -> AsyncIterator[OrdersWorld]:
    async with open_orders_world() as opened:
        yield opened


def limited(world: OrdersWorld, **limits: Decimal) -> None:
    """The deployment's INR limits."""
    world.order_limits = OrderLimits({INR: CurrencyLimits(**limits)})


def manage(world: OrdersWorld) -> ManageOrderLimits:
    uow = world.uow()
    return ManageOrderLimits(
        MemoryUserRepository(uow),
        MemoryOrderLimitRepository(uow),
        world.limits(uow),
        world.world.base.audit(uow),
        uow,
    )


def lower(world: OrdersWorld) -> LowerOrderLimits:
    uow = world.uow()
    return LowerOrderLimits(
        MemoryOrderLimitRepository(uow), world.limits(uow), world.world.base.audit(uow), uow
    )


def limit_buy(world: OrdersWorld, quantity: int, price: int = 1400) -> OrderDraft:
    """A Kite limit buy of INFY below the market (1500): it rests open at the broker."""
    return world.draft(
        "zerodha", type=OrderType.LIMIT, quantity=Decimal(quantity), limit_price=Decimal(price)
    )


async def test_a_refused_order_reaches_no_broker_and_its_key_works_once_the_limit_is_raised(
    world: OrdersWorld,
) -> None:
    limited(world, max_order_value=Decimal(10_000))
    trader, connection = await world.trader("zerodha")
    draft = limit_buy(world, 10)
    with pytest.raises(OrderLimitExceeded) as refused:
        await world.place_order(trader, connection, "k", draft)
    assert (refused.value.limit, refused.value.maximum, refused.value.requested) == (
        "max_order_value",
        Decimal(10_000),
        Decimal(14_000),
    )
    assert world.place_requests("zerodha") == 0

    raised = OrderLimits({INR: CurrencyLimits(max_order_value=Decimal(14_000))})
    await manage(world).set(trader.user_id, raised, CALLER)
    placed = await world.place_order(trader, connection, "k", draft)
    assert not placed.replayed
    assert placed.order.estimated_value == Decimal(14_000)
    assert world.place_requests("zerodha") == 1


async def test_a_quantity_above_the_limit_is_refused(world: OrdersWorld) -> None:
    limited(world, max_order_quantity=Decimal(5))
    trader, connection = await world.trader("zerodha")
    with pytest.raises(OrderLimitExceeded) as refused:
        await world.place_order(
            trader, connection, "k", world.draft("zerodha", quantity=Decimal(6))
        )
    assert refused.value.limit == "max_order_quantity"
    placed = await world.place_order(
        trader, connection, "k", world.draft("zerodha", quantity=Decimal(5))
    )
    assert placed.order.status is not OrderStatus.REJECTED


async def test_a_market_order_is_priced_by_the_last_price_and_refused_without_one(
    world: OrdersWorld,
) -> None:
    limited(world, max_order_value=Decimal(3_000))
    trader, connection = await world.trader("zerodha")
    with pytest.raises(OrderLimitExceeded) as refused:  # 3 x 1500
        await world.place_order(
            trader, connection, "a", world.draft("zerodha", quantity=Decimal(3))
        )
    assert refused.value.requested == Decimal(4_500)
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path="/quote/ltp", method="GET", kind=FaultKind.STATUS, status=503, times=10)
    )
    with pytest.raises(OrderLimitExceeded) as unknown:  # worth 1500, but no quote says so
        await world.place_order(trader, connection, "b", world.draft("zerodha"))
    assert unknown.value.requested is None
    assert world.place_requests("zerodha") == 0


async def test_the_day_counts_the_users_own_orders_of_that_day_but_not_the_rejected(
    world: OrdersWorld,
) -> None:
    limited(world, max_daily_value=Decimal(20_000))
    alice, connection = await world.trader("zerodha")
    bob, bobs = await world.trader("zerodha")
    first = (await world.place_order(alice, connection, "1", limit_buy(world, 10))).order
    with pytest.raises(OrderLimitExceeded) as refused:  # 14,000 + 7,000
        await world.place_order(alice, connection, "2", limit_buy(world, 5))
    assert (refused.value.limit, refused.value.requested) == ("max_daily_value", Decimal(21_000))
    assert (await world.place_order(bob, bobs, "2", limit_buy(world, 10))).order.broker_order_id

    uow = world.uow()  # the first order was placed yesterday (UTC)
    uow.put(ORDERS, first.id, replace(first, created_at=first.created_at - timedelta(days=1)))
    await uow.commit()
    second = await world.place_order(alice, connection, "2", limit_buy(world, 10))
    assert second.order.broker_order_id is not None

    world.arm("zerodha", FaultKind.STATUS, status=400)  # the broker refuses: rejected
    rejected = await world.place_order(alice, connection, "3", limit_buy(world, 4))
    assert rejected.order.status is OrderStatus.REJECTED
    assert (
        await world.place_order(alice, connection, "4", limit_buy(world, 4))
    ).order.broker_order_id


async def test_a_modification_is_held_to_the_limits_for_the_order_as_changed(
    world: OrdersWorld,
) -> None:
    limited(world, max_order_quantity=Decimal(14), max_daily_value=Decimal(20_000))
    trader, connection = await world.trader("zerodha")
    order = (await world.place_order(trader, connection, "1", limit_buy(world, 10))).order
    requests = len(world.world.recorders["zerodha"].requests)
    with pytest.raises(OrderLimitExceeded) as refused:
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(15)))
    assert refused.value.limit == "max_order_quantity"
    assert len(world.world.recorders["zerodha"].requests) == requests
    assert (await world.stored(order.id)).request.quantity == Decimal(10)

    grown = await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(14)))
    assert grown.estimated_value == Decimal(19_600)  # counted once, as changed
    with pytest.raises(OrderLimitExceeded) as day:
        await world.place_order(trader, connection, "2", limit_buy(world, 1))
    assert day.value.requested == Decimal(21_000)


async def test_a_preview_lists_the_breach_among_its_problems(world: OrdersWorld) -> None:
    limited(world, max_order_value=Decimal(10_000))
    trader, connection = await world.trader("zerodha")
    within = await world.preview(world.uow())(trader, connection.id, limit_buy(world, 7))
    assert within.is_valid
    above = await world.preview(world.uow())(trader, connection.id, limit_buy(world, 8))
    assert not above.is_valid
    assert [problem.field for problem in above.problems] == ["quantity"]
    assert "max_order_value" in above.problems[0].message
    assert above.estimated_cost is not None  # the figures are still worked out
    assert world.place_requests("zerodha") == 0


async def test_an_administrators_change_is_audited_with_the_limits_before_and_after(
    world: OrdersWorld,
) -> None:
    limited(world, max_order_value=Decimal(10_000))
    trader, _ = await world.trader("zerodha")
    first = OrderLimits({INR: CurrencyLimits(max_order_value=Decimal(50_000))})
    shown = await manage(world).set(trader.user_id, first, CALLER)
    assert shown.own == first
    assert shown.effective.of(INR).max_order_value == Decimal(50_000)
    await manage(world).set(trader.user_id, OrderLimits(), CALLER)
    assert (await manage(world).get(trader.user_id)).effective.of(INR).max_order_value == Decimal(
        10_000
    )
    events = [
        e for e in world.audit("admin_order_limits_set") if e.target == f"user:{trader.user_id}"
    ]
    assert [(e.metadata["old"], e.metadata["new"]) for e in events] == [
        ("none", "INR:max_order_value=50000"),
        ("INR:max_order_value=50000", "none"),
    ]
    with pytest.raises(NotFound):
        await manage(world).set(UUID(int=1), first, CALLER)


async def test_a_user_lowers_their_own_limits_but_only_an_administrator_raises_them(
    world: OrdersWorld,
) -> None:
    limited(world, max_order_value=Decimal(100_000))
    trader, connection = await world.trader("zerodha")
    caller = trader.context
    capped = await lower(world)(
        trader.user_id,
        OrderLimits({INR: CurrencyLimits(max_order_value=Decimal(10_000))}),
        caller,
    )
    assert capped.effective.of(INR).max_order_value == Decimal(10_000)
    with pytest.raises(OrderLimitExceeded):
        await world.place_order(trader, connection, "k", limit_buy(world, 10))

    day = OrderLimits({INR: CurrencyLimits(max_daily_value=Decimal(50_000))})  # none in force
    both = await lower(world)(trader.user_id, day, caller)
    assert both.own.of(INR) == CurrencyLimits(Decimal(10_000), None, Decimal(50_000))

    back_up = OrderLimits({INR: CurrencyLimits(max_order_value=Decimal(10_001))})
    with pytest.raises(Forbidden) as refused:
        await lower(world)(trader.user_id, back_up, caller)
    assert refused.value.code == "order_limit_raise_needs_admin"
    assert (await world.limits(world.uow()).limits_of(trader.user_id)).own == both.own
    assert [
        (e.metadata["old"], e.metadata["new"]) for e in world.audit("order_limits_lowered")
    ] == [
        ("none", "INR:max_order_value=10000"),
        ("INR:max_order_value=10000", "INR:max_order_value=10000,max_daily_value=50000"),
    ]

    await manage(world).set(trader.user_id, back_up, CALLER)  # an administrator may
    placed = await world.place_order(trader, connection, "k", limit_buy(world, 7))
    assert placed.order.broker_order_id is not None


async def test_an_order_placed_while_a_modification_is_at_the_broker_cannot_spend_its_room() -> (
    None
):
    at_broker, answer = asyncio.Event(), asyncio.Event()

    async def held_at_the_broker(_: float) -> None:
        at_broker.set()
        await answer.wait()

    async with open_orders_world(sleep=held_at_the_broker) as world:
        limited(world, max_daily_value=Decimal(30_000))
        trader, connection = await world.trader("zerodha")
        order = (await world.place_order(trader, connection, "1", limit_buy(world, 10))).order
        world.world.sandboxes["zerodha"].faults.add(
            FaultRule(path=KITE_MODIFY_PATH, method="PUT", kind=FaultKind.LATENCY)
        )
        growing = asyncio.create_task(
            world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(15)))
        )
        await asyncio.wait_for(at_broker.wait(), 5)

        with pytest.raises(OrderLimitExceeded) as refused:  # 21,000 held + 9,800
            await world.place_order(trader, connection, "2", limit_buy(world, 7))
        assert refused.value.requested == Decimal(30_800)
        answer.set()
        grown = await growing
        assert (grown.request.quantity, grown.estimated_value) == (15, Decimal(21_000))


@pytest.mark.parametrize(
    ("fault", "counted"),
    [
        ({"kind": FaultKind.STATUS, "status": 400}, Decimal(14_000)),  # refused: room given back
        ({"kind": FaultKind.STATUS, "status": 429}, Decimal(14_000)),  # turned away unread
        ({"kind": FaultKind.STATUS, "status": 503}, Decimal(21_000)),  # may have taken it
        ({"kind": FaultKind.TIMEOUT_AFTER_ACCEPT}, Decimal(21_000)),  # took it, answer lost
    ],
)
async def test_a_modification_the_broker_did_not_take_gives_its_room_back_and_a_lost_one_keeps_it(
    world: OrdersWorld, fault: dict[str, Any], counted: Decimal
) -> None:
    limited(world, max_daily_value=Decimal(30_000))
    trader, connection = await world.trader("zerodha")
    order = (await world.place_order(trader, connection, "1", limit_buy(world, 10))).order
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path=KITE_MODIFY_PATH, method="PUT", **fault)
    )
    with pytest.raises(DashcoreError):
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(15)))

    assert (await world.stored(order.id)).estimated_value == counted
    if counted == Decimal(14_000):  # 14,000 + 15,400 is within the day
        placed = await world.place_order(trader, connection, "2", limit_buy(world, 11))
        assert placed.order.broker_order_id is not None
    else:
        with pytest.raises(OrderLimitExceeded):
            await world.place_order(trader, connection, "2", limit_buy(world, 7))
