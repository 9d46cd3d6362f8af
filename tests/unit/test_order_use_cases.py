"""Order use cases (issue #8; security.md ORD-1..3, c.2, c.3) on memory repositories and the
real broker adapters talking to their in-process sandboxes: placing (idempotent, validated,
step-up, crash-safe), the broker's faults, reconciliation, refreshing and polling, modifying,
cancelling, reading and previewing."""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from dashcore.application.orders import Trader, TradingPolicy
from dashcore.domain.capabilities import Operation
from dashcore.domain.connections import ConnectionScope, ConnectionStatus, ProviderConnection
from dashcore.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OrderStateUnknown,
    ProviderUnavailable,
    ReauthRequired,
    StepUpRequired,
)
from dashcore.domain.orders import OrderChange, OrderSide, OrderStatus, OrderType
from dashcore.domain.trading import (
    CANCEL_CONFIRMATION_WINDOW,
    IdempotencyKey,
    OrderFilters,
    PlacedOrder,
    client_reference_for,
)
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID, SimStatus
from dashcore_memory.connections import MemoryProviderConnectionRepository
from dashcore_memory.trades import MemoryTradeRepository
from dashcore_memory.trading import ORDERS, MemoryInstrumentCatalog, MemoryOrderRepository
from tests.unit.connections_world import CALLER, SentRequest
from tests.unit.orders_world import (
    BOOKS,
    DIRECT_HTTP,
    KITE_MODIFY_PATH,
    OrdersWorld,
    open_orders_world,
)
from tests.unit.watched_uow import WatchedUnitOfWork

S = OrderStatus


@pytest.fixture
async def world() -> AsyncIterator[OrdersWorld]:
    async with open_orders_world() as opened:
        yield opened


# -- placing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_a_market_order_is_placed_once_with_the_reference_of_its_id(
    world: OrdersWorld, provider: str
) -> None:
    trader, connection = await world.trader(provider)
    placement = await world.place_order(trader, connection, "key-1", world.draft(provider))
    order = placement.order
    assert not placement.replayed
    assert order.status in (S.SUBMITTED, S.OPEN, S.FILLED)
    assert order.broker_order_id is not None
    assert order.submit_attempts == 1
    assert order.client_reference == client_reference_for(order.id)
    assert world.place_requests(provider) == 1
    (at_broker,) = world.broker_orders(provider)
    if provider != "schwab":  # Schwab keeps no client reference
        assert at_broker.tag == order.client_reference
    stored = await world.stored(order.id)
    assert stored == order
    gateway = world.world.registry.get(provider).gateway
    assert gateway is not None
    if order.status is S.FILLED and gateway.capabilities.supports(Operation.FILLS):
        assert order.fills  # fetched with the answer: a final order is never polled again
        trades = await MemoryTradeRepository(world.uow()).all_for_user(trader.user_id)
        assert [t.broker_trade_id for t in trades] == [f.trade_id for f in order.fills]
    actions = [e.action for e in world.audit() if e.target == f"order:{order.id}"]
    assert actions[:2] == ["order_created", "order_status_changed"]
    assert actions[2:] == (["trades_recorded_from_fills"] if order.fills else [])


async def test_the_same_key_and_request_replays_the_order_without_a_second_broker_call(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    first = await world.place_order(trader, connection, "retry-me", world.draft("zerodha"))
    again = await world.place_order(
        trader, connection, "retry-me", world.draft("zerodha", quantity=Decimal("1.000"))
    )
    assert again.replayed
    assert again.order.id == first.order.id
    assert world.place_requests("zerodha") == 1
    assert len(world.broker_orders("zerodha")) == 1


async def test_the_same_key_with_another_request_is_refused(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    await world.place_order(trader, connection, "retry-me", world.draft("zerodha"))
    with pytest.raises(InvalidInput) as raised:
        await world.place_order(
            trader, connection, "retry-me", world.draft("zerodha", quantity=Decimal(2))
        )
    assert raised.value.code == "idempotency_key_reused"
    assert world.place_requests("zerodha") == 1


async def test_a_key_whose_order_is_gone_from_the_database_places_nothing(
    world: OrdersWorld,
) -> None:
    """Keys and orders commit together and go only with their user, so a key without its
    order means the database was edited by hand: the order may have reached the broker, so
    nothing is placed again."""
    trader, connection = await world.trader("zerodha")
    first = await world.place_order(trader, connection, "retry-me", world.draft("zerodha"))
    uow = world.uow()
    uow.delete(ORDERS, first.order.id)
    await uow.commit()
    with pytest.raises(Conflict) as raised:
        await world.place_order(trader, connection, "retry-me", world.draft("zerodha"))
    assert raised.value.code == "idempotency_order_missing"
    assert world.place_requests("zerodha") == 1


async def test_keys_are_per_user(world: OrdersWorld) -> None:
    alice, alices = await world.trader("zerodha")
    bob, bobs = await world.trader("zerodha")
    a = await world.place_order(alice, alices, "shared-key", world.draft("zerodha"))
    b = await world.place_order(bob, bobs, "shared-key", world.draft("zerodha"))
    assert a.order.id != b.order.id
    assert not b.replayed


async def test_an_expired_key_places_a_new_order(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    first = await world.place_order(trader, connection, "daily", world.draft("zerodha"))
    world.clock.advance(hours=24)
    trader = replace(trader, auth_time=world.clock.now())
    connection = await world.reconnect(trader, "zerodha")  # Kite's tokens last one day
    second = await world.place_order(trader, connection, "daily", world.draft("zerodha"))
    assert second.order.id != first.order.id
    assert not second.replayed


async def test_concurrent_duplicates_commit_one_order(world: OrdersWorld) -> None:
    """Two requests that both passed the replay check: the second to commit answers with the
    first one's order and never reaches the broker."""
    trader, connection = await world.trader("zerodha")
    draft = world.draft("zerodha")
    key = IdempotencyKey("twice")
    slow_uow, fast_uow = world.uow(), world.uow()
    slow = world.place(slow_uow)
    # The slow request claims the key in its own unit of work and has not committed yet.
    from dashcore.domain.trading import IdempotencyRecord, request_fingerprint
    from dashcore_memory.trading import MemoryIdempotencyRepository

    racer = IdempotencyRecord.create(
        trader.user_id,
        key.hash_for(trader.user_id),
        request_fingerprint(connection.id, draft),
        UUID(int=1),
        world.clock.now(),
    )
    assert await MemoryIdempotencyRepository(slow_uow).claim(racer) is None
    winner = await world.place(fast_uow)(trader, connection.id, key, draft)
    with pytest.raises(Conflict):
        await slow_uow.commit()
    again = await slow(trader, connection.id, key, draft)
    assert again.replayed
    assert again.order.id == winner.order.id
    assert world.place_requests("zerodha") == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": Decimal(0)}, "quantity"),
        ({"quantity": Decimal("1.5")}, "quantity"),
        ({"type": OrderType.LIMIT}, "limit_price"),
        ({"type": OrderType.LIMIT, "limit_price": Decimal("1500.03")}, "limit_price"),
        ({"instrument": BOOKS["zerodha"].instrument.__class__("NOPE", "NSE")}, "instrument"),
    ],
)
async def test_a_bad_order_is_refused_naming_the_field_before_any_broker_call(
    world: OrdersWorld, changes: dict[str, object], field: str
) -> None:
    trader, connection = await world.trader("zerodha")
    with pytest.raises(InvalidInput) as raised:
        await world.place_order(trader, connection, "bad", world.draft("zerodha", **changes))
    assert raised.value.code == "invalid_order"
    assert [error.field for error in raised.value.errors] == [field]
    assert world.place_requests("zerodha") == 0
    assert (
        await MemoryOrderRepository(world.uow()).by_idempotency(
            trader.user_id, IdempotencyKey("bad").hash_for(trader.user_id)
        )
        is None
    )


async def test_an_unsupported_product_is_refused_by_the_capability_map(world: OrdersWorld) -> None:
    from dashcore.domain.orders import Product

    trader, connection = await world.trader("schwab")  # Schwab has no intraday product
    with pytest.raises(InvalidInput) as raised:
        await world.place_order(
            trader, connection, "k", world.draft("schwab", product=Product.INTRADAY)
        )
    assert [error.field for error in raised.value.errors] == ["product"]


async def test_another_users_connection_is_not_found(world: OrdersWorld) -> None:
    _, alices = await world.trader("zerodha")
    bob, _ = await world.trader("zerodha")
    with pytest.raises(NotFound):
        await world.place_order(bob, alices, "k", world.draft("zerodha"))


async def test_a_read_only_connection_cannot_trade(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha", trade=False)
    with pytest.raises(Forbidden) as raised:
        await world.place_order(trader, connection, "k", world.draft("zerodha"))
    assert raised.value.code == "connection_cannot_trade"


async def test_an_expired_connection_cannot_trade(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    world.clock.advance(days=1)
    trader = replace(trader, auth_time=world.clock.now())
    with pytest.raises(ReauthRequired):
        await world.place_order(trader, connection, "k", world.draft("zerodha"))


async def test_a_large_order_needs_a_recent_step_up(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    big = world.draft("zerodha", quantity=Decimal(400))  # 400 × 1500 INR > 500,000
    world.clock.advance(minutes=6)
    with pytest.raises(StepUpRequired):
        await world.place_order(trader, connection, "big", big)
    assert world.place_requests("zerodha") == 0
    small = await world.place_order(trader, connection, "small", world.draft("zerodha"))
    assert small.order.status is not S.REJECTED
    fresh = replace(trader, auth_time=world.clock.now())
    placed = await world.place_order(fresh, connection, "big", big)
    assert placed.order.broker_order_id is not None


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["zerodha", "schwab", "upstox", "groww"])
async def test_a_lost_answer_makes_the_order_unknown_and_reconciliation_settles_it(
    world: OrdersWorld, provider: str
) -> None:
    """The sandbox places the order, then answers 504: the order is ``unknown``, is never sent
    again, and reconciliation finds it by its reference (Schwab: by its fields)."""
    trader, connection = await world.trader(provider)
    world.arm(provider, FaultKind.TIMEOUT_AFTER_ACCEPT)
    placement = await world.place_order(trader, connection, "lost", world.draft(provider))
    assert placement.order.status is S.UNKNOWN
    assert placement.order.last_error is not None
    assert placement.order.last_error.code == "order_state_unknown"
    (at_broker,) = world.broker_orders(provider)

    assert (await world.reconciler(world.uow())()).waiting == 0  # not yet past the grace
    world.clock.advance(world.policy.reconcile_grace + timedelta(seconds=1))
    again = await world.place_order(trader, connection, "lost", world.draft(provider))
    assert again.replayed and again.order.status is S.UNKNOWN

    result = await world.reconciler(world.uow())()
    assert result.settled == 1
    settled = await world.stored(placement.order.id)
    assert settled.broker_order_id is not None
    assert settled.status in (S.SUBMITTED, S.OPEN, S.FILLED)
    if provider != "schwab":
        assert at_broker.tag == settled.client_reference
    refreshed = await world.refresher(world.uow())(settled.id)  # the broker knows that id
    assert refreshed.status is S.FILLED
    assert refreshed.filled_quantity == at_broker.filled_quantity
    assert world.place_requests(provider) == 1
    assert len(world.broker_orders(provider)) == 1


async def test_an_order_the_broker_never_received_is_rejected_after_the_deadline(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.STATUS, status=503)  # refused before the engine saw it
    placement = await world.place_order(trader, connection, "lost", world.draft("zerodha"))
    assert placement.order.status is S.UNKNOWN  # a 5xx may have been accepted
    assert world.broker_orders("zerodha") == []
    world.clock.advance(world.policy.reconcile_grace + timedelta(seconds=1))
    assert (await world.reconciler(world.uow())()).waiting == 1  # the broker may still show it
    world.clock.advance(world.policy.submit_deadline)
    assert (await world.reconciler(world.uow())()).rejected == 1
    order = await world.stored(placement.order.id)
    assert order.status is S.REJECTED
    assert order.last_error is not None
    assert order.last_error.code == "not_received_by_broker"
    assert world.place_requests("zerodha") == 1


def lookups(world: OrdersWorld) -> int:
    """Kite order-book reads (reconciliation's lookups by tag) that reached the sandbox."""
    return sum(
        1
        for request in world.world.recorders["zerodha"].requests
        if request.method == "GET" and request.url.path == "/orders"
    )


@pytest.fixture
async def unguarded_world() -> AsyncIterator[OrdersWorld]:
    """The world with brokers called once per read, no circuit breaker and no rate limit in
    the way: every lookup reaches the sandbox, however many rounds a test runs."""
    async with open_orders_world(http=DIRECT_HTTP) as opened:
        yield opened


async def test_an_unreachable_broker_leaves_the_order_for_a_later_round(
    unguarded_world: OrdersWorld,
) -> None:
    world = unguarded_world
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    placement = await world.place_order(trader, connection, "lost", world.draft("zerodha"))
    world.clock.advance(world.policy.reconcile_grace + world.policy.submit_deadline)
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path="/orders", method="GET", kind=FaultKind.STATUS, status=503, times=None)
    )
    assert (await world.reconciler(world.uow())()).waiting == 1
    assert (await world.stored(placement.order.id)).status is S.UNKNOWN
    world.world.sandboxes["zerodha"].faults.clear()
    world.clock.advance(world.policy.reconcile_backoff)
    assert (await world.reconciler(world.uow())()).settled == 1


async def test_reconciliation_backs_off_then_flags_the_order_for_review_once(
    unguarded_world: OrdersWorld,
) -> None:
    """ORD-2: while the broker cannot be asked, the looks at an order are spaced 1, 2, 4 … 60
    s apart; an order still unsettled 15 minutes after its first look is flagged
    ``needs_review`` once (audited: the alert), is still looked up every minute and never
    sent again, and settles when the broker answers."""
    world = unguarded_world
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    placement = await world.place_order(trader, connection, "lost", world.draft("zerodha"))
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path="/orders", method="GET", kind=FaultKind.STATUS, status=503, times=None)
    )
    world.clock.advance(world.policy.reconcile_grace + timedelta(seconds=1))
    first_look = world.clock.now()

    gaps = []
    while world.clock.now() - first_look < world.policy.reconcile_window:
        assert (await world.reconciler(world.uow())()).waiting == 1
        assert (await world.reconciler(world.uow())()).waiting == 0  # not due yet
        assert lookups(world) == len(gaps) + 1
        order = await world.stored(placement.order.id)
        assert order.reconcile_attempts == len(gaps) + 1
        assert order.reconcile_after is not None
        gaps.append(order.reconcile_after - world.clock.now())
        world.clock.advance(order.reconcile_after - world.clock.now())
    seconds = [int(gap.total_seconds()) for gap in gaps]
    assert seconds[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert set(seconds[7:]) == {60}
    assert world.audit("order_needs_review") == []

    assert (await world.reconciler(world.uow())()).needs_review == 1
    flagged = await world.stored(placement.order.id)
    assert flagged.status is S.UNKNOWN
    assert flagged.last_error is not None
    assert flagged.last_error.code == "needs_review"
    (alert,) = world.audit("order_needs_review")
    assert alert.target == f"order:{placement.order.id}"
    assert flagged.reconcile_after == world.clock.now() + world.policy.reconcile_backoff_max

    world.clock.advance(world.policy.reconcile_backoff_max)
    assert (await world.reconciler(world.uow())()).needs_review == 1
    assert len(world.audit("order_needs_review")) == 1  # flagged once

    world.world.sandboxes["zerodha"].faults.clear()
    world.clock.advance(world.policy.reconcile_backoff_max)
    assert (await world.reconciler(world.uow())()).settled == 1
    settled = await world.stored(placement.order.id)
    assert settled.broker_order_id is not None
    assert world.place_requests("zerodha") == 1


async def test_a_broker_refusal_rejects_the_order_with_its_reason(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    placement = await world.place_order(
        trader,
        connection,
        "short",
        world.draft("zerodha", side=OrderSide.SELL, quantity=Decimal(1000)),
    )
    order = placement.order
    assert order.status is S.REJECTED
    assert order.broker_order_id is not None  # Kite takes the order, then its checks refuse it
    assert order.status_message
    assert world.place_requests("zerodha") == 1


async def test_a_rate_limited_placement_is_rejected_and_never_retried(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.STATUS, status=429)
    placement = await world.place_order(trader, connection, "k", world.draft("zerodha"))
    assert placement.order.status is S.REJECTED
    assert placement.order.last_error is not None
    assert placement.order.last_error.code == "provider_rate_limited"
    assert world.place_requests("zerodha") == 1


async def test_dead_credentials_reject_the_order_and_mark_the_connection(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    world.world.sandboxes["zerodha"].tokens.expire()
    with pytest.raises(ReauthRequired):  # the quote of a market order: nothing written yet
        await world.place_order(trader, connection, "market", world.draft("zerodha"))
    limit = world.draft("zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400))
    placement = await world.place_order(trader, connection, "k", limit)
    assert placement.order.status is S.REJECTED
    assert placement.order.last_error is not None
    assert placement.order.last_error.code == "broker_auth"
    stored = await world.world.stored(connection.id)
    assert stored is not None
    assert stored.status.value == "needs_reauth"


# -- refresh, poll, cancel, modify -----------------------------------------------------------


async def test_polling_follows_a_resting_order_until_it_fills(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    limit = world.draft(
        "zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400), quantity=Decimal(2)
    )
    order = (await world.place_order(trader, connection, "rest", limit)).order
    assert order.status is S.OPEN
    round_ = await world.poller(world.uow())()
    assert (round_.refreshed, round_.changed) == (1, 0)
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    round_ = await world.poller(world.uow())()
    assert round_.changed == 1
    filled = await world.stored(order.id)
    assert filled.status is S.FILLED
    assert filled.filled_quantity == Decimal(2)
    assert filled.fills and sum(f.quantity for f in filled.fills) == Decimal(2)
    trades = await MemoryTradeRepository(world.uow()).all_for_user(trader.user_id)
    assert sorted(t.broker_trade_id or "" for t in trades) == sorted(
        f.trade_id for f in filled.fills
    )
    assert {t.order_id for t in trades} == {order.id}
    await world.poller(world.uow())()
    await world.refresher(world.uow())(order.id)
    again = await MemoryTradeRepository(world.uow()).all_for_user(trader.user_id)
    assert len(again) == len(trades)  # each fill once
    assert (await world.poller(world.uow())()).refreshed == 0  # final orders are not polled


async def resting_order(
    world: OrdersWorld, trader: Trader, connection: ProviderConnection
) -> PlacedOrder:
    """A Kite limit buy of INFY at 1400 (the market is 1500): it rests open at the broker."""
    limit = world.draft("zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400))
    return (await world.place_order(trader, connection, "rest", limit)).order


async def test_a_webhook_hint_refreshes_by_the_brokers_id(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    assert order.broker_order_id is not None
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    refreshed = await world.refresher(world.uow()).by_broker_id("zerodha", order.broker_order_id)
    assert refreshed is not None and refreshed.status is S.FILLED
    assert await world.refresher(world.uow()).by_broker_id("zerodha", "unknown-id") is None


async def test_a_cancel_is_requested_then_confirmed(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    cancelled = await world.cancel(world.uow())(trader, order.id)
    assert cancelled.status is S.CANCELLED
    assert world.audited_statuses(order.id)[-2:] == ["cancel_requested", "cancelled"]
    (at_broker,) = world.broker_orders("zerodha")
    assert at_broker.status is SimStatus.CANCELLED


@pytest.mark.parametrize("method", ["DELETE", "GET"], ids=["cancel lost", "not sent"])
async def test_a_cancel_the_broker_did_not_take_is_live_again_after_the_window(
    world: OrdersWorld, method: str
) -> None:
    """The cancel fails with a 503: on its way (``DELETE``) or before anything is sent (Kite
    reads the order first, ``GET``). The order stays ``cancel_requested`` while the broker's
    ``open`` may predate the cancel, then follows the broker: live, and cancellable again."""
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path="/orders/*", method=method, kind=FaultKind.STATUS, status=503, times=None)
    )
    requested = await world.cancel(world.uow())(trader, order.id)
    assert requested.status is S.CANCEL_REQUESTED
    world.world.sandboxes["zerodha"].faults.clear()
    await world.poller(world.uow())()
    assert (await world.stored(order.id)).status is S.CANCEL_REQUESTED  # open: before the cancel

    world.clock.advance(CANCEL_CONFIRMATION_WINDOW)
    await world.poller(world.uow())()

    assert (await world.stored(order.id)).status is S.OPEN
    cancelled = await world.cancel(world.uow())(trader, order.id)
    assert cancelled.status is S.CANCELLED
    assert world.place_requests("zerodha") == 1


async def test_a_cancel_the_broker_turned_away_unread_leaves_the_order_live(
    world: OrdersWorld,
) -> None:
    """Kite refuses the session (403 ``TokenException``): the cancel never reached the
    exchange, so the order is ``open`` again at once (not ``cancel_requested`` for the
    window) and the connection asks for a new login."""
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    world.world.sandboxes["zerodha"].tokens.expire()
    with pytest.raises(ReauthRequired):
        await world.cancel(world.uow())(trader, order.id)
    assert (await world.stored(order.id)).status is S.OPEN
    stored = await world.world.stored(connection.id)
    assert stored is not None and stored.status.value == "needs_reauth"
    assert world.audited_statuses(order.id)[-2:] == ["cancel_requested", "open"]
    (at_broker,) = world.broker_orders("zerodha")
    assert at_broker.status is SimStatus.OPEN


async def test_a_filled_order_cannot_be_cancelled(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    order = (await world.place_order(trader, connection, "m", world.draft("zerodha"))).order
    assert order.status is S.FILLED
    with pytest.raises(Conflict) as raised:
        await world.cancel(world.uow())(trader, order.id)
    assert raised.value.code == "order_not_changeable"
    assert raised.value.message == "The order is filled: it cannot be changed."


async def test_an_unknown_order_cannot_be_cancelled_before_reconciliation(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    order = (await world.place_order(trader, connection, "lost", world.draft("zerodha"))).order
    with pytest.raises(Conflict) as raised:
        await world.cancel(world.uow())(trader, order.id)
    assert raised.value.code == "order_not_changeable"
    assert "answer to this order was lost" in raised.value.message


@pytest.mark.parametrize("fate", ["deleted", "disconnected", "expired"])
async def test_an_order_on_a_connection_no_longer_usable_cannot_be_changed(
    world: OrdersWorld, fate: str
) -> None:
    """Not a 404 "No such secret." once the connection's credentials are gone: a conflict
    that says what to do, and nothing reaches the broker."""
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    uow = world.uow()
    connections = MemoryProviderConnectionRepository(uow)
    if fate == "deleted":
        assert await connections.delete(connection.id)
    elif fate == "disconnected":
        await connections.save(connection.disconnected(world.clock.now()))
    else:
        world.clock.advance(days=1)  # Kite's token died at 06:00 IST
    await uow.commit()
    sent = len(world.world.recorders["zerodha"].requests)

    for attempt in (
        world.cancel(world.uow())(trader, order.id),
        world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(2))),
    ):
        with pytest.raises(ReauthRequired) as raised:
            await attempt
        assert raised.value.code == "connection_not_usable"

    assert len(world.world.recorders["zerodha"].requests) == sent
    assert (await world.stored(order.id)).status is S.OPEN


async def test_an_order_on_a_connection_made_read_only_cannot_be_changed(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    uow = world.uow()
    await MemoryProviderConnectionRepository(uow).save(
        replace(connection, scopes=frozenset({ConnectionScope.READ}))
    )
    await uow.commit()

    with pytest.raises(Forbidden) as raised:
        await world.cancel(world.uow())(trader, order.id)

    assert raised.value.code == "connection_cannot_trade"
    assert (await world.stored(order.id)).status is S.OPEN


@pytest.mark.parametrize("provider", ["zerodha", "schwab"])
async def test_a_modification_reaches_the_broker(world: OrdersWorld, provider: str) -> None:
    trader, connection = await world.trader(provider)
    price = Decimal(1400) if provider == "zerodha" else Decimal(150)
    limit = world.draft(provider, type=OrderType.LIMIT, limit_price=price, quantity=Decimal(2))
    order = (await world.place_order(trader, connection, "rest", limit)).order
    change = OrderChange(quantity=Decimal(3), limit_price=price - 10)
    modified = await world.modify(world.uow())(trader, order.id, change)
    assert modified.request.quantity == Decimal(3)
    assert modified.request.limit_price == price - 10
    if provider == "schwab":  # a replace: a new broker order takes over
        assert modified.broker_order_id != order.broker_order_id
    else:
        assert modified.broker_order_id == order.broker_order_id
    assert world.audit("order_modified")


@pytest.mark.parametrize("provider", ["zerodha", "upstox", "groww"])
async def test_a_modification_that_fills_records_the_fills_as_trades(
    world: OrdersWorld, provider: str
) -> None:
    """A change that makes the order marketable fills it at once: its executions are read
    with the broker's answer and become trades, as at placement."""
    trader, connection = await world.trader(provider)
    symbol = BOOKS[provider].instrument.symbol
    last = world.world.sandboxes[provider].exchange.last_price(symbol)
    limit = world.draft(provider, type=OrderType.LIMIT, limit_price=last - 100)
    order = (await world.place_order(trader, connection, "rest", limit)).order
    change = OrderChange(limit_price=last + 10)
    modified = await world.modify(world.uow())(trader, order.id, change)

    assert modified.status is S.FILLED and len(modified.fills) == 1
    trades = await MemoryTradeRepository(world.uow()).all_for_user(trader.user_id)
    assert [t.broker_trade_id for t in trades] == [modified.fills[0].trade_id]


async def test_a_second_replace_asks_the_broker_only_for_what_is_left(world: OrdersWorld) -> None:
    """Schwab replaces the order on modify: the new quantity is the order's whole, and what the
    replaced broker orders filled is never bought again."""
    trader, connection = await world.trader("schwab")
    exchange = world.world.sandboxes["schwab"].exchange
    exchange.liquidity = Decimal(2)
    limit = world.draft(
        "schwab", type=OrderType.LIMIT, limit_price=Decimal(150), quantity=Decimal(6)
    )
    order = (await world.place_order(trader, connection, "rest", limit)).order
    exchange.set_price("AAPL", Decimal(149))  # 2 of the 6 fill
    exchange.set_price("AAPL", Decimal(191))
    await world.refresher(world.uow())(order.id)
    first = await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(8)))
    second = await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(7)))

    assert (first.carried_quantity, second.carried_quantity) == (Decimal(2), Decimal(2))
    live = [o for o in world.broker_orders("schwab") if o.is_open]
    assert [(o.id, o.quantity) for o in live] == [(second.broker_order_id, Decimal(5))]
    assert (second.request.quantity, second.filled_quantity) == (Decimal(7), Decimal(2))


async def _lost_replace(world: OrdersWorld) -> tuple[Trader, PlacedOrder]:
    """A resting Schwab order whose modification Schwab carried out (the order replaced by a
    new one of 12) but whose answer was lost."""
    trader, connection = await world.trader("schwab")
    limit = world.draft(
        "schwab", type=OrderType.LIMIT, limit_price=Decimal(150), quantity=Decimal(10)
    )
    order = (await world.place_order(trader, connection, "rest", limit)).order
    world.world.sandboxes["schwab"].faults.add(
        FaultRule(
            path="/trader/v1/accounts/*/orders/*",
            method="PUT",
            kind=FaultKind.TIMEOUT_AFTER_ACCEPT,
        )
    )
    with pytest.raises(OrderStateUnknown, match="follows Schwab at its next status poll"):
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(12)))
    return trader, order


async def test_a_replace_whose_answer_was_lost_is_followed_not_taken_for_cancelled(
    world: OrdersWorld,
) -> None:
    trader, order = await _lost_replace(world)
    [old, new] = world.broker_orders("schwab")
    assert (old.status, new.status, new.quantity) == (SimStatus.CANCELLED, SimStatus.OPEN, 12)

    followed = await world.refresher(world.uow())(order.id)

    assert (followed.status, followed.broker_order_id) == (S.OPEN, new.id)
    assert (followed.request.quantity, followed.request.limit_price) == (12, 150)
    assert followed.estimated_value == Decimal(1800)  # the day's limit counts it as replaced
    assert world.audit("order_modified")
    cancelled = await world.cancel(world.uow())(trader, order.id)
    assert cancelled.status is S.CANCELLED
    assert not [o for o in world.broker_orders("schwab") if o.is_open]


async def _resting_kite_order(world: OrdersWorld) -> tuple[Trader, PlacedOrder]:
    """A Kite limit buy of 10 INFY at 1400 (the market is 1500): it rests open."""
    trader, connection = await world.trader("zerodha")
    limit = world.draft(
        "zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400), quantity=Decimal(10)
    )
    return trader, (await world.place_order(trader, connection, "rest", limit)).order


async def test_an_order_changed_at_the_broker_takes_the_brokers_terms_audited(
    world: OrdersWorld,
) -> None:
    _, order = await _resting_kite_order(world)
    [at_kite] = world.broker_orders("zerodha")
    world.world.sandboxes["zerodha"].exchange.modify(
        at_kite.id, quantity=Decimal(12), price=Decimal("1390.50")
    )  # in Kite's own app

    followed = await world.refresher(world.uow())(order.id)

    assert (followed.request.quantity, followed.request.limit_price) == (12, Decimal("1390.50"))
    assert followed.estimated_value == Decimal("16686.00")  # the day's limit counts it so
    [event] = [e for e in world.audit("order_modified") if e.target == f"order:{order.id}"]
    assert event.actor is None  # the system's refresh, not a person
    assert {
        name: event.metadata[name]
        for name in ("changed_at", "previous_quantity", "quantity", "limit_price")
    } == {
        "changed_at": "broker",
        "previous_quantity": "10",
        "quantity": "12",
        "limit_price": "1390.50",
    }
    await world.refresher(world.uow())(order.id)  # nothing new: nothing written
    assert len(world.audit("order_modified")) == 1


async def test_a_modification_whose_answer_was_lost_is_learnt_and_fills_in_full(
    world: OrdersWorld,
) -> None:
    trader, order = await _resting_kite_order(world)
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path=KITE_MODIFY_PATH, method="PUT", kind=FaultKind.TIMEOUT_AFTER_ACCEPT)
    )
    with pytest.raises(ProviderUnavailable):
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(15)))
    assert (await world.stored(order.id)).request.quantity == Decimal(10)
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))  # 15 fill

    filled = await world.refresher(world.uow())(order.id)

    assert (filled.status, filled.request.quantity, filled.filled_quantity) == (S.FILLED, 15, 15)
    trades = await MemoryTradeRepository(world.uow()).all_for_user(trader.user_id)
    assert sum(t.quantity for t in trades) == Decimal(15)


async def test_cancelling_an_order_replaced_behind_our_back_cancels_the_replacement(
    world: OrdersWorld,
) -> None:
    trader, order = await _lost_replace(world)
    cancelled = await world.cancel(world.uow())(trader, order.id)
    assert (cancelled.status, cancelled.broker_order_id) == (
        S.CANCELLED,
        world.broker_orders("schwab")[1].id,
    )
    assert not [o for o in world.broker_orders("schwab") if o.is_open]


async def test_a_modification_on_a_refused_session_changes_nothing_and_asks_for_a_login(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    world.world.sandboxes["zerodha"].tokens.expire()
    with pytest.raises(ReauthRequired):
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(3)))
    assert (await world.stored(order.id)).request == order.request
    stored = await world.world.stored(connection.id)
    assert stored is not None and stored.status.value == "needs_reauth"


async def test_growing_an_order_past_the_step_up_threshold_needs_a_recent_step_up(
    world: OrdersWorld,
) -> None:
    """A small order needs no step-up; a modification that makes it worth more than the
    threshold does, as placing it at that size would (400 x 1400 INR > 500,000)."""
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    world.clock.advance(minutes=6)
    requests = len(world.world.recorders["zerodha"].requests)
    with pytest.raises(StepUpRequired):
        await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(400)))
    assert len(world.world.recorders["zerodha"].requests) == requests
    assert (await world.stored(order.id)).request == order.request
    small = await world.modify(world.uow())(trader, order.id, OrderChange(quantity=Decimal(3)))
    assert small.request.quantity == Decimal(3)
    world.world.sandboxes["zerodha"].exchange.deposit(INDIA_ACCOUNT_ID, Decimal(1_000_000))
    fresh = replace(trader, auth_time=world.clock.now())
    grown = await world.modify(world.uow())(fresh, order.id, OrderChange(quantity=Decimal(400)))
    assert grown.request.quantity == Decimal(400)


async def test_a_modification_off_the_tick_never_reaches_the_broker(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    requests = len(world.world.recorders["zerodha"].requests)
    with pytest.raises(InvalidInput) as raised:
        await world.modify(world.uow())(
            trader, order.id, OrderChange(limit_price=Decimal("1399.99"))
        )
    assert raised.value.errors[0].field == "limit_price"
    assert len(world.world.recorders["zerodha"].requests) == requests


# -- reading ---------------------------------------------------------------------------------


async def test_orders_are_the_owners_only(world: OrdersWorld) -> None:
    alice, connection = await world.trader("zerodha")
    bob, _ = await world.trader("zerodha")
    order = (await world.place_order(alice, connection, "k", world.draft("zerodha"))).order
    assert (await world.get(world.uow())(alice.user_id, order.id)).id == order.id
    for attempt in (
        world.get(world.uow())(bob.user_id, order.id),
        world.cancel(world.uow())(bob, order.id),
        world.modify(world.uow())(bob, order.id, OrderChange(quantity=Decimal(2))),
    ):
        with pytest.raises(NotFound):
            await attempt


async def test_listing_pages_newest_first_with_filters(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    ids = []
    for number in range(5):
        side = OrderSide.BUY if number % 2 == 0 else OrderSide.SELL
        placement = await world.place_order(
            trader, connection, f"k{number}", world.draft("zerodha", side=side)
        )
        ids.append(placement.order.id)
        world.clock.advance(seconds=1)
    listing = world.listing(world.uow())
    first = await listing(trader.user_id, limit=2)
    assert [o.id for o in first.items] == ids[:-3:-1]
    assert first.next_cursor is not None
    second = await listing(trader.user_id, cursor=first.next_cursor, limit=2)
    third = await listing(trader.user_id, cursor=second.next_cursor, limit=2)
    assert [o.id for o in (*first.items, *second.items, *third.items)] == ids[::-1]
    assert third.next_cursor is None
    sells = await listing(trader.user_id, OrderFilters(side=OrderSide.SELL))
    assert [o.id for o in sells.items] == [ids[3], ids[1]]
    with pytest.raises(InvalidInput):
        await listing(trader.user_id, limit=101)
    with pytest.raises(InvalidInput):
        await listing(trader.user_id, cursor="garbage")


async def test_a_preview_estimates_without_placing(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    preview = await world.preview(world.uow())(
        trader, connection.id, world.draft("zerodha", quantity=Decimal(10))
    )
    assert preview.is_valid
    assert preview.estimated_cost is not None
    assert preview.estimated_cost.amount == Decimal(10) * Decimal(1500)
    assert preview.estimated_charges is not None
    assert preview.projected_position == Decimal(30)  # 20 INFY held in the seed
    assert preview.projected_cash is not None
    assert world.place_requests("zerodha") == 0
    bad = await world.preview(world.uow())(
        trader, connection.id, world.draft("zerodha", quantity=Decimal(0))
    )
    assert [p.field for p in bad.problems] == ["quantity"]


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_a_preview_counts_what_is_held_once(world: OrdersWorld, provider: str) -> None:
    """Schwab lists its holdings among its positions too: they are not counted twice."""
    trader, connection = await world.trader(provider)
    book = BOOKS[provider]
    engine = world.world.sandboxes[provider].exchange.account(book.engine_account)
    held = engine.holdings[book.instrument.symbol].quantity
    preview = await world.preview(world.uow())(
        trader, connection.id, world.draft(provider, quantity=Decimal(10))
    )
    assert preview.projected_position == held + 10


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_a_preview_names_an_account_the_connection_does_not_have(
    world: OrdersWorld, provider: str
) -> None:
    """Placed, such an order comes back rejected (account_not_found): the preview says so
    instead of answering valid with no figures (found by QA)."""
    trader, connection = await world.trader(provider)
    preview = await world.preview(world.uow())(
        trader, connection.id, world.draft(provider, account_id="NO-SUCH-ACCOUNT")
    )
    assert [problem.field for problem in preview.problems] == ["account_id"]
    assert not preview.is_valid
    assert world.place_requests(provider) == 0


# -- sends that never left -------------------------------------------------------------------


class BrokerStandIn:
    """The real broker of the world, behind the ProviderRegistry / ProviderAuth /
    BrokerGateway / BrokerSession / OrderGateway roles at once, so that a test overrides only
    the order calls it disturbs."""

    def __init__(self, world: OrdersWorld) -> None:
        self.world = world
        self._gateway: Any = None
        self._session: Any = None

    def get(self, provider: str) -> Any:
        self._gateway = self.world.world.registry.get(provider).gateway
        return self

    @property
    def gateway(self) -> Any:
        return self

    @property
    def capabilities(self) -> Any:
        return self._gateway.capabilities

    def session(self, credentials: Any) -> Any:
        self._session = self._gateway.session(credentials)
        return self

    @property
    def quotes(self) -> Any:
        return self._session.quotes

    @property
    def orders(self) -> Any:
        return self

    async def place(self, request: Any) -> Any:
        return await self._session.orders.place(request)

    async def find_by_client_reference(self, account_id: str, request: Any) -> Any:
        return await self._session.orders.find_by_client_reference(account_id, request)

    async def fills(self, account_id: str, order_id: str) -> Any:
        return await self._session.orders.fills(account_id, order_id)


class Unreachable(BrokerStandIn):
    """A broker whose next ``failures`` placements cannot connect (nothing is sent: the port's
    ``ProviderUnavailable``), each costing ``delay`` of the clock; otherwise the real adapter."""

    def __init__(self, world: OrdersWorld, failures: int, delay: timedelta) -> None:
        super().__init__(world)
        self.failures, self.delay = failures, delay
        self.attempts = 0

    async def place(self, request: Any) -> Any:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            self.world.clock.advance(self.delay)
            raise ProviderUnavailable("Cannot connect.", code="provider_unreachable")
        return await super().place(request)


@pytest.mark.parametrize(
    ("failures", "delay", "status", "attempts", "reason"),
    [
        (2, timedelta(seconds=1), S.FILLED, 3, None),
        (3, timedelta(seconds=1), S.REJECTED, 3, "provider_unreachable"),
        (2, timedelta(seconds=20), S.REJECTED, 2, "submit_deadline_passed"),
    ],
)
async def test_a_send_that_never_left_is_retried_within_its_limits(
    world: OrdersWorld,
    failures: int,
    delay: timedelta,
    status: OrderStatus,
    attempts: int,
    reason: str | None,
) -> None:
    trader, connection = await world.trader("zerodha")
    broker = Unreachable(world, failures, delay)
    world.registry = broker  # type: ignore[assignment]
    order = (await world.place_order(trader, connection, "k", world.draft("zerodha"))).order
    assert order.status is status
    assert broker.attempts == attempts
    assert order.submit_attempts == attempts
    assert world.place_requests("zerodha") == (1 if status is S.FILLED else 0)
    assert (order.last_error and order.last_error.code) == reason


async def test_a_match_another_order_holds_is_never_guessed(world: OrdersWorld) -> None:
    """Schwab matches by fields: two identical orders of one day, the first one's answer lost.
    The newest match belongs to the second order, so the first is flagged for review, never
    bound to it and never rejected."""
    trader, connection = await world.trader("schwab")
    world.arm("schwab", FaultKind.TIMEOUT_AFTER_ACCEPT)
    lost = (await world.place_order(trader, connection, "first", world.draft("schwab"))).order
    twin = (await world.place_order(trader, connection, "second", world.draft("schwab"))).order
    assert (lost.status, twin.status) == (S.UNKNOWN, S.FILLED)
    world.clock.advance(world.policy.reconcile_grace + world.policy.submit_deadline)
    assert (await world.reconciler(world.uow())()).needs_review == 1
    flagged = await world.stored(lost.id)
    assert flagged.status is S.UNKNOWN
    assert flagged.broker_order_id is None
    assert flagged.last_error is not None
    assert flagged.last_error.code == "needs_review"
    assert len(world.broker_orders("schwab")) == 2


def _is_placement(provider: str, request: httpx.Request) -> bool:
    return request.method == "POST" and fnmatch.fnmatchcase(
        request.url.path, BOOKS[provider].place_path
    )


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_a_connect_error_at_the_adapter_is_retried(world: OrdersWorld, provider: str) -> None:
    """No connection could be opened, so nothing reached the broker: sent again at once."""
    trader, connection = await world.trader(provider)
    recorder = world.world.recorders[provider]
    send = recorder.handle_async_request
    refused: list[httpx.Request] = []

    async def refuse_the_first_placement(request: httpx.Request) -> httpx.Response:
        if _is_placement(provider, request) and not refused:
            refused.append(request)
            raise httpx.ConnectError("connection refused", request=request)
        return await send(request)

    recorder.handle_async_request = refuse_the_first_placement  # type: ignore[method-assign]
    order = (await world.place_order(trader, connection, "k", world.draft(provider))).order
    assert refused
    assert order.status is S.FILLED
    assert order.submit_attempts == 2
    assert len(world.broker_orders(provider)) == 1


UNCLASSIFIED_ERRORS = {
    "zerodha": {"status": "error", "error_type": "GeneralException", "message": "try later"},
    "upstox": {
        "status": "error",
        "errors": [{"errorCode": "UDAPI999999", "message": "Something went wrong"}],
    },
}


@pytest.mark.parametrize("provider", sorted(UNCLASSIFIED_ERRORS))
async def test_an_unclassified_error_answer_to_a_placement_is_never_sent_again(
    world: OrdersWorld, provider: str
) -> None:
    """An error envelope the adapter cannot classify proves nothing about whether the broker
    took the order: ``unknown`` and reconciled, never sent a second time (only a connect error
    or an open circuit proves that nothing left)."""
    trader, connection = await world.trader(provider)
    recorder = world.world.recorders[provider]
    send = recorder.handle_async_request

    async def answer_an_unclassified_error(request: httpx.Request) -> httpx.Response:
        response = await send(request)
        if _is_placement(provider, request):
            return httpx.Response(400, json=UNCLASSIFIED_ERRORS[provider], request=request)
        return response

    recorder.handle_async_request = answer_an_unclassified_error  # type: ignore[method-assign]
    order = (await world.place_order(trader, connection, "k", world.draft(provider))).order
    assert order.status is S.UNKNOWN
    assert order.submit_attempts == 1
    assert len(world.broker_orders(provider)) == 1


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_a_connection_lost_after_sending_is_never_sent_again(
    world: OrdersWorld, provider: str
) -> None:
    """The broker took the order, then the connection broke before its answer: ``unknown``,
    one attempt, one order at the broker, left to reconciliation."""
    trader, connection = await world.trader(provider)
    recorder = world.world.recorders[provider]
    send = recorder.handle_async_request

    async def reset_after_the_placement(request: httpx.Request) -> httpx.Response:
        response = await send(request)
        if _is_placement(provider, request):
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    recorder.handle_async_request = reset_after_the_placement  # type: ignore[method-assign]
    order = (await world.place_order(trader, connection, "k", world.draft(provider))).order
    assert order.status is S.UNKNOWN
    assert order.submit_attempts == 1
    assert len(world.broker_orders(provider)) == 1


async def test_polling_counts_an_unreachable_broker_and_goes_on(world: OrdersWorld) -> None:
    trader, connection = await world.trader("zerodha")
    _, schwabs = await world.trader("schwab")
    schwab_trader = world.trader_of(schwabs.user_id)
    kite_limit = world.draft("zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400))
    schwab_limit = world.draft("schwab", type=OrderType.LIMIT, limit_price=Decimal(150))
    await world.place_order(trader, connection, "kite", kite_limit)
    await world.place_order(schwab_trader, schwabs, "schwab", schwab_limit)
    world.world.sandboxes["zerodha"].faults.add(
        FaultRule(path="/orders/*", method="GET", kind=FaultKind.STATUS, status=503, times=None)
    )
    round_ = await world.poller(world.uow())()
    assert (round_.refreshed, round_.failed) == (1, 1)


@pytest.mark.parametrize(
    "limits",
    [
        {"reconcile_backoff": timedelta(0)},
        {"reconcile_window": timedelta(0)},
        {"reconcile_backoff": timedelta(seconds=10), "reconcile_backoff_max": timedelta(seconds=5)},
    ],
)
def test_a_reconciliation_backoff_or_window_that_cannot_work_is_refused(
    limits: dict[str, timedelta],
) -> None:
    with pytest.raises(ValueError, match="reconcile"):
        TradingPolicy(**limits)


# -- no transaction open while a broker answers ---------------------------------------------


def held_open(sent: list[SentRequest]) -> list[str]:
    """The requests that left while the watched unit of work had a transaction open (on
    SQLite, while it held the database's write lock)."""
    return [f"{r.provider} {r.method} {r.path}" for r in sent if r.in_transaction]


def watched(world: OrdersWorld) -> WatchedUnitOfWork:
    return WatchedUnitOfWork(world.world.base.database)


@pytest.mark.parametrize(
    ("provider", "listed"),
    [*((provider, True) for provider in sorted(BOOKS)), ("groww", False), ("zerodha", False)],
)
async def test_no_transaction_is_open_while_the_broker_answers_a_placement(
    world: OrdersWorld, provider: str, listed: bool
) -> None:
    """The instrument (from the broker where the catalog lacks it), the quote of the step-up
    check, the placement and its fills."""
    if not listed:
        world.catalog = MemoryInstrumentCatalog({})
    trader, connection = await world.trader(provider)
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        placement = await world.place(uow)(
            trader, connection.id, IdempotencyKey("k"), world.draft(provider)
        )
    assert placement.order.status is S.FILLED
    assert world.place_requests(provider) == 1
    assert sent and held_open(sent) == []


async def test_no_transaction_is_open_while_the_broker_answers_a_preview(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        preview = await world.preview(uow)(trader, connection.id, world.draft("zerodha"))
    assert preview.projected_cash is not None
    assert sent and held_open(sent) == []


async def test_no_transaction_is_open_while_the_broker_answers_a_modification(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        modified = await world.modify(uow)(trader, order.id, OrderChange(quantity=Decimal(3)))
    assert modified.request.quantity == Decimal(3)
    assert sent and held_open(sent) == []


@pytest.mark.parametrize("fills_first", [False, True], ids=["confirmed", "refused: filled"])
async def test_no_transaction_is_open_while_the_broker_answers_a_cancel(
    world: OrdersWorld, fills_first: bool
) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    if fills_first:  # the broker refuses the cancel, and is asked for the order
        world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        ended = await world.cancel(uow)(trader, order.id)
    assert ended.status is (S.FILLED if fills_first else S.CANCELLED)
    assert sent and held_open(sent) == []


@pytest.mark.parametrize("provider", sorted(BOOKS))
async def test_no_transaction_is_open_while_the_broker_answers_a_reconciliation(
    world: OrdersWorld, provider: str
) -> None:
    """The lookup by client reference (or fields), and the fills of the order it finds."""
    trader, connection = await world.trader(provider)
    world.arm(provider, FaultKind.TIMEOUT_AFTER_ACCEPT)
    lost = (await world.place_order(trader, connection, "lost", world.draft(provider))).order
    world.clock.advance(world.policy.reconcile_grace + timedelta(seconds=1))
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        assert (await world.reconciler(uow)()).settled == 1
    assert (await world.stored(lost.id)).status is S.FILLED
    assert sent and held_open(sent) == []


async def test_no_transaction_is_open_while_the_broker_answers_a_poll(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    order = await resting_order(world, trader, connection)
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        assert (await world.poller(uow)()).changed == 1
        assert order.broker_order_id is not None
        await world.refresher(uow).by_broker_id("zerodha", order.broker_order_id)
    assert (await world.stored(order.id)).status is S.FILLED
    assert sent and held_open(sent) == []


class BindsMeanwhile(BrokerStandIn):
    """The real broker, except that while it lists an order's fills another order of ours is
    bound to that broker order (committed by someone else meanwhile)."""

    def __init__(self, world: OrdersWorld, other: UUID) -> None:
        super().__init__(world)
        self.other = other

    async def fills(self, account_id: str, order_id: str) -> Any:
        uow = self.world.uow()
        orders = MemoryOrderRepository(uow)
        other = await orders.get(self.other)
        assert other is not None
        await orders.save(replace(other, broker_order_id=order_id))
        await uow.commit()
        return await super().fills(account_id, order_id)


async def test_a_match_bound_to_another_order_while_the_broker_answered_is_never_guessed(
    world: OrdersWorld,
) -> None:
    """The transaction ends while the broker lists the fills: which order holds the broker's
    order id is read again before the found order is bound to it."""
    trader, connection = await world.trader("zerodha")
    other = await resting_order(world, trader, connection)
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    lost = (await world.place_order(trader, connection, "lost", world.draft("zerodha"))).order
    world.clock.advance(world.policy.reconcile_grace + timedelta(seconds=1))
    world.registry = BindsMeanwhile(world, other.id)  # type: ignore[assignment]
    assert (await world.reconciler(world.uow())()).needs_review == 1
    flagged = await world.stored(lost.id)
    assert (flagged.status, flagged.broker_order_id) == (S.UNKNOWN, None)
    assert flagged.last_error is not None and flagged.last_error.code == "needs_review"


# -- connections that need a new login --------------------------------------------------------


async def resting(world: OrdersWorld, provider: str) -> tuple[Trader, ProviderConnection, UUID]:
    """A trader of ``provider`` with one limit order resting at the broker: its id."""
    trader, connection = await world.trader(provider)
    price = Decimal(150) if provider == "schwab" else Decimal(1400)
    draft = world.draft(provider, type=OrderType.LIMIT, limit_price=price)
    placement = await world.place_order(trader, connection, "rest", draft)
    assert not placement.order.is_final and placement.order.broker_order_id is not None
    return trader, connection, placement.order.id


def sent_to(sent: list[SentRequest], provider: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in sent if r.provider == provider]


@pytest.mark.parametrize("provider", ["groww", "zerodha"])
async def test_the_poll_never_calls_the_broker_on_a_connection_past_its_daily_reset(
    world: OrdersWorld, provider: str
) -> None:
    trader, connection, order_id = await resting(world, provider)
    second = world.draft(provider, type=OrderType.LIMIT, limit_price=Decimal(1300))
    await world.place_order(trader, connection, "rest-2", second)
    assert connection.expires_at is not None
    world.clock.set(connection.expires_at + timedelta(minutes=1))

    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        round_ = await world.poller(uow)()

    assert sent_to(sent, provider) == []
    assert (round_.refreshed, round_.failed, round_.skipped) == (0, 0, 2)
    assert not (await world.stored(order_id)).is_final, "followed again after the next login"


async def test_a_session_the_broker_refuses_during_the_poll_needs_a_new_login(
    world: OrdersWorld,
) -> None:
    _, connection, _ = await resting(world, "groww")
    world.world.sandboxes["groww"].faults.add(
        FaultRule(path="/v1/order/*", method="GET", kind=FaultKind.STATUS, status=401, times=None)
    )

    first = await world.poller(world.uow())()
    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        second = await world.poller(uow)()

    stored = await MemoryProviderConnectionRepository(world.uow()).get(connection.id)
    assert stored is not None and stored.status is ConnectionStatus.NEEDS_REAUTH
    assert (first.skipped, second.skipped) == (1, 1)
    assert sent_to(sent, "groww") == [], "not called again until the person logs in"


async def test_the_poll_refreshes_an_expired_schwab_access_token_and_goes_on(
    world: OrdersWorld,
) -> None:
    _, connection, order_id = await resting(world, "schwab")
    world.clock.advance(hours=2)  # the 30-minute access token is dead, the 7-day refresh lives

    round_ = await world.poller(world.uow())()

    stored = await MemoryProviderConnectionRepository(world.uow()).get(connection.id)
    assert stored is not None and stored.status is ConnectionStatus.CONNECTED
    assert stored.last_refreshed_at == world.clock.now()
    assert (round_.refreshed, round_.failed, round_.skipped) == (1, 0, 0)
    assert (await world.stored(order_id)).status is not S.UNKNOWN


async def test_an_unknown_order_on_a_connection_past_its_reset_waits_unasked_until_a_new_login(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    placement = await world.place_order(trader, connection, "lost", world.draft("zerodha"))
    assert placement.order.status is S.UNKNOWN and connection.expires_at is not None
    world.clock.set(connection.expires_at + timedelta(minutes=1))  # long past its deadline

    uow = watched(world)
    with world.world.requests_watched(uow) as sent:
        looked = await world.reconciler(uow)()

    assert sent_to(sent, "zerodha") == []
    assert looked.rejected == 0, "never taken for not received: the broker was not asked"
    assert (await world.stored(placement.order.id)).status is S.UNKNOWN

    authorization = world.world.authorization(world.uow())
    started = await authorization.start(trader.user_id, "s", connection.id, CALLER)
    params = await world.world.consent("zerodha", started)
    await world.world.callback("zerodha", params, session=None, browser_state=started.state)
    world.clock.advance(world.policy.reconcile_backoff_max)

    with world.world.requests_watched(uow) as sent:
        looked = await world.reconciler(uow)()
    assert sent_to(sent, "zerodha"), "looked up at the broker again once logged in"
    # Kite's order book now holds the new day only: not finding the order there proves
    # nothing (it may have filled yesterday), so a person checks the contract note.
    assert (looked.rejected, looked.needs_review) == (0, 1)
    stored = await world.stored(placement.order.id)
    assert stored.status is S.UNKNOWN
    assert stored.last_error is not None and stored.last_error.code == "order_book_rolled_over"
