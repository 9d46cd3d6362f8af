"""The order store contracts (``OrderRepository``, ``IdempotencyRepository``) on memory, SQLite
and PostgreSQL: exact round trips (Decimal, UTC), optimistic versions, row locks, the keyset
listings, and one winner among concurrent claims of an idempotency key."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.order_limits import placed_value
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.trading import (
    IdempotencyRecord,
    OrderCursor,
    OrderFailure,
    OrderFilters,
    PlacedOrder,
    client_reference_for,
)
from dashcore.domain.users import User
from dashcore.ports.trading import IdempotencyRepository, OrderRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.trading import MemoryIdempotencyRepository, MemoryOrderRepository
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.trading import SqlIdempotencyRepository, SqlOrderRepository
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, Work
from tests.contract.people import person

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
INR = Currency("INR")
INFY = Instrument("INFY", "NSE", INR, isin="INE009A01021", name="Infosys Ltd")
CONNECTION = UUID("00000000-0000-7000-b000-000000000001")
OTHER_CONNECTION = UUID("00000000-0000-7000-b000-000000000002")
AT_THE_BROKER = (
    OrderStatus.SUBMITTED,
    OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.CANCEL_REQUESTED,
)
_numbers = itertools.count(1_000)


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    orders: OrderRepository
    keys: IdempotencyRepository

    @property
    def uow(self) -> UnitOfWork:
        return self.work.uow


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Repos(
                work,
                MemoryUserRepository(native),
                MemoryOrderRepository(native),
                MemoryIdempotencyRepository(native),
            )
        else:
            yield Repos(
                work,
                SqlUserRepository(native),
                SqlOrderRepository(native),
                SqlIdempotencyRepository(native),
            )


async def people(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    async with repos(backend) as r:
        for item in added:
            await r.users.add(item)
        await r.uow.commit()
    return added


def order_id(number: int) -> UUID:
    return UUID(f"00000000-0000-7000-a000-{number:012x}")


def placed(
    number: int,
    owner: User,
    *,
    created_at: datetime = NOW,
    connection_id: UUID = CONNECTION,
    instrument: Instrument = INFY,
    side: OrderSide = OrderSide.BUY,
    quantity: Decimal = Decimal(10),
    limit_price: Decimal = Decimal("1500.05"),
    key_hash: str | None = None,
    provider: str = "upstox",
    account_id: str = "ACC-1",
) -> PlacedOrder:
    """Order ``number`` of ``owner``: a ``pending_submit`` limit order, as ``PlaceOrder``
    writes it."""
    identifier = order_id(number)
    request = OrderRequest(
        provider_account_id=account_id,
        instrument=instrument,
        side=side,
        type=OrderType.LIMIT,
        quantity=quantity,
        client_reference=client_reference_for(identifier),
        limit_price=limit_price,
    )
    return PlacedOrder.create(
        identifier,
        owner.id,
        connection_id,
        provider,
        request,
        key_hash or f"{number:064x}",
        created_at,
        created_at + timedelta(seconds=30),
    )


def report(order: PlacedOrder, status: OrderStatus, *, broker_id: str = "B-1") -> Order:
    """What the broker says of ``order`` in ``status``."""
    request = order.request
    filled = request.quantity if status is OrderStatus.FILLED else Decimal(0)
    return Order(
        provider_order_id=broker_id,
        provider_account_id=request.provider_account_id,
        instrument=request.instrument,
        side=request.side,
        type=request.type,
        quantity=request.quantity,
        filled_quantity=filled,
        status=status,
        provider_status=status.value.upper(),
        placed_at=order.created_at,
        limit_price=request.limit_price,
    )


def in_status(order: PlacedOrder, status: OrderStatus, *, at: datetime = NOW) -> PlacedOrder:
    """``order`` moved to ``status`` (with broker id ``B-<number>`` where the broker has it)."""
    if status is OrderStatus.PENDING_SUBMIT:
        return order
    if status is OrderStatus.UNKNOWN:
        return order.state_unknown(at, OrderFailure("timeout", "No answer."))
    if status is OrderStatus.REJECTED:
        return order.rejected(at, OrderFailure("refused", "The broker refused it."))
    broker_id = f"B-{order.id.int & 0xFFFFFF}"
    if status is OrderStatus.CANCEL_REQUESTED:
        return order.accepted(
            report(order, OrderStatus.OPEN, broker_id=broker_id), at
        ).cancel_requested(at)
    return order.accepted(report(order, status, broker_id=broker_id), at)


def fully_described(owner: User) -> PlacedOrder:
    """An order with every optional field set, odd decimals and instants off UTC."""
    instrument = Instrument(
        "NIFTY26MAYFUT",
        "NFO",
        INR,
        asset_class=AssetClass.FUTURE,
        isin=None,
        name="Nifty ☂ May future",
        lot_size=Decimal("75"),
        tick_size=Decimal("0.05"),
    )
    identifier = order_id(7)
    request = OrderRequest(
        provider_account_id="ACC-ü-9",
        instrument=instrument,
        side=OrderSide.SELL,
        type=OrderType.STOP_LIMIT,
        quantity=Decimal("150.000"),
        client_reference=client_reference_for(identifier),
        product=Product.MARGIN,
        validity=Validity.IOC,
        limit_price=Decimal("22500.10"),
        stop_price=Decimal("22510.00"),
    )
    fill = Fill(
        trade_id="T-1",
        provider_order_id="B-77",
        quantity=Decimal("75.000"),
        price=Money(Decimal("22500.1000"), INR),
        executed_at=datetime(2026, 5, 4, 3, 45, 2, 500, tzinfo=UTC),
        charges=Money(Decimal("0.000001"), INR),
    )
    return PlacedOrder(
        id=identifier,
        user_id=owner.id,
        connection_id=CONNECTION,
        provider="zerodha",
        request=request,
        idempotency_key_hash="ab" * 32,
        status=OrderStatus.PARTIALLY_FILLED,
        created_at=NOW.astimezone(IST),
        updated_at=NOW + timedelta(seconds=2),
        status_changed_at=NOW + timedelta(seconds=1),
        submit_deadline=NOW + timedelta(seconds=30),
        version=0,
        broker_order_id="B-77",
        broker_status="OPEN PENDING",
        broker_updated_at=datetime(2026, 5, 4, 9, 15, 3, tzinfo=IST),
        filled_quantity=Decimal("75.000"),
        average_price=Money(Decimal("22500.1000"), INR),
        fills=(fill, replace(fill, trade_id="T-2", quantity=Decimal(0), charges=None)),
        status_message="Partly done",
        last_error=OrderFailure("timeout", "The broker did not answer in time."),
        submit_attempts=2,
        carried_quantity=Decimal("0.0"),
        estimated_value=Decimal("3375015.0000"),
    )


def assert_same_order(stored: PlacedOrder | None, expected: PlacedOrder) -> None:
    """Equal field by field, every instant in UTC, every decimal with its digits."""
    assert stored == expected
    for name in (
        "created_at",
        "updated_at",
        "status_changed_at",
        "submit_deadline",
        "broker_updated_at",
    ):
        value = getattr(stored, name)
        assert value is None or value.tzinfo is UTC, name
    assert [str(fill.quantity) for fill in stored.fills] == [
        str(fill.quantity) for fill in expected.fills
    ]
    assert all(fill.executed_at.tzinfo is UTC for fill in stored.fills)


async def add_orders(backend: Backend, *items: PlacedOrder) -> None:
    async with repos(backend) as r:
        for item in items:
            await r.orders.add(item)
        await r.uow.commit()


async def save(backend: Backend, order: PlacedOrder) -> PlacedOrder:
    async with repos(backend) as r:
        saved = await r.orders.save(order)
        await r.uow.commit()
    return saved


async def stored(backend: Backend, identifier: UUID) -> PlacedOrder | None:
    async with repos(backend) as r:
        return await r.orders.get(identifier)


# -- orders: round trips -------------------------------------------------------------------


async def test_a_new_order_reads_back_exactly(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    order = placed(1, owner)
    await add_orders(backend, order)
    assert_same_order(await stored(backend, order.id), order)


async def test_every_field_of_an_order_reads_back_exactly(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    order = fully_described(owner)
    await add_orders(backend, order)
    loaded = await stored(backend, order.id)
    assert_same_order(loaded, order)
    assert loaded is not None
    request = loaded.request
    assert (str(request.quantity), str(request.limit_price), str(request.stop_price)) == (
        "150.000",
        "22500.10",
        "22510.00",
    )
    assert loaded.average_price is not None
    assert str(loaded.average_price.amount) == "22500.1000"
    assert str(loaded.estimated_value) == "3375015.0000"
    assert [fill.charges for fill in loaded.fills] == [Money(Decimal("0.000001"), INR), None]


@pytest.mark.parametrize("status", list(OrderStatus))
async def test_every_status_is_stored(backend: Backend, status: OrderStatus) -> None:
    [owner] = await people(backend, 1)
    order = in_status(placed(1, owner), status)
    await add_orders(backend, order)
    assert_same_order(await stored(backend, order.id), order)


async def test_an_order_is_added_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    await add_orders(backend, placed(1, owner))
    with pytest.raises(Conflict) as refused:
        await add_orders(backend, placed(1, owner, limit_price=Decimal(1)))
    assert refused.value.code == "order_exists"
    assert_same_order(await stored(backend, order_id(1)), placed(1, owner))


async def test_an_unknown_order_is_none(backend: Backend) -> None:
    async with repos(backend) as r:
        assert await r.orders.get(order_id(404)) is None
        assert await r.orders.lock(order_id(404)) is None
        assert await r.orders.by_broker_order_id("upstox", "B-404") is None


# -- orders: saving --------------------------------------------------------------------------


async def test_save_stores_the_change_and_bumps_the_version(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    order = placed(1, owner)
    await add_orders(backend, order)
    later = NOW + timedelta(seconds=1)
    sent = await save(backend, order.send_attempted(later))
    assert sent.version == 1
    accepted = await save(backend, sent.accepted(report(sent, OrderStatus.OPEN), later))
    assert accepted.version == 2
    loaded = await stored(backend, order.id)
    assert_same_order(loaded, accepted)
    assert loaded is not None
    assert (loaded.status, loaded.broker_order_id, loaded.submit_attempts) == (
        OrderStatus.OPEN,
        "B-1",
        1,
    )


async def test_a_save_from_a_stale_read_is_a_version_conflict(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    order = placed(1, owner)
    await add_orders(backend, order)
    first = await save(backend, order.send_attempted(NOW))
    with pytest.raises(Conflict) as refused:
        await save(backend, order.state_unknown(NOW, OrderFailure("timeout", "No answer.")))
    assert refused.value.code == "order_version_conflict"
    assert_same_order(await stored(backend, order.id), first)


async def test_save_never_creates_an_order_nor_gives_it_away(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    with pytest.raises(NotFound) as missing:
        await save(backend, placed(1, owner))
    assert missing.value.code == "order_not_found"
    await add_orders(backend, placed(2, owner))
    with pytest.raises(NotFound):
        await save(backend, replace(placed(2, owner), user_id=stranger.id))
    assert await stored(backend, order_id(1)) is None
    assert_same_order(await stored(backend, order_id(2)), placed(2, owner))


async def test_an_uncommitted_save_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    order = placed(1, owner)
    await add_orders(backend, order)
    async with repos(backend) as r:
        await r.orders.save(order.send_attempted(NOW))
        assert (await r.orders.lock(order.id)) == replace(order.send_attempted(NOW), version=1), (
            "a unit of work reads its own writes"
        )
    assert_same_order(await stored(backend, order.id), order)


async def test_two_changes_of_one_order_never_lose_either(backend: Backend) -> None:
    """Each change reads the order under ``lock``, changes it and saves it. On SQL the second
    waits for the first to commit and then builds on its result; a store without locks must
    refuse the second as stale. Either way no change is silently lost."""
    [owner] = await people(backend, 1)
    order = placed(1, owner)
    await add_orders(backend, order)
    first_locked = asyncio.Event()

    async def first() -> None:
        async with repos(backend) as r:
            current = await r.orders.lock(order.id)
            assert current is not None
            first_locked.set()
            await r.orders.save(current.send_attempted(NOW))
            await backend.let_contender_run(r.work)
            await r.uow.commit()

    async def second() -> PlacedOrder | None:
        await first_locked.wait()
        async with repos(backend) as r:
            current = await r.orders.lock(order.id)
            assert current is not None
            try:
                saved = await r.orders.save(current.send_attempted(NOW))
                await r.uow.commit()
            except Conflict:
                return None
            return saved

    _, outcome = await asyncio.gather(first(), second())
    loaded = await stored(backend, order.id)
    assert loaded is not None
    committed = 1 if outcome is None else 2
    assert (loaded.version, loaded.submit_attempts) == (committed, committed)
    if backend.name != "memory":
        assert outcome is not None, "the second change waited for the first and built on it"


async def test_a_broker_order_is_bound_to_one_order(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    first, second = placed(1, owner), placed(2, owner)
    elsewhere = placed(3, owner, provider="zerodha")
    await add_orders(backend, first, second, elsewhere)
    bound = await save(backend, first.accepted(report(first, OrderStatus.OPEN), NOW))
    with pytest.raises(Conflict) as refused:
        await save(backend, second.accepted(report(second, OrderStatus.OPEN), NOW))
    assert refused.value.code == "placed_orders_broker_order_taken"
    other = await save(backend, elsewhere.accepted(report(elsewhere, OrderStatus.OPEN), NOW))
    async with repos(backend) as r:
        assert await r.orders.by_broker_order_id("upstox", "B-1") == bound
        assert await r.orders.by_broker_order_id("zerodha", "B-1") == other
        assert await r.orders.by_broker_order_id("groww", "B-1") is None


async def test_by_idempotency_finds_the_users_newest_order_of_a_key(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    key = "cd" * 32
    older = placed(1, owner, key_hash=key)
    newer = placed(2, owner, key_hash=key, created_at=NOW + timedelta(days=1))
    theirs = placed(3, stranger, key_hash=key, created_at=NOW + timedelta(days=2))
    await add_orders(backend, older, newer, theirs, placed(4, owner))
    async with repos(backend) as r:
        assert await r.orders.by_idempotency(owner.id, key) == newer
        assert await r.orders.by_idempotency(stranger.id, key) == theirs
        assert await r.orders.by_idempotency(owner.id, "ef" * 32) is None


# -- orders: listings ------------------------------------------------------------------------


async def page_through(
    backend: Backend, owner: User, filters: OrderFilters, *, limit: int
) -> list[PlacedOrder]:
    """Every order of ``owner`` matching ``filters``, read ``limit`` at a time."""
    seen: list[PlacedOrder] = []
    after: OrderCursor | None = None
    while True:
        async with repos(backend) as r:
            page = await r.orders.list_for_user(owner.id, filters, after=after, limit=limit)
        seen.extend(page)
        if len(page) < limit:
            return seen
        after = OrderCursor.after(page[-1])


async def test_a_users_orders_are_listed_newest_first_in_keyset_pages(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    mine = [
        placed(number, owner, created_at=NOW + timedelta(minutes=number // 2))
        for number in range(1, 12)  # pairs share a creation instant: the id breaks the tie
    ]
    await add_orders(backend, *mine, placed(50, stranger, created_at=NOW + timedelta(hours=1)))
    newest_first = sorted(mine, key=lambda o: (o.created_at, o.id), reverse=True)
    for limit in (1, 3, 11, 50):
        assert await page_through(backend, owner, OrderFilters(), limit=limit) == newest_first
    async with repos(backend) as r:
        assert await r.orders.list_for_user(owner.id, OrderFilters(), limit=0) == []


async def test_listings_filter_by_status_connection_account_symbol_side_and_time(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    tcs = Instrument("TCS", "NSE", INR)
    base = [
        placed(1, owner),
        in_status(placed(2, owner, created_at=NOW + timedelta(hours=1)), OrderStatus.OPEN),
        placed(
            3,
            owner,
            connection_id=OTHER_CONNECTION,
            account_id="ACC-2",
            created_at=NOW + timedelta(hours=2),
        ),
        placed(4, owner, instrument=tcs, created_at=NOW + timedelta(hours=3)),
        placed(5, owner, side=OrderSide.SELL, created_at=NOW + timedelta(hours=4)),
        in_status(placed(6, owner, created_at=NOW + timedelta(hours=5)), OrderStatus.FILLED),
    ]
    await add_orders(backend, *base)
    by_number = {int(o.id.hex[-12:], 16): o for o in base}

    async def numbers(filters: OrderFilters) -> list[int]:
        found = await page_through(backend, owner, filters, limit=2)
        return [int(o.id.hex[-12:], 16) for o in found]

    assert await numbers(OrderFilters()) == [6, 5, 4, 3, 2, 1]
    live = frozenset({OrderStatus.OPEN, OrderStatus.FILLED})
    assert await numbers(OrderFilters(statuses=live)) == [6, 2]
    assert await numbers(OrderFilters(statuses=frozenset())) == []
    assert await numbers(OrderFilters(connection_id=OTHER_CONNECTION)) == [3]
    assert await numbers(OrderFilters(account_id="ACC-2")) == [3]
    assert await numbers(OrderFilters(account_id="ACC-1")) == [6, 5, 4, 2, 1]
    assert await numbers(OrderFilters(account_id="acc-2")) == []
    assert await numbers(OrderFilters(connection_id=CONNECTION, account_id="ACC-2")) == []
    assert await numbers(OrderFilters(symbol="TCS")) == [4]
    assert await numbers(OrderFilters(side=OrderSide.SELL)) == [5]
    window = OrderFilters(
        created_from=by_number[2].created_at, created_before=by_number[5].created_at
    )
    assert await numbers(window) == [4, 3, 2]
    both = OrderFilters(statuses=frozenset({OrderStatus.PENDING_SUBMIT}), symbol="INFY")
    assert await numbers(both) == [5, 3, 1]


async def test_the_value_placed_in_a_day_counts_the_users_orders_of_that_day_and_currency(
    backend: Backend,
) -> None:
    """The daily value limit's total (ORD-3): each order at the value it was checked at, else
    quantity times its limit (else stop) price, else nothing; rejected orders, other days,
    other currencies and other users do not count, and an order being modified is left out
    (it counts as changed)."""
    owner, stranger = await people(backend, 1, 2)
    day = (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC))
    checked = replace(placed(1, owner), estimated_value=Decimal("15000.55"))
    priced = placed(2, owner, quantity=Decimal(3), limit_price=Decimal("100.10"))
    stop = Decimal("99.5")
    stopped = repriced(placed(10, owner, quantity=Decimal(2)), OrderType.STOP, stop=stop)
    unvalued_market = repriced(placed(11, owner), OrderType.MARKET)
    last_instant = placed(
        3, owner, quantity=Decimal(1), created_at=day[1] - timedelta(microseconds=1)
    )
    filled = in_status(
        placed(4, owner, quantity=Decimal(2), limit_price=Decimal(7)), OrderStatus.FILLED
    )
    await add_orders(
        backend,
        checked,
        priced,
        last_instant,
        filled,
        in_status(placed(5, owner), OrderStatus.REJECTED),
        placed(6, owner, created_at=day[0] - timedelta(microseconds=1)),
        placed(7, owner, created_at=day[1]),
        placed(8, owner, instrument=Instrument("AAPL", "NASDAQ", Currency("USD"))),
        placed(9, stranger),
        stopped,
        unvalued_market,
    )
    async with repos(backend) as r:
        whole = await r.orders.value_placed(owner.id, INR, day)
        modifying = await r.orders.value_placed(owner.id, INR, day, leaving_out=checked.id)
        dollars = await r.orders.value_placed(owner.id, Currency("USD"), day)
        nobody = await r.orders.value_placed(owner.id, Currency("EUR"), day)
    counted = [Decimal("15000.55"), Decimal("300.30"), Decimal("1500.05"), Decimal(14), 2 * stop]
    assert whole == sum(counted)
    assert modifying == whole - Decimal("15000.55")
    assert (dollars, nobody) == (Decimal("15000.50"), Decimal(0))


async def test_two_placements_read_the_days_total_one_after_the_other(backend: Backend) -> None:
    """The daily limit holds under concurrency: a second placement of the same user reads the
    day's total only once the first one's order is committed (PostgreSQL: the user's advisory
    lock taken by the read; SQLite: one writing transaction at a time). The memory store, for
    tests and the embedded default in one process, isolates nothing and is not asked to."""
    [owner] = await people(backend, 1)
    day = (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC))
    first_read = asyncio.Event()

    async def first() -> Decimal:
        async with repos(backend) as r:
            total = await r.orders.value_placed(owner.id, INR, day)
            first_read.set()
            await backend.let_contender_run(r.work)
            await r.orders.add(placed(1, owner))
            await r.uow.commit()
            return total

    async def second() -> Decimal:
        await first_read.wait()
        async with repos(backend) as r:
            return await r.orders.value_placed(owner.id, INR, day)

    before, after = await asyncio.gather(first(), second())
    assert before == Decimal(0)
    if backend.name != "memory":
        assert after == Decimal("15000.50"), "the second read waited for the first order"


def repriced(order: PlacedOrder, type: OrderType, *, stop: Decimal | None = None) -> PlacedOrder:
    """``order`` as a ``type`` order: no limit price, ``stop`` as its stop price."""
    request = replace(order.request, type=type, limit_price=None, stop_price=stop)
    return replace(order, request=request)


day_values = st.builds(
    lambda digits, exponent: Decimal((0, tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=9).filter(any),
    st.integers(-6, 3),
)
FINE = Instrument("X", "NSE", INR, lot_size=Decimal("0.000001"), tick_size=Decimal("0.000001"))


@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(list(OrderStatus)),
            st.one_of(st.none(), day_values),
            day_values,
            day_values,
            st.booleans(),
        ),
        max_size=6,
    )
)
@settings(max_examples=20)
async def test_the_value_placed_in_a_day_is_the_domains_total_to_the_last_digit(
    backend: Backend, orders: list[tuple[OrderStatus, Decimal | None, Decimal, Decimal, bool]]
) -> None:
    """Whatever the digits, the store's total equals ``placed_value`` over the same orders (on
    PostgreSQL the database adds up, on SQLite the text it keeps; neither goes through float)."""
    owner = person(next(_numbers), NOW)
    async with repos(backend) as r:
        await r.users.add(owner)
        await r.uow.commit()
    day = (datetime(2026, 5, 4, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC))
    written = []
    for status, estimated, quantity, price, by_stop in orders:
        number = next(_numbers)
        order = placed(number, owner, instrument=FINE, quantity=quantity, limit_price=price)
        if by_stop:
            order = repriced(order, OrderType.STOP, stop=price)
        written.append(in_status(replace(order, estimated_value=estimated), status))
    await add_orders(backend, *written)
    async with repos(backend) as r:
        total = await r.orders.value_placed(owner.id, INR, day)
    assert total == placed_value(written, INR)


async def test_reconciliation_finds_unsettled_orders_longest_waiting_first(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    waited = [
        in_status(placed(1, owner), OrderStatus.UNKNOWN, at=NOW + timedelta(seconds=5)),
        placed(2, owner, created_at=NOW + timedelta(seconds=1)),
        in_status(placed(3, owner), OrderStatus.UNKNOWN, at=NOW + timedelta(seconds=2)),
    ]
    too_recent = in_status(placed(4, owner), OrderStatus.UNKNOWN, at=NOW + timedelta(minutes=5))
    settled = [
        in_status(placed(5, owner), OrderStatus.OPEN),
        in_status(placed(6, owner), OrderStatus.REJECTED),
    ]
    await add_orders(backend, *waited, too_recent, *settled)
    cutoff = NOW + timedelta(minutes=1)
    async with repos(backend) as r:
        found = await r.orders.needing_reconciliation(cutoff, due_at=cutoff, limit=10)
        assert [o.id for o in found] == [order_id(2), order_id(3), order_id(1)]
        first_two = await r.orders.needing_reconciliation(cutoff, due_at=cutoff, limit=2)
        assert [o.id for o in first_two] == [order_id(2), order_id(3)]


async def test_reconciliation_skips_orders_whose_backoff_has_not_run_out(
    backend: Backend,
) -> None:
    """An order reconciliation looked at and deferred is found again only once its
    ``reconcile_after`` has come; its count of looks is kept."""
    [owner] = await people(backend, 1)
    now = NOW + timedelta(minutes=2)
    due = in_status(placed(1, owner), OrderStatus.UNKNOWN).reconcile_deferred(
        NOW + timedelta(seconds=90), now
    )
    backing_off = in_status(placed(2, owner), OrderStatus.UNKNOWN).reconcile_deferred(
        NOW + timedelta(seconds=90), now + timedelta(microseconds=1)
    )
    await add_orders(backend, due, backing_off)
    async with repos(backend) as r:
        found = await r.orders.needing_reconciliation(now, due_at=now, limit=10)
        assert [o.id for o in found] == [order_id(1)]
        assert found[0].reconcile_attempts == 1
        assert found[0].reconcile_after == now
        later = now + timedelta(seconds=1)
        again = await r.orders.needing_reconciliation(now, due_at=later, limit=10)
        assert [o.id for o in again] == [order_id(1), order_id(2)]


async def test_open_orders_page_through_everything_the_broker_holds(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    held = [
        in_status(placed(n, who, created_at=NOW + timedelta(seconds=n // 2)), status)
        for n, (who, status) in enumerate(
            itertools.product((owner, stranger), AT_THE_BROKER), start=1
        )
    ]
    others = [
        in_status(placed(20 + n, owner), status)
        for n, status in enumerate(
            (
                OrderStatus.PENDING_SUBMIT,
                OrderStatus.UNKNOWN,
                OrderStatus.FILLED,
                OrderStatus.REJECTED,
            )
        )
    ]
    await add_orders(backend, *held, *others)
    oldest_first = sorted(held, key=lambda o: (o.created_at, o.id))
    for limit in (1, 3, 20):
        seen: list[PlacedOrder] = []
        after: OrderCursor | None = None
        while True:
            async with repos(backend) as r:
                page = await r.orders.open_orders(after=after, limit=limit)
            seen.extend(page)
            if len(page) < limit:
                break
            after = OrderCursor.after(page[-1])
        assert seen == oldest_first


# -- orders: exact decimals ------------------------------------------------------------------

positive_decimals = st.builds(
    lambda digits, exponent: Decimal((0, tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=30).filter(any),
    st.integers(-20, 12),
)


@given(quantity=positive_decimals, price=positive_decimals, fill_price=positive_decimals)
@settings(max_examples=30)
async def test_decimals_round_trip_exactly(
    backend: Backend, quantity: Decimal, price: Decimal, fill_price: Decimal
) -> None:
    """Quantities and prices come back equal with their scale (SQLite and the fills' JSON keep
    the very digits; PostgreSQL writes a positive exponent out in full)."""
    owner = person(1, NOW)
    async with repos(backend) as r:
        if await r.users.get(owner.id) is None:
            await r.users.add(owner)
            await r.uow.commit()
    number = next(_numbers)
    lot = Instrument("X", "NSE", INR, lot_size=quantity, tick_size=price)
    order = placed(number, owner, instrument=lot, quantity=quantity, limit_price=price)
    fill = Fill("T", "B", quantity, Money(fill_price, INR), NOW, Money(fill_price, INR))
    order = replace(order, fills=(fill,), average_price=Money(fill_price, INR))
    await add_orders(backend, order)
    loaded = await stored(backend, order.id)
    assert loaded == order
    assert loaded is not None
    pairs = [
        (loaded.request.quantity, quantity),
        (loaded.request.limit_price, price),
        (loaded.request.instrument.lot_size, quantity),
        (loaded.average_price.amount if loaded.average_price else None, fill_price),
    ]
    for got, given_value in pairs:
        assert got == given_value
        assert got is not None
        assert _places(got) == _places(given_value)
    [stored_fill] = loaded.fills
    assert stored_fill.price.amount.as_tuple() == fill_price.as_tuple()
    assert stored_fill.quantity.as_tuple() == quantity.as_tuple()


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


# -- idempotency keys ------------------------------------------------------------------------

KEY = "5e" * 32


def record(
    owner: User,
    *,
    fingerprint: str = "f1" * 32,
    number: int = 1,
    at: datetime = NOW,
    key_hash: str = KEY,
) -> IdempotencyRecord:
    return IdempotencyRecord.create(owner.id, key_hash, fingerprint, order_id(number), at)


async def claim(backend: Backend, item: IdempotencyRecord) -> IdempotencyRecord | None:
    async with repos(backend) as r:
        holder = await r.keys.claim(item)
        await r.uow.commit()
    return holder


async def held(backend: Backend, owner: User, key_hash: str = KEY) -> IdempotencyRecord | None:
    async with repos(backend) as r:
        return await r.keys.get(owner.id, key_hash)


async def test_a_free_key_is_claimed_and_kept(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    mine = replace(record(owner), created_at=NOW.astimezone(IST))
    assert await claim(backend, mine) is None
    kept = await held(backend, owner)
    assert kept == mine
    assert kept is not None
    assert kept.created_at.tzinfo is UTC
    assert kept.expires_at.tzinfo is UTC


async def test_a_held_key_answers_with_its_holder(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    first = record(owner)
    await claim(backend, first)
    retry = record(owner, fingerprint="f2" * 32, number=2, at=NOW + timedelta(hours=23))
    assert await claim(backend, retry) == first
    assert await held(backend, owner) == first


async def test_an_expired_key_is_claimed_afresh(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    first = record(owner)
    await claim(backend, first)
    later = record(owner, fingerprint="f2" * 32, number=2, at=first.expires_at)
    assert await claim(backend, later) is None
    assert await held(backend, owner) == later


async def test_keys_belong_to_one_user(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    mine, theirs = record(owner), record(stranger, number=2)
    assert await claim(backend, mine) is None
    assert await claim(backend, theirs) is None
    assert await held(backend, owner) == mine
    assert await held(backend, stranger) == theirs


async def test_an_uncommitted_claim_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    async with repos(backend) as r:
        assert await r.keys.claim(record(owner)) is None
        assert await r.keys.get(owner.id, KEY) == record(owner)
    assert await held(backend, owner) is None
    assert await claim(backend, record(owner, number=2)) is None


async def claim_race(backend: Backend, owner: User, *, first_commits: bool) -> list[str]:
    """Two units of work claim one key at once: the first holds its claim uncommitted while
    the second runs into it, then the first commits (or rolls back). What each ended with:
    ``won`` (claimed and committed), ``held`` (told of the other's record) or ``refused``
    (its commit failed with ``Conflict``: the memory store's answer to a lost race)."""
    first_claimed = asyncio.Event()

    async def contender(number: int) -> str:
        if number == 2:
            await first_claimed.wait()
        async with repos(backend) as r:
            holder = await r.keys.claim(record(owner, number=number))
            if number == 1:
                first_claimed.set()
                await backend.let_contender_run(r.work)
                if not first_commits:
                    await r.uow.rollback()
                    return "rolled_back"
            try:
                await r.uow.commit()
            except Conflict:
                return "refused"
            return "won" if holder is None else "held"

    return list(await asyncio.gather(contender(1), contender(2)))


async def test_of_two_concurrent_claims_of_one_key_one_wins(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    outcomes = await claim_race(backend, owner, first_commits=True)
    if backend.name == "memory":
        assert sorted(outcomes) == ["refused", "won"]
    else:
        assert outcomes == ["won", "held"]
    kept = await held(backend, owner)
    assert kept is not None
    winner = 1 if outcomes[0] == "won" else 2
    assert kept.order_id == order_id(winner)


async def test_a_claim_rolled_back_leaves_the_key_to_the_other(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    assert await claim_race(backend, owner, first_commits=False) == ["rolled_back", "won"]
    kept = await held(backend, owner)
    assert kept is not None
    assert kept.order_id == order_id(2)


async def test_expired_keys_are_deleted(backend: Backend) -> None:
    owner, stranger = await people(backend, 1, 2)
    old = record(owner, key_hash="01" * 32)
    recent = record(owner, key_hash="02" * 32, at=NOW + timedelta(hours=12))
    theirs = record(stranger, key_hash="01" * 32, at=NOW + timedelta(hours=1))
    for item in (old, recent, theirs):
        await claim(backend, item)
    async with repos(backend) as r:
        assert await r.keys.delete_expired(old.expires_at) == 0
        assert await r.keys.delete_expired(theirs.expires_at) == 1
        await r.uow.commit()
    assert await held(backend, owner, "01" * 32) is None
    assert await held(backend, owner, "02" * 32) == recent
    assert await held(backend, stranger, "01" * 32) == theirs


async def test_an_unbound_order_is_found_by_its_client_reference(backend: Backend) -> None:
    """Only while it waits for its broker id (``pending_submit``, ``unknown``), and only at
    the provider it was sent to."""
    [owner] = await people(backend, 1)
    waiting, lost, bound = placed(1, owner), placed(2, owner), placed(3, owner)
    await add_orders(backend, waiting, lost, bound)
    lost = await save(backend, in_status(lost, OrderStatus.UNKNOWN))
    await save(backend, in_status(bound, OrderStatus.OPEN))
    async with repos(backend) as r:
        find = r.orders.unbound_by_client_reference
        assert await find("upstox", waiting.client_reference) == waiting
        assert await find("upstox", lost.client_reference) == lost
        assert await find("upstox", bound.client_reference) is None
        assert await find("zerodha", waiting.client_reference) is None
        assert await find("upstox", "NOSUCHREFERENCE00000") is None
