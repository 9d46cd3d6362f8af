"""Manual trade records (create, read, list, replace, change, delete) and broker fills recorded
as trades, on memory adapters and a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from dashcore.application.trades import (
    KEEP,
    RecordFills,
    TradeChanges,
    TradeDetails,
    Trades,
    broker_account_label,
    trade_type_of,
)
from dashcore.domain.errors import Conflict, InvalidInput, NotFound
from dashcore.domain.instruments import AssetClass, Instrument, InstrumentKey
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import Fill, OrderRequest, OrderSide, OrderType
from dashcore.domain.trades import MANUAL_ACCOUNT, Trade, TradeSource, TradeType
from dashcore.domain.trading import PlacedOrder
from dashcore.domain.users import User
from dashcore.ports.trades import TradeFilter
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.trades import MemoryTradeRepository
from dashcore_memory.trading import MemoryOrderRepository
from tests.contract.test_order_store import INFY, placed
from tests.contract.test_order_store import order_id as order_id_of
from tests.unit.identity_world import CALLER, World

EXECUTED = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
CONNECTION = UUID("01966f3c-0000-7000-8000-00000000c0c0")


def details(**changes: object) -> TradeDetails:
    base = TradeDetails(
        symbol="infy",
        exchange="nse",
        side=OrderSide.BUY,
        quantity=Decimal("10"),
        price=Decimal("1450.05"),
        currency="INR",
        executed_at=EXECUTED,
        brokerage_charge=Decimal("20.34"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def trades(world: World, uow: MemoryUnitOfWork) -> Trades:
    return Trades(
        MemoryTradeRepository(uow),
        MemoryOrderRepository(uow),
        world.audit(uow),
        uow,
        world.clock,
        world.ids,
    )


@pytest.fixture
def world() -> World:
    return World.create()


@pytest.fixture
async def owner(world: World) -> User:
    return await world.add_user("owner@example.com")


@pytest.fixture
async def other(world: World) -> User:
    return await world.add_user("other@example.com")


def audited(world: World, action: str) -> list[str | None]:
    records = world.database.table("audit_events").values()
    return [r.event.target for r in records if r.event.action == action]


async def test_recording_keeps_the_trade_with_codes_upper_case_and_audits_it(
    world: World, owner: User
) -> None:
    trade = await trades(world, world.uow()).record(
        owner.id, details(mtf_charge=Decimal("3.5"), capital_used=Decimal("7250")), CALLER
    )

    assert trade.instrument == InstrumentKey("INFY", "NSE")
    assert trade.account == MANUAL_ACCOUNT
    assert trade.source is TradeSource.MANUAL
    assert trade.price == Money.of("1450.05", "INR")
    assert trade.charges == Money.of("20.34", "INR")
    assert trade.mtf_charge == Money.of("3.5", "INR")
    assert trade.capital_used == Money.of("7250", "INR")
    assert await trades(world, world.uow()).get(owner.id, trade.id) == trade
    assert audited(world, "trade_recorded") == [f"trade:{trade.id}"]


async def test_every_problem_of_a_trade_is_named_by_its_field(world: World, owner: User) -> None:
    bad = details(
        symbol=" ",
        exchange="NS E",
        quantity=Decimal(0),
        price=Decimal("-1"),
        currency="inr",
        brokerage_charge=Decimal("-0.01"),
        mtf_charge=Decimal("NaN"),
        capital_used=Decimal("-5"),
        account="",
        executed_at=world.clock.now() + timedelta(seconds=1),
    )
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).record(owner.id, bad, CALLER)
    assert [error.field for error in caught.value.errors] == [
        "symbol",
        "exchange",
        "quantity",
        "price",
        "brokerage_charge",
        "mtf_charge",
        "capital_used",
        "currency",
        "account",
        "executed_at",
    ]
    assert await MemoryTradeRepository(world.uow()).all_for_user(owner.id) == []


async def test_an_amount_out_of_range_is_refused_by_name(world: World, owner: User) -> None:
    huge = details(quantity=Decimal("1e999999999"), brokerage_charge=Decimal("1e-19"))
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).record(owner.id, huge, CALLER)
    assert [error.field for error in caught.value.errors] == ["quantity", "brokerage_charge"]


async def test_a_naive_execution_time_is_refused(world: World, owner: User) -> None:
    naive = details(executed_at=datetime(2026, 1, 1, 8, 30))  # noqa: DTZ001 - under test
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).record(owner.id, naive, CALLER)
    assert [error.field for error in caught.value.errors] == ["executed_at"]


async def test_now_is_not_the_future(world: World, owner: User) -> None:
    trade = await trades(world, world.uow()).record(
        owner.id, details(executed_at=world.clock.now()), CALLER
    )
    assert trade.executed_at == world.clock.now()


async def test_another_users_trade_is_not_found_for_every_operation(
    world: World, owner: User, other: User
) -> None:
    trade = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    use_cases = trades(world, world.uow())
    for attempt in (
        use_cases.get(other.id, trade.id),
        use_cases.replace(other.id, trade.id, details(), CALLER),
        use_cases.update(other.id, trade.id, TradeChanges(quantity=Decimal(1)), CALLER),
        use_cases.delete(other.id, trade.id, CALLER),
        use_cases.get(owner.id, UUID(int=1)),
    ):
        with pytest.raises(NotFound) as caught:
            await attempt
        assert caught.value.code == "trade_not_found"
    assert await trades(world, world.uow()).get(owner.id, trade.id) == trade


async def test_replacing_changes_everything_but_the_id_and_owner(world: World, owner: User) -> None:
    trade = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    new = details(symbol="TCS", side=OrderSide.SELL, type=TradeType.FUTURES, account="Fidelity")

    replaced = await trades(world, world.uow()).replace(owner.id, trade.id, new, CALLER)

    assert replaced.id == trade.id
    assert replaced.user_id == owner.id
    assert (replaced.instrument.symbol, replaced.side, replaced.type, replaced.account) == (
        "TCS",
        OrderSide.SELL,
        TradeType.FUTURES,
        "Fidelity",
    )
    assert await trades(world, world.uow()).get(owner.id, trade.id) == replaced
    assert audited(world, "trade_updated") == [f"trade:{trade.id}"]


async def test_a_change_keeps_what_it_does_not_name_and_none_clears(
    world: World, owner: User
) -> None:
    trade = await trades(world, world.uow()).record(
        owner.id, details(mtf_charge=Decimal(2)), CALLER
    )
    changes = TradeChanges(quantity=Decimal("12"), mtf_charge=None, symbol=KEEP)

    changed = await trades(world, world.uow()).update(owner.id, trade.id, changes, CALLER)

    assert changed == replace(trade, quantity=Decimal("12"), mtf_charge=None)


async def test_a_change_that_leaves_the_trade_invalid_changes_nothing(
    world: World, owner: User
) -> None:
    trade = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).update(
            owner.id, trade.id, TradeChanges(price=Decimal(0)), CALLER
        )
    assert [error.field for error in caught.value.errors] == ["price"]
    assert await trades(world, world.uow()).get(owner.id, trade.id) == trade


async def test_a_trade_in_another_currency_than_its_instruments_trades_is_refused(
    world: World, owner: User, other: User
) -> None:
    first = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    second = await trades(world, world.uow()).record(owner.id, details(symbol="TCS"), CALLER)
    for attempt in (
        lambda use_cases: use_cases.record(owner.id, details(currency="USD"), CALLER),
        lambda use_cases: use_cases.replace(owner.id, second.id, details(currency="USD"), CALLER),
    ):
        uow = world.uow()
        with pytest.raises(InvalidInput) as caught:
            await attempt(trades(world, uow))
        await uow.rollback()  # as the request's unit of work does
        assert caught.value.code == "currency_mismatch"
        assert [error.field for error in caught.value.errors] == ["currency"]
        assert "NSE:INFY trades in INR" in caught.value.message
    listed = await trades(world, world.uow()).list(owner.id, TradeFilter())
    assert {trade.id for trade in listed.items} == {first.id, second.id}
    assert audited(world, "trade_recorded") == [f"trade:{first.id}", f"trade:{second.id}"]
    assert audited(world, "trade_updated") == []


async def test_a_currency_is_checked_against_the_instruments_other_trades_only(
    world: World, owner: User, other: User
) -> None:
    only = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    moved = await trades(world, world.uow()).update(
        owner.id, only.id, TradeChanges(currency="USD"), CALLER
    )
    assert moved.price.currency == Currency("USD")
    await trades(world, world.uow()).record(owner.id, details(symbol="TCS"), CALLER)
    await trades(world, world.uow()).record(other.id, details(), CALLER)
    await trades(world, world.uow()).record(owner.id, details(exchange="BSE"), CALLER)


async def test_deleting_a_manual_trade(world: World, owner: User) -> None:
    trade = await trades(world, world.uow()).record(owner.id, details(), CALLER)
    await trades(world, world.uow()).delete(owner.id, trade.id, CALLER)
    with pytest.raises(NotFound):
        await trades(world, world.uow()).get(owner.id, trade.id)
    assert audited(world, "trade_deleted") == [f"trade:{trade.id}"]


async def test_a_broker_fill_is_read_only(world: World, owner: User) -> None:
    fill = Trade(
        id=UUID(int=99),
        user_id=owner.id,
        account="broker-account",
        instrument=InstrumentKey("INFY", "NSE"),
        side=OrderSide.BUY,
        quantity=Decimal(1),
        price=Money.of(1500, "INR"),
        charges=Money.of(0, "INR"),
        type=TradeType.EQUITY,
        executed_at=EXECUTED,
        source=TradeSource.BROKER_FILL,
        broker_trade_id="T1",
    )
    uow = world.uow()
    await MemoryTradeRepository(uow).add(fill)
    await uow.commit()
    use_cases = trades(world, world.uow())
    for attempt in (
        use_cases.replace(owner.id, fill.id, details(), CALLER),
        use_cases.update(owner.id, fill.id, TradeChanges(quantity=Decimal(2)), CALLER),
        use_cases.delete(owner.id, fill.id, CALLER),
    ):
        with pytest.raises(Conflict) as caught:
            await attempt
        assert caught.value.code == "broker_trade_read_only"
    assert await trades(world, world.uow()).get(owner.id, fill.id) == fill


async def test_listing_pages_newest_first_with_a_cursor(world: World, owner: User) -> None:
    recorded = []
    for minutes in range(5):
        recorded.append(
            await trades(world, world.uow()).record(
                owner.id, details(executed_at=EXECUTED + timedelta(minutes=minutes)), CALLER
            )
        )
    use_cases = trades(world, world.uow())

    first = await use_cases.list(owner.id, TradeFilter(), limit=2)
    second = await use_cases.list(owner.id, TradeFilter(), cursor=first.next_cursor, limit=2)
    last = await use_cases.list(owner.id, TradeFilter(), cursor=second.next_cursor, limit=2)

    assert [*first.items, *second.items, *last.items] == recorded[::-1]
    assert last.next_cursor is None
    full = await use_cases.list(owner.id, TradeFilter(), limit=5)
    assert full.next_cursor is None


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_page_size_out_of_range_is_refused(world: World, owner: User, limit: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).list(owner.id, TradeFilter(), limit=limit)
    assert caught.value.errors[0].field == "limit"


async def test_a_cursor_that_is_not_ours_is_refused(world: World, owner: User) -> None:
    with pytest.raises(InvalidInput) as caught:
        await trades(world, world.uow()).list(owner.id, TradeFilter(), cursor="not-a-cursor")
    assert caught.value.errors[0].field == "cursor"


def test_an_empty_date_range_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        TradeFilter(executed_from=EXECUTED, executed_before=EXECUTED)
    assert caught.value.errors[0].field == "from"


def test_broker_account_labels_are_stable_distinct_and_short() -> None:
    connection = UUID("01966f3c-0000-7000-8000-000000000001")
    schwab_hash = "A" * 64
    label = broker_account_label(connection, schwab_hash)
    assert label == broker_account_label(connection, schwab_hash)
    assert label != broker_account_label(connection, "B" * 64)
    assert label != broker_account_label(UUID(int=2), schwab_hash)
    assert len(label) == 36


@pytest.mark.parametrize(
    ("asset_class", "expected"),
    [
        (AssetClass.EQUITY, TradeType.EQUITY),
        (AssetClass.ETF, TradeType.EQUITY),
        (AssetClass.OPTION, TradeType.OPTIONS),
        (AssetClass.FUTURE, TradeType.FUTURES),
        (AssetClass.CURRENCY, TradeType.CURRENCY),
        (AssetClass.BOND, TradeType.OTHER),
    ],
)
def test_fills_are_classified_by_asset_class(asset_class: AssetClass, expected: TradeType) -> None:
    assert trade_type_of(asset_class) is expected


def filled_order(owner: User, *fills: Fill) -> PlacedOrder:
    """An order of ``owner`` through a Kite connection, as the broker reported it filled."""
    request = OrderRequest(
        provider_account_id="ZX1234",
        instrument=Instrument("INFY", "NSE", Currency("INR"), tick_size=Decimal("0.05")),
        side=OrderSide.BUY,
        type=OrderType.MARKET,
        quantity=Decimal(3),
        client_reference="ref-of-the-order",
    )
    order = PlacedOrder.create(
        UUID(int=500),
        owner.id,
        CONNECTION,
        "zerodha",
        request,
        "0" * 64,
        EXECUTED,
        EXECUTED + timedelta(seconds=30),
    )
    return replace(order, fills=fills)


def fill(trade_id: str, quantity: str, charges: Money | None) -> Fill:
    return Fill(
        trade_id, "KITE-ORDER-1", Decimal(quantity), Money.of("1500.05", "INR"), EXECUTED, charges
    )


async def test_an_orders_fills_become_trades_once_each(world: World, owner: User) -> None:
    order = filled_order(owner, fill("T-1", "1", Money.of("0.45", "INR")), fill("T-2", "2", None))
    uow = world.uow()
    record = RecordFills(MemoryTradeRepository(uow), world.audit(uow), world.ids)

    first = await record(order, order.fills, CALLER)
    again = await record(order, order.fills[1:], CALLER)
    await uow.commit()

    assert again == []
    stored = await MemoryTradeRepository(world.uow()).all_for_user(owner.id)
    assert stored == first
    assert [(t.broker_trade_id, t.quantity, t.charges) for t in stored] == [
        ("T-1", Decimal(1), Money.of("0.45", "INR")),
        ("T-2", Decimal(2), Money.of(0, "INR")),
    ]
    for trade in stored:
        assert trade.account == broker_account_label(CONNECTION, "ZX1234")
        assert trade.source is TradeSource.BROKER_FILL
        assert trade.order_id == order.id
        assert trade.instrument == InstrumentKey("INFY", "NSE")
        assert (trade.side, trade.type) == (OrderSide.BUY, TradeType.EQUITY)
        assert trade.price == Money.of("1500.05", "INR")
    records = world.database.table("audit_events").values()
    events = [r.event for r in records if r.event.action == "trades_recorded_from_fills"]
    assert [(e.target, e.metadata["recorded"]) for e in events] == [(f"order:{order.id}", 2)]


async def test_fills_are_recorded_in_the_callers_unit_of_work(world: World, owner: User) -> None:
    order = filled_order(owner, fill("T-1", "3", None))
    uow = world.uow()
    await RecordFills(MemoryTradeRepository(uow), world.audit(uow), world.ids)(
        order, order.fills, CALLER
    )
    await uow.rollback()
    assert await MemoryTradeRepository(world.uow()).all_for_user(owner.id) == []


async def test_a_trade_links_only_an_order_of_its_instrument_and_side(
    world: World, owner: User
) -> None:
    """Found by QA: a sell of 1,000 INFY linked to a buy order of two TCS was stored."""
    uow = world.uow()
    buy_infy = placed(1, owner)
    sell_infy = placed(2, owner, side=OrderSide.SELL)
    buy_tcs = placed(3, owner, instrument=replace(INFY, symbol="TCS"))
    for order in (buy_infy, sell_infy, buy_tcs):
        await MemoryOrderRepository(uow).add(order)
    await uow.commit()
    linked = await trades(world, world.uow()).record(
        owner.id, details(order_id=buy_infy.id), CALLER
    )
    assert linked.order_id == buy_infy.id
    for order, message in (
        (sell_infy, "This order is a sell of NSE:INFY; the trade is a buy of NSE:INFY."),
        (buy_tcs, "This order is a buy of NSE:TCS; the trade is a buy of NSE:INFY."),
    ):
        with pytest.raises(InvalidInput) as refused:
            await trades(world, world.uow()).record(owner.id, details(order_id=order.id), CALLER)
        assert [(error.field, error.message) for error in refused.value.errors] == [
            ("order_id", message)
        ]


async def test_a_trade_cannot_link_an_order_whose_fills_the_broker_reported(
    world: World, owner: User
) -> None:
    """Found by QA: a manual trade linked to a filled order was stored beside the broker fill
    of the same execution, doubling the position."""
    order = filled_order(owner, fill("T-1", "3", None))
    uow = world.uow()
    await MemoryOrderRepository(uow).add(order)
    await uow.commit()
    with pytest.raises(InvalidInput) as refused:
        await trades(world, world.uow()).record(
            owner.id, details(order_id=order.id, quantity=Decimal(3)), CALLER
        )
    assert [error.field for error in refused.value.errors] == ["order_id"]
    assert "count them twice" in refused.value.message


async def test_a_trade_links_only_its_users_own_orders(
    world: World, owner: User, other: User
) -> None:
    """Another user's order and an order that does not exist are refused alike (found by QA:
    any id was stored), so the answer tells nobody which order ids exist."""
    uow = world.uow()
    mine, theirs = placed(1, owner), placed(2, other)
    for order in (mine, theirs):
        await MemoryOrderRepository(uow).add(order)
    await uow.commit()
    use_case = trades(world, world.uow())

    linked = await use_case.record(owner.id, details(order_id=mine.id), CALLER)
    assert linked.order_id == mine.id
    for order_id in (theirs.id, order_id_of(3)):
        with pytest.raises(InvalidInput) as refused:
            await trades(world, world.uow()).record(owner.id, details(order_id=order_id), CALLER)
        assert [error.field for error in refused.value.errors] == ["order_id"]
        with pytest.raises(InvalidInput):
            await trades(world, world.uow()).update(
                owner.id, linked.id, TradeChanges(order_id=order_id), CALLER
            )
    unchanged = await trades(world, world.uow()).update(
        owner.id, linked.id, TradeChanges(price=Decimal(2)), CALLER
    )
    assert unchanged.order_id == mine.id
