"""The ``TradeRepository`` contract on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
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
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import ledger_entry
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import (
    MANUAL_ACCOUNT,
    RecordedSplit,
    Split,
    Trade,
    TradeSource,
    TradeType,
)
from dashcore.domain.users import User
from dashcore.ports.trades import (
    LedgerRead,
    TradeBook,
    TradeCursor,
    TradeFilter,
    TradeRepository,
)
from dashcore.ports.uow import UnitOfWork
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.trades import MemoryTradeRepository
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.trades import SqlTradeRepository
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, Work
from tests.contract.people import person

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
INFY = InstrumentKey("INFY", "NSE")
AAPL = InstrumentKey("AAPL", "NASDAQ")
INR = Currency("INR")
BROKER_ACCOUNT = "0f4bd7d6-0f6e-5b1e-9f55-7c4a3c1c2b9e"


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    trades: TradeRepository

    @property
    def uow(self) -> UnitOfWork:
        return self.work.uow


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Repos(work, MemoryTradeRepository(native))
        else:
            yield Repos(work, SqlTradeRepository(native))


async def people(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    await people_from(backend, *added)
    return added


async def people_from(backend: Backend, *added: User) -> None:
    async with backend.work() as work:
        native = work.native
        users = (
            MemoryUserRepository(native)
            if isinstance(native, MemoryUnitOfWork)
            else SqlUserRepository(native)
        )
        for item in added:
            await users.add(item)
        await work.uow.commit()


def trade(
    number: int,
    owner: User,
    *,
    executed_at: datetime = NOW,
    instrument: InstrumentKey = INFY,
    side: OrderSide = OrderSide.BUY,
    account: str = MANUAL_ACCOUNT,
    currency: str = "INR",
) -> Trade:
    return Trade(
        id=UUID(f"00000000-0000-7000-b000-{number:012x}"),
        user_id=owner.id,
        account=account,
        instrument=instrument,
        side=side,
        quantity=Decimal("10"),
        price=Money.of("1450.05", currency),
        charges=Money.of("20.34", currency),
        type=TradeType.EQUITY,
        executed_at=executed_at,
        source=TradeSource.MANUAL,
    )


def fill(number: int, owner: User, broker_trade_id: str, **changes: object) -> Trade:
    return replace(
        trade(number, owner, account=BROKER_ACCOUNT),
        source=TradeSource.BROKER_FILL,
        broker_trade_id=broker_trade_id,
        order_id=UUID("00000000-0000-7000-c000-000000000001"),
        **changes,  # type: ignore[arg-type]
    )


async def store(backend: Backend, *trades: Trade) -> None:
    async with repos(backend) as r:
        for item in trades:
            await r.trades.add(item)
        await r.uow.commit()


async def test_a_trade_comes_back_as_it_was_stored(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    full = replace(
        fill(1, owner, "T-0001"),
        mtf_charge=Money.of("3.50", "INR"),
        capital_used=Money.of("7250.25", "INR"),
        type=TradeType.OPTIONS,
        side=OrderSide.SELL,
        executed_at=datetime(
            2026, 5, 4, 8, 32, 1, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
    )
    bare = trade(2, owner)
    await store(backend, full, bare)

    async with repos(backend) as r:
        assert await r.trades.get(full.id) == full
        assert await r.trades.get(bare.id) == bare
        loaded = await r.trades.get(full.id)
        assert loaded is not None
        assert loaded.executed_at.tzinfo is UTC
        assert str(loaded.price.amount) == "1450.05"
        assert await r.trades.get(UUID(int=7)) is None


async def test_an_uncommitted_trade_is_gone_after_rollback(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    async with repos(backend) as r:
        await r.trades.add(trade(1, owner))
    async with repos(backend) as r:
        assert await r.trades.get(trade(1, owner).id) is None


async def test_a_taken_id_is_a_conflict(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, trade(1, owner))
    with pytest.raises(Conflict) as caught:
        await store(backend, trade(1, owner, instrument=AAPL))
    assert caught.value.code == "trades_exists"


async def test_saving_rewrites_a_trade_of_the_same_owner_only(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    original = trade(1, owner)
    await store(backend, original)
    changed = replace(original, quantity=Decimal("12.5"), side=OrderSide.SELL, instrument=AAPL)

    async with repos(backend) as r:
        await r.trades.save(changed)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.trades.get(original.id) == changed
        with pytest.raises(NotFound):
            await r.trades.save(replace(changed, user_id=other.id))
        with pytest.raises(NotFound):
            await r.trades.save(trade(9, owner))


async def test_deleting_a_trade(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, trade(1, owner))
    async with repos(backend) as r:
        assert await r.trades.delete(trade(1, owner).id) is True
        assert await r.trades.delete(trade(1, owner).id) is False
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.trades.get(trade(1, owner).id) is None
        assert await r.trades.lock(trade(1, owner).id) is None


async def test_a_listing_is_newest_first_and_holds_only_the_users_trades(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    mine = [trade(n, owner, executed_at=NOW + timedelta(minutes=n)) for n in range(1, 5)]
    await store(backend, *mine, trade(9, other, executed_at=NOW + timedelta(hours=1)))

    async with repos(backend) as r:
        listed = await r.trades.list_for_user(owner.id, TradeFilter(), limit=10)
        assert listed == list(reversed(mine))
        assert await r.trades.list_for_user(owner.id, TradeFilter(), limit=2) == mine[:1:-1]
        assert await r.trades.list_for_user(UUID(int=5), TradeFilter()) == []


async def test_a_listing_is_narrowed_by_every_filter(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    early = trade(1, owner, executed_at=NOW)
    apple = trade(2, owner, executed_at=NOW + timedelta(hours=1), instrument=AAPL, currency="USD")
    sold = trade(3, owner, executed_at=NOW + timedelta(hours=2), side=OrderSide.SELL)
    broker = fill(4, owner, "T-4", executed_at=NOW + timedelta(hours=3))
    await store(backend, early, apple, sold, broker)

    cases = [
        (TradeFilter(account=BROKER_ACCOUNT), [broker]),
        (TradeFilter(account=MANUAL_ACCOUNT), [sold, apple, early]),
        (TradeFilter(instrument=AAPL), [apple]),
        (TradeFilter(instrument=InstrumentKey("AAPL", "NSE")), []),
        (TradeFilter(side=OrderSide.SELL), [sold]),
        (TradeFilter(executed_from=NOW + timedelta(hours=1)), [broker, sold, apple]),
        (TradeFilter(executed_before=NOW + timedelta(hours=1)), [early]),
        (
            TradeFilter(
                executed_from=NOW + timedelta(hours=1),
                executed_before=NOW + timedelta(hours=3),
                side=OrderSide.BUY,
            ),
            [apple],
        ),
    ]
    async with repos(backend) as r:
        for filters, expected in cases:
            assert await r.trades.list_for_user(owner.id, filters) == expected, filters


async def test_pages_break_ties_of_instants_by_id_and_return_each_trade_once(
    backend: Backend,
) -> None:
    (owner,) = await people(backend, 1)
    instants = [0, 1, 1, 1, 2, 2, 3, 0, 3, 1, 2]
    everything = [
        trade(n, owner, executed_at=NOW + timedelta(minutes=minute))
        for n, minute in enumerate(instants, start=1)
    ]
    await store(backend, *everything)
    expected = sorted(everything, key=lambda t: (t.executed_at, t.id), reverse=True)

    async with repos(backend) as r:
        for size in (1, 2, 3, 4, 11, 20):
            walked: list[Trade] = []
            after: TradeCursor | None = None
            while True:
                page = await r.trades.list_for_user(
                    owner.id, TradeFilter(), after=after, limit=size
                )
                walked.extend(page)
                if len(page) < size:
                    break
                after = TradeCursor.decode(TradeCursor.after(page[-1]).encode())
            assert walked == expected, size


async def test_the_ledger_read_is_every_trade_oldest_first(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    everything = [
        trade(5, owner, executed_at=NOW + timedelta(minutes=2)),
        replace(trade(3, owner, executed_at=NOW), mtf_charge=Money.of("12.50", "INR")),
        fill(4, owner, "T-4", executed_at=NOW, side=OrderSide.SELL),
        trade(1, owner, executed_at=NOW + timedelta(minutes=1), instrument=AAPL, currency="USD"),
    ]
    await store(backend, *everything, trade(9, other))

    async with repos(backend) as r:
        in_order = sorted(everything, key=lambda t: (t.executed_at, t.id))
        assert await r.trades.all_for_user(owner.id) == in_order
        assert all(trade.executed_at.tzinfo is UTC for trade in in_order)
        assert await r.trades.all_for_user(owner.id, account=BROKER_ACCOUNT) == [everything[2]]
        read = await r.trades.ledger_entries(owner.id)
        entries = read.entries
        assert read.through == TradeCursor.after(in_order[-1])
        assert list(entries) == [ledger_entry(t) for t in in_order]
        assert entries[0][7] == Decimal("32.84")  # charges plus the MTF charge
        assert [entry[4] for entry in entries] == [True, False, True, True]
        assert all(entry[8].tzinfo is UTC for entry in entries)
        assert {type(value) for entry in entries for value in entry[5:8]} == {Decimal}
        assert await r.trades.ledger_entries(UUID(int=5)) == LedgerRead([], None)


async def test_the_ledger_read_starts_after_a_position_and_says_where_it_ended(
    backend: Backend,
) -> None:
    (owner,) = await people(backend, 1)
    # Positions in order: 3 and 4 share an instant (ties by id), 2 is the latest.
    everything = [
        trade(1, owner, executed_at=NOW),
        trade(3, owner, executed_at=NOW + timedelta(minutes=1)),
        trade(4, owner, executed_at=NOW + timedelta(minutes=1)),
        trade(2, owner, executed_at=NOW + timedelta(minutes=2)),
    ]
    await store(backend, *everything[:3])
    first, tie_low, tie_high, latest = (TradeCursor.after(t) for t in everything)
    entries = [ledger_entry(t) for t in everything]

    async with repos(backend) as r:
        assert await r.trades.ledger_entries(owner.id, after=first) == LedgerRead(
            entries[1:3], tie_high
        )
        assert await r.trades.ledger_entries(owner.id, after=tie_low) == LedgerRead(
            entries[2:3], tie_high
        )
        # Nothing after: the read ends where it started.
        assert await r.trades.ledger_entries(owner.id, after=tie_high) == LedgerRead([], tie_high)
    await store(backend, everything[3])
    async with repos(backend) as r:
        assert await r.trades.ledger_entries(owner.id, after=tie_high) == LedgerRead(
            entries[3:], latest
        )
        whole = await r.trades.ledger_entries(owner.id)
        assert (list(whole.entries), whole.through) == (entries, latest)


async def test_the_ledger_read_keeps_every_digit(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    precise = replace(
        trade(1, owner),
        quantity=Decimal("0.000000000000000001"),
        price=Money.of("123456789012345678.987654321", "INR"),
        charges=Money.of("0.1", "INR"),
        mtf_charge=Money.of("0.0000000000000000000000001", "INR"),
    )
    await store(backend, precise)
    async with repos(backend) as r:
        (entry,) = (await r.trades.ledger_entries(owner.id)).entries
    assert entry == ledger_entry(precise)
    assert str(entry[7]) == "0.1000000000000000000000001"


async def test_a_broker_fill_is_recorded_once(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    first = fill(1, owner, "T-77")
    async with repos(backend) as r:
        assert await r.trades.add_fill(first) is True
        assert await r.trades.add_fill(fill(2, owner, "T-77")) is False
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.trades.add_fill(fill(3, owner, "T-77")) is False
        # Another account, or another user, may hold a fill with the same broker id.
        assert await r.trades.add_fill(fill(4, owner, "T-77", account="other-account")) is True
        assert await r.trades.add_fill(fill(5, other, "T-77")) is True
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.trades.by_broker_trade_id(owner.id, BROKER_ACCOUNT, "T-77") == first
        assert await r.trades.by_broker_trade_id(owner.id, BROKER_ACCOUNT, "T-78") is None
        assert await r.trades.get(fill(2, owner, "T-77").id) is None
        with pytest.raises(Conflict) as caught:
            await r.trades.add(fill(6, owner, "T-77"))
        assert caught.value.code == "trades_broker_trade_taken"


async def test_two_units_recording_one_fill_store_it_once(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    async with repos(backend) as first, repos(backend) as second:
        assert await first.trades.add_fill(fill(1, owner, "T-9")) is True
        if backend.name == "memory":
            # The first holds the user's trade book until it ends: the second is refused.
            with pytest.raises(Conflict) as refused:
                await second.trades.add_fill(fill(2, owner, "T-9"))
            assert refused.value.code == "trade_book_changed"
            await first.uow.commit()
        elif backend.name == "postgres":
            racing = asyncio.create_task(second.trades.add_fill(fill(2, owner, "T-9")))
            await backend.let_contender_run(first.work)
            await first.uow.commit()
            assert await racing is False
            await second.uow.commit()
        else:  # SQLite: one writer at a time, the second starts after the first commits
            await first.uow.commit()
            assert await second.trades.add_fill(fill(2, owner, "T-9")) is False
    async with repos(backend) as r:
        assert await r.trades.all_for_user(owner.id) == [fill(1, owner, "T-9")]


async def test_two_units_recording_overlapping_fills_both_finish(backend: Backend) -> None:
    """The first records X, the second Y, then the first Y too: on PostgreSQL the second
    queues on the user's book before inserting Y, so it never holds a fill the first waits for
    while waiting for the book the first holds (a deadlock, which PostgreSQL would break by
    failing one of them)."""
    (owner,) = await people(backend, 1)
    await store(backend, fill(1, owner, "T-0"))  # the user has a book
    x, y, y_again = fill(2, owner, "T-1"), fill(3, owner, "T-2"), fill(4, owner, "T-2")
    async with repos(backend) as first, repos(backend) as second:
        assert await first.trades.add_fill(x) is True
        if backend.name == "postgres":
            racing = asyncio.create_task(second.trades.add_fill(y))
            await backend.let_contender_run(first.work)
            assert await first.trades.add_fill(y_again) is True
            await first.uow.commit()
            assert await racing is False
            await second.uow.commit()
        else:  # one writer of a user's trades at a time: the second goes after the first
            assert await first.trades.add_fill(y_again) is True
            await first.uow.commit()
            assert await second.trades.add_fill(y) is False
            await second.uow.commit()
    async with repos(backend) as r:
        stored = {trade.broker_trade_id for trade in await r.trades.all_for_user(owner.id)}
    assert stored == {"T-0", "T-1", "T-2"}


async def test_a_trade_of_the_instrument_in_another_currency_is_found(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    inr, usd = trade(1, owner), trade(2, owner, currency="USD")
    await store(backend, inr, trade(3, owner, instrument=AAPL, currency="USD"))
    await store(backend, trade(4, other, currency="USD"))
    async with repos(backend) as r:
        assert await r.trades.other_currency(owner.id, INFY, INR, excluding=inr.id) is None
        assert (
            await r.trades.other_currency(owner.id, INFY, Currency("USD"), excluding=usd.id) == INR
        )
        # The trade being checked is left out: alone, it may change its currency.
        assert (
            await r.trades.other_currency(owner.id, INFY, Currency("USD"), excluding=inr.id) is None
        )
        # The unit of work's own writes are read.
        await r.trades.add(usd)
        assert await r.trades.other_currency(owner.id, INFY, INR, excluding=inr.id) == Currency(
            "USD"
        )


async def test_a_concurrent_writer_of_the_instrument_is_seen_once_the_book_is_locked(
    backend: Backend,
) -> None:
    """On PostgreSQL the second writer's insert waits on the user's book for the first one's
    commit; its check, asked after the write, then reads the first one's trade. Elsewhere one
    writer of a user's trades goes at a time."""
    (owner,) = await people(backend, 1)
    await store(backend, trade(1, owner, instrument=AAPL, currency="USD"))  # the user has a book
    inr, usd = trade(2, owner), trade(3, owner, currency="USD")
    async with repos(backend) as first, repos(backend) as second:
        await first.trades.add(inr)
        if backend.name == "postgres":
            racing = asyncio.create_task(second.trades.add(usd))
            await backend.let_contender_run(first.work)
            await first.uow.commit()
            await racing
        else:
            await first.uow.commit()
            await second.trades.add(usd)
        found = await second.trades.other_currency(
            owner.id, INFY, usd.price.currency, excluding=usd.id
        )
    assert found == INR


positive_decimals = st.builds(
    lambda digits, exponent: Decimal((0, tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=30).filter(any),
    st.integers(-30, 12),
)
ROUND_TRIPS = iter(range(1, 1_000_000))


@settings(max_examples=25)
@given(quantity=positive_decimals, price=positive_decimals, charges=positive_decimals)
async def test_amounts_round_trip_exactly(
    backend: Backend, quantity: Decimal, price: Decimal, charges: Decimal
) -> None:
    """Equal values with the same number of decimal places (PostgreSQL writes a positive
    exponent out in full, an equal number; SQLite keeps the very digits)."""
    number = next(ROUND_TRIPS)
    owner = person(number + 100, NOW)
    await people_from(backend, owner)
    original = replace(
        trade(number, owner),
        quantity=quantity,
        price=Money(price, INR),
        charges=Money(charges, INR),
        capital_used=Money(price, INR),
    )
    await store(backend, original)
    async with repos(backend) as r:
        loaded = await r.trades.get(original.id)
    assert loaded == original
    assert loaded is not None
    for before, after in (
        (quantity, loaded.quantity),
        (price, loaded.price.amount),
        (charges, loaded.charges.amount),
    ):
        assert max(0, -int(after.as_tuple().exponent)) == max(0, -int(before.as_tuple().exponent))


async def test_amounts_round_trip_through_every_store(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    examples = [
        ("0.000000000000000000000001", "123456789012345678901234567890.123456789", "0"),
        ("1E+3", "0.10", "0.00"),
        ("7", "1450.05", "20.3400"),
        ("0.1", "0.2", "0.3"),
    ]
    stored: list[Trade] = []
    for number, (quantity, price, charges) in enumerate(examples, start=1):
        stored.append(
            replace(
                trade(number, owner),
                quantity=Decimal(quantity),
                price=Money.of(price, "INR"),
                charges=Money.of(charges, "INR"),
                mtf_charge=Money.of("0.0001", "INR"),
            )
        )
    await store(backend, *stored)
    async with repos(backend) as r:
        for original in stored:
            loaded = await r.trades.get(original.id)
            assert loaded is not None
            assert loaded.quantity == original.quantity
            assert loaded.price == original.price
            assert loaded.charges == original.charges
            assert loaded.mtf_charge == original.mtf_charge
            assert (
                loaded.price.amount.as_tuple().exponent == original.price.amount.as_tuple().exponent
            )


# -- the trade book ------------------------------------------------------------------------


async def book_of(backend: Backend, owner: User) -> TradeBook:
    async with repos(backend) as r:
        return await r.trades.book(owner.id)


def at_minute(number: int, owner: User, minute: int, **changes: object) -> Trade:
    return trade(number, owner, executed_at=NOW + timedelta(minutes=minute), **changes)  # type: ignore[arg-type]


async def test_a_user_without_trades_has_an_empty_book(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    assert await book_of(backend, owner) == TradeBook(0, 0, None)


async def test_inserts_after_every_trade_are_appends(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    await store(backend, at_minute(1, owner, 0))
    await store(backend, at_minute(2, owner, 5), at_minute(3, owner, 5))
    # The same instant as the last trade, but a greater id: still after it.
    await store(backend, at_minute(4, owner, 5))

    assert await book_of(backend, owner) == TradeBook(
        4, 0, TradeCursor.after(at_minute(4, owner, 5))
    )
    assert await book_of(backend, other) == TradeBook(0, 0, None)


async def test_an_insert_dated_back_is_a_rewrite_that_leaves_the_last_position(
    backend: Backend,
) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, at_minute(5, owner, 5))
    last = TradeCursor.after(at_minute(5, owner, 5))
    await store(backend, at_minute(6, owner, 1))
    assert await book_of(backend, owner) == TradeBook(2, 2, last)
    # The same instant as the last trade with a smaller id is before it, too.
    await store(backend, at_minute(4, owner, 5))
    assert await book_of(backend, owner) == TradeBook(3, 3, last)
    await store(backend, at_minute(7, owner, 6))
    assert await book_of(backend, owner) == TradeBook(
        4, 3, TradeCursor.after(at_minute(7, owner, 6))
    )


async def test_an_edit_is_a_rewrite_and_moves_the_last_position_only_forward(
    backend: Backend,
) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, at_minute(1, owner, 1), at_minute(2, owner, 2))
    async with repos(backend) as r:
        await r.trades.save(replace(at_minute(1, owner, 1), quantity=Decimal(3)))
        await r.uow.commit()
    assert await book_of(backend, owner) == TradeBook(
        3, 3, TradeCursor.after(at_minute(2, owner, 2))
    )
    moved = at_minute(1, owner, 9)
    async with repos(backend) as r:
        await r.trades.save(moved)
        await r.uow.commit()
    assert await book_of(backend, owner) == TradeBook(4, 4, TradeCursor.after(moved))
    # An insert between the old last trade and the moved one is not an append.
    await store(backend, at_minute(3, owner, 5))
    assert await book_of(backend, owner) == TradeBook(5, 5, TradeCursor.after(moved))


async def test_a_deletion_is_a_rewrite_and_keeps_the_last_position(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, at_minute(1, owner, 1), at_minute(2, owner, 2))
    last = TradeCursor.after(at_minute(2, owner, 2))
    async with repos(backend) as r:
        assert await r.trades.delete(at_minute(2, owner, 2).id) is True
        await r.uow.commit()
    assert await book_of(backend, owner) == TradeBook(3, 3, last)
    # Still an upper bound: an insert before the deleted trade's position is a rewrite.
    await store(backend, at_minute(3, owner, 1))
    assert await book_of(backend, owner) == TradeBook(4, 4, last)


async def test_writes_that_change_nothing_leave_the_book(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    first = fill(1, owner, "T-1")
    async with repos(backend) as r:
        assert await r.trades.add_fill(first) is True
        await r.uow.commit()
    before = await book_of(backend, owner)
    assert before == TradeBook(1, 0, TradeCursor.after(first))

    async with repos(backend) as r:
        assert await r.trades.add_fill(fill(2, owner, "T-1")) is False  # a duplicate fill
        assert await r.trades.delete(UUID(int=99)) is False
        with pytest.raises(NotFound):
            await r.trades.save(trade(9, owner))
        await r.uow.commit()
    assert await book_of(backend, owner) == before


async def test_a_write_rolled_back_leaves_the_book(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, at_minute(1, owner, 1))
    async with repos(backend) as r:
        await r.trades.add(at_minute(2, owner, 0))
        assert await r.trades.book(owner.id) == TradeBook(
            2, 2, TradeCursor.after(at_minute(1, owner, 1))
        )  # its own write, seen in its unit of work
        await r.uow.rollback()
    assert await book_of(backend, owner) == TradeBook(
        1, 0, TradeCursor.after(at_minute(1, owner, 1))
    )


async def test_the_book_counts_every_write_of_two_units_of_work(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    async with repos(backend) as first, repos(backend) as second:
        await first.trades.add(at_minute(1, owner, 1))
        if backend.name == "postgres":
            # The second waits for the first's book and counts on from it.
            racing = asyncio.create_task(second.trades.add(at_minute(2, owner, 0)))
            await backend.let_contender_run(first.work)
            await first.uow.commit()
            await racing
            await second.uow.commit()
            expected = TradeBook(2, 2, TradeCursor.after(at_minute(1, owner, 1)))
        elif backend.name == "sqlite":  # one writer at a time
            await first.uow.commit()
            await second.trades.add(at_minute(2, owner, 0))
            await second.uow.commit()
            expected = TradeBook(2, 2, TradeCursor.after(at_minute(1, owner, 1)))
        else:  # memory: the second is refused while the first holds the book
            with pytest.raises(Conflict):
                await second.trades.add(at_minute(2, owner, 0))
            await first.uow.commit()
            expected = TradeBook(1, 0, TradeCursor.after(at_minute(1, owner, 1)))
    assert await book_of(backend, owner) == expected


# -- recorded splits -----------------------------------------------------------------------


def recorded_split(
    number: int,
    owner: User,
    *,
    minute: int = 0,
    instrument: InstrumentKey = INFY,
    numerator: int = 2,
    denominator: int = 1,
) -> RecordedSplit:
    return RecordedSplit(
        id=UUID(f"00000000-0000-7000-d000-{number:012x}"),
        user_id=owner.id,
        split=Split(instrument, numerator, denominator, NOW + timedelta(minutes=minute)),
        recorded_at=NOW + timedelta(days=1),
    )


async def record(backend: Backend, *recorded: RecordedSplit) -> None:
    async with repos(backend) as r:
        for item in recorded:
            await r.trades.add_split(item)
        await r.uow.commit()


async def test_a_split_comes_back_as_it_was_recorded(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    india = timezone(timedelta(hours=5, minutes=30))
    one_for_three = RecordedSplit(
        id=UUID("00000000-0000-7000-d000-000000000001"),
        user_id=owner.id,
        split=Split(AAPL, 1, 3, datetime(2026, 5, 4, 9, 15, 0, 250, tzinfo=india)),
        recorded_at=datetime(2026, 5, 5, 10, 0, 0, 7, tzinfo=india),
    )
    await record(backend, one_for_three)

    async with repos(backend) as r:
        loaded = await r.trades.get_split(one_for_three.id)
        assert loaded == one_for_three
        assert loaded is not None
        assert (loaded.split.numerator, loaded.split.denominator) == (1, 3)
        assert loaded.split.effective_at == datetime(2026, 5, 4, 3, 45, 0, 250, tzinfo=UTC)
        assert loaded.split.effective_at.tzinfo is UTC
        assert loaded.recorded_at.tzinfo is UTC
        assert await r.trades.splits(owner.id) == [one_for_three]
        assert await r.trades.get_split(UUID(int=7)) is None


async def test_a_users_splits_are_listed_by_instant_then_id_and_only_theirs(
    backend: Backend,
) -> None:
    owner, other = await people(backend, 1, 2)
    mine = [
        recorded_split(5, owner, minute=2),
        recorded_split(3, owner, minute=1, instrument=AAPL),
        recorded_split(4, owner, minute=0, numerator=1, denominator=5),
        recorded_split(2, owner, minute=1),  # the same instant as 3: ties go by id
    ]
    await record(backend, *mine, recorded_split(9, other, minute=-5))

    async with repos(backend) as r:
        assert await r.trades.splits(owner.id) == [mine[2], mine[3], mine[1], mine[0]]
        assert await r.trades.splits(other.id) == [recorded_split(9, other, minute=-5)]
        assert await r.trades.splits(UUID(int=5)) == []


async def test_a_user_records_one_split_of_an_instrument_at_an_instant(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    await record(backend, recorded_split(1, owner))
    with pytest.raises(Conflict) as caught:
        await record(backend, recorded_split(2, owner, numerator=3))
    assert caught.value.code == "splits_instrument_at_taken"

    # Another user, another instant or another instrument is another split.
    await record(
        backend,
        recorded_split(3, other),
        recorded_split(4, owner, minute=1),
        recorded_split(5, owner, instrument=AAPL),
    )
    async with repos(backend) as r:
        assert [item.id for item in await r.trades.splits(owner.id)] == [
            recorded_split(1, owner).id,
            recorded_split(5, owner).id,
            recorded_split(4, owner).id,
        ]
        assert await r.trades.get_split(recorded_split(2, owner).id) is None


async def test_a_taken_split_id_is_a_conflict(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await record(backend, recorded_split(1, owner))
    with pytest.raises(Conflict) as caught:
        await record(backend, recorded_split(1, owner, minute=9, instrument=AAPL))
    assert caught.value.code == "splits_exists"
    async with repos(backend) as r:
        assert await r.trades.splits(owner.id) == [recorded_split(1, owner)]


async def test_deleting_a_split(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    kept = recorded_split(2, owner, minute=1)
    await record(backend, recorded_split(1, owner), kept)
    async with repos(backend) as r:
        assert await r.trades.delete_split(recorded_split(1, owner).id) is True
        assert await r.trades.delete_split(recorded_split(1, owner).id) is False
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.trades.get_split(recorded_split(1, owner).id) is None
        assert await r.trades.splits(owner.id) == [kept]
        assert await r.trades.delete_split(recorded_split(1, owner).id) is False


async def test_recording_or_deleting_a_split_is_a_rewrite_of_the_book(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    await store(backend, at_minute(1, owner, 1), at_minute(2, owner, 2))
    last = TradeCursor.after(at_minute(2, owner, 2))
    assert await book_of(backend, owner) == TradeBook(2, 0, last)

    # Dated after every trade, and still not an append: the ledger is rebuilt.
    split = recorded_split(1, owner, minute=5)
    await record(backend, split)
    assert await book_of(backend, owner) == TradeBook(3, 3, last)
    async with repos(backend) as r:
        assert await r.trades.delete_split(split.id) is True
        await r.uow.commit()
    assert await book_of(backend, owner) == TradeBook(4, 4, last)
    async with repos(backend) as r:
        assert await r.trades.delete_split(split.id) is False
        await r.uow.commit()
    assert await book_of(backend, owner) == TradeBook(4, 4, last)
    # An append after the split is an append again.
    await store(backend, at_minute(3, owner, 3))
    assert await book_of(backend, owner) == TradeBook(
        5, 4, TradeCursor.after(at_minute(3, owner, 3))
    )

    # A user without trades gets a book that no stored ledger predates.
    await record(backend, recorded_split(2, other))
    assert await book_of(backend, other) == TradeBook(1, 1, None)


async def test_a_split_rolled_back_leaves_nothing(backend: Backend) -> None:
    (owner,) = await people(backend, 1)
    await store(backend, at_minute(1, owner, 1))
    before = TradeBook(1, 0, TradeCursor.after(at_minute(1, owner, 1)))
    split = recorded_split(1, owner)
    async with repos(backend) as r:
        await r.trades.add_split(split)
        assert await r.trades.get_split(split.id) == split  # its own write, seen in its unit
        assert await r.trades.book(owner.id) == TradeBook(2, 2, before.last)
        await r.uow.rollback()
    async with repos(backend) as r:
        assert await r.trades.get_split(split.id) is None
        assert await r.trades.splits(owner.id) == []
        assert await r.trades.book(owner.id) == before
