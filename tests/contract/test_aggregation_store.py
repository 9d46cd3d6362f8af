"""The aggregated data store contracts (``dashcore.ports.aggregation``) on memory, SQLite and
PostgreSQL: every field round-trips (Decimals exactly), synced accounts keep their ids, snapshots
replace whole, upserting identical rows writes and stamps nothing, the change feed reports each
change once in commit order, keyset pages return every row once (also while rows are inserted),
one active sync run per connection, payload retention."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashcore.domain.aggregation import (
    ManualAccountDetails,
    ManualEntry,
    RawPayload,
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
    SyncCounts,
    SyncFailure,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    TransactionFilter,
    TransactionPosition,
    UpsertCounts,
    decode_change_cursor,
    decode_key_cursor,
)
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.errors import Conflict, InvalidInput, NotFound
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, ActivityType, Balance, Holding, Position
from dashcore.domain.users import User
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    RawPayloadRepository,
    StoredAccountRepository,
    SyncRunRepository,
    TransactionRepository,
    TransactionStream,
)
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.aggregation import (
    MemoryBalanceRepository,
    MemoryHoldingRepository,
    MemoryPositionRepository,
    MemoryRawPayloadRepository,
    MemoryStoredAccountRepository,
    MemorySyncRunRepository,
    MemoryTransactionRepository,
    MemoryTransactionStream,
)
from dashcore_memory.connections import MemoryProviderConnectionRepository
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.aggregation import (
    SqlBalanceRepository,
    SqlHoldingRepository,
    SqlPositionRepository,
    SqlRawPayloadRepository,
    SqlStoredAccountRepository,
    SqlSyncRunRepository,
    SqlTransactionRepository,
    SqlTransactionStream,
)
from dashcore_sql.connections import SqlProviderConnectionRepository
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, SqlBackend, Work
from tests.contract.people import person
from tests.unit.aggregation_factories import provider_account

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
USD = Currency("USD")
INR = Currency("INR")
_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    connections: ProviderConnectionRepository
    accounts: StoredAccountRepository
    balances: BalanceRepository
    holdings: HoldingRepository
    positions: PositionRepository
    transactions: TransactionRepository
    runs: SyncRunRepository
    payloads: RawPayloadRepository
    stream: TransactionStream

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
                MemoryProviderConnectionRepository(native),
                MemoryStoredAccountRepository(native),
                MemoryBalanceRepository(native),
                MemoryHoldingRepository(native),
                MemoryPositionRepository(native),
                MemoryTransactionRepository(native),
                MemorySyncRunRepository(native),
                MemoryRawPayloadRepository(native),
                MemoryTransactionStream(native),
            )
        else:
            assert isinstance(backend, SqlBackend)
            yield Repos(
                work,
                SqlUserRepository(native),
                SqlProviderConnectionRepository(native),
                SqlStoredAccountRepository(native),
                SqlBalanceRepository(native),
                SqlHoldingRepository(native),
                SqlPositionRepository(native),
                SqlTransactionRepository(native),
                SqlSyncRunRepository(native),
                SqlRawPayloadRepository(native),
                SqlTransactionStream(backend.engine),
            )


@dataclass(frozen=True, slots=True)
class Owner:
    user: User
    connection: ProviderConnection


def ident(kind: int, number: int) -> UUID:
    """Time-ordered test ids: ``kind`` keeps families apart, ``number`` orders within one."""
    return UUID(f"00000000-0000-7000-{0x8000 + kind:04x}-{number:012x}")


async def owner(backend: Backend) -> Owner:
    """A fresh user with one Schwab connection (foreign keys need both)."""
    number = next(_numbers)
    user = person(number, NOW)
    connection = ProviderConnection.create(ident(1, number), user.id, "schwab", NOW)
    async with repos(backend) as r:
        await r.users.add(user)
        await r.connections.add(connection)
        await r.uow.commit()
    return Owner(user, connection)


def synced(who: Owner, provider_account_id: str = "ACC-1", **changes: object) -> StoredAccount:
    account = StoredAccount.from_provider(
        ident(2, next(_numbers)),
        who.user.id,
        who.connection.id,
        "schwab",
        provider_account(provider_account_id=provider_account_id),
        NOW,
    )
    return replace(account, **changes)  # type: ignore[arg-type]


def manual(who: Owner, name: str = "Cash box") -> StoredAccount:
    details = ManualAccountDetails(name, AccountType.CASH, USD, masked_number="****0001")
    return StoredAccount.manual(ident(2, next(_numbers)), who.user.id, details, NOW)


async def stored(backend: Backend, *accounts: StoredAccount) -> None:
    async with repos(backend) as r:
        for account in accounts:
            await r.accounts.add(account)
        await r.uow.commit()


def instrument(symbol: str = "INFY", **changes: object) -> Instrument:
    base = Instrument(
        symbol=symbol,
        exchange="NSE",
        currency=INR,
        asset_class=AssetClass.EQUITY,
        isin="INE009A01021",
        name="Infosys Ltd",
        lot_size=Decimal("1"),
        tick_size=Decimal("0.05"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def row(
    account: StoredAccount,
    provider_id: str,
    *,
    at: datetime = NOW,
    amount: str = "-1520.05",
    number: int | None = None,
    **changes: object,
) -> StoredTransaction:
    base = StoredTransaction(
        id=ident(3, next(_numbers) if number is None else number),
        account_id=account.id,
        user_id=account.user_id,
        source=account.source,
        provider_transaction_id=provider_id,
        activity=ActivityType.BUY,
        occurred_at=at,
        amount=Money.of(amount, "INR"),
        created_at=NOW,
        updated_at=NOW,
        instrument=instrument(),
        quantity=Decimal("1.000"),
        price=Money.of("1520.05", "INR"),
        description="Bought INFY ☂",
        provider_type="TRADE",
        order_ref="ORD-1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def same_row(loaded: StoredTransaction, expected: StoredTransaction) -> None:
    """Equal in every field but the seqs (stamped by the store)."""
    assert replace(loaded, created_seq=0, change_seq=0) == replace(
        expected, created_seq=0, change_seq=0
    )


# -- accounts ------------------------------------------------------------------------------


async def test_accounts_read_back_exactly(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(
        who,
        name="Brokerage ☂",
        sync_status=SyncStatus.SUSPICIOUS,
        last_synced_at=NOW + timedelta(minutes=1),
        closed_at=NOW + timedelta(minutes=2),
    )
    own = manual(who)
    await stored(backend, account, own)
    async with repos(backend) as r:
        assert await r.accounts.get(account.id) == account
        assert await r.accounts.lock(own.id) == own
        assert await r.accounts.get(ident(2, 999_999)) is None


async def test_a_synced_account_keeps_its_id_created_at_and_owner_when_upserted(
    backend: Backend,
) -> None:
    who = await owner(backend)
    first = synced(who)
    async with repos(backend) as r:
        assert await r.accounts.upsert_synced(first) == first
        await r.uow.commit()
    later = NOW + timedelta(days=3)
    again = replace(
        synced(who),
        name="Renamed",
        sync_status=SyncStatus.OK,
        updated_at=later,
        last_synced_at=later,
    )
    async with repos(backend) as r:
        kept = await r.accounts.upsert_synced(again)
        await r.uow.commit()
    assert kept == replace(again, id=first.id, created_at=first.created_at)
    async with repos(backend) as r:
        assert await r.accounts.get(first.id) == kept
        assert await r.accounts.get(again.id) is None
        assert await r.accounts.list_for_connection(who.connection.id) == [kept]


async def test_a_provider_account_is_stored_once_per_connection(backend: Backend) -> None:
    who = await owner(backend)
    await stored(backend, synced(who))
    with pytest.raises(Conflict) as caught:
        await stored(backend, synced(who))
    assert caught.value.code == "stored_accounts_provider_account_taken"
    account = synced(who, "ACC-2")
    await stored(backend, account)
    with pytest.raises(Conflict) as same_id:
        await stored(backend, replace(account, provider_account_id="ACC-3"))
    assert same_id.value.code == "stored_accounts_exists"


async def test_accounts_reached_elsewhere_are_the_user_s_others_of_the_provider(
    backend: Backend,
) -> None:
    """What a sync of a second connection to the same broker login checks before storing:
    the person's other connections' live accounts with the same provider ids, and nothing of
    another person, another provider, a deleted account or the connection itself."""
    first = await owner(backend)
    second = Owner(
        first.user, ProviderConnection.create(ident(1, 900_001), first.user.id, "schwab", NOW)
    )
    groww = ProviderConnection.create(ident(1, 900_002), first.user.id, "groww", NOW)
    stranger = await owner(backend)
    async with repos(backend) as r:
        await r.connections.add(second.connection)
        await r.connections.add(groww)
        await r.uow.commit()
    held = synced(first, "ACC-1")
    gone = synced(first, "ACC-2", deleted_at=NOW)
    own = synced(second, "ACC-3")
    elsewhere = StoredAccount.from_provider(
        ident(2, next(_numbers)),
        first.user.id,
        groww.id,
        "groww",
        provider_account(provider_account_id="ACC-4"),
        NOW,
    )
    await stored(backend, held, gone, own, elsewhere, synced(stranger, "ACC-5"))
    wanted = {"ACC-1", "ACC-2", "ACC-3", "ACC-4", "ACC-5"}
    async with repos(backend) as r:
        assert await r.accounts.reached_elsewhere(second.connection, wanted) == [held]
        assert await r.accounts.reached_elsewhere(second.connection, set()) == []
        assert await r.accounts.reached_elsewhere(first.connection, {"ACC-3"}) == [own]
        taken = held.handed_over(second.connection.id, NOW)  # a take-over from a disconnected
        await r.accounts.save(taken)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.accounts.reached_elsewhere(second.connection, wanted) == []
        assert await r.accounts.list_for_connection(second.connection.id) == [taken, own]
        assert await r.accounts.get(held.id) == taken


async def test_save_rewrites_only_the_owner_s_account(backend: Backend) -> None:
    who, other = await owner(backend), await owner(backend)
    own = manual(who)
    await stored(backend, own)
    edited = own.edited(ManualAccountDetails("Savings", AccountType.CASH, INR), NOW)
    async with repos(backend) as r:
        await r.accounts.save(edited)
        with pytest.raises(NotFound):
            await r.accounts.save(replace(edited, user_id=other.user.id))
        with pytest.raises(NotFound):
            await r.accounts.save(manual(who))
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.accounts.get(own.id) == edited


async def test_accounts_list_by_id_pages_without_deleted_ones(backend: Backend) -> None:
    who, other = await owner(backend), await owner(backend)
    accounts = [synced(who, f"ACC-{n}") for n in range(3)] + [manual(who), manual(who)]
    gone = accounts[3].deleted(NOW)
    await stored(backend, *accounts[:3], gone, accounts[4], manual(other))
    seen: list[StoredAccount] = []
    after: UUID | None = None
    async with repos(backend) as r:
        while True:
            page = await r.accounts.list_for_user(who.user.id, after=after, limit=2)
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            after = UUID(decode_key_cursor("accounts", who.user.id, page.next_cursor))
    assert seen == [accounts[0], accounts[1], accounts[2], accounts[4]]
    async with repos(backend) as r:
        assert [a.id for a in await r.accounts.list_for_connection(who.connection.id)] == [
            a.id for a in accounts[:3]
        ]


async def test_deleting_a_connection_deletes_its_accounts(sql_backend: SqlBackend) -> None:
    """SQL cascades (the memory store has no foreign keys)."""
    backend = sql_backend
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    async with repos(backend) as r:
        assert await r.connections.delete(who.connection.id)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.accounts.get(account.id) is None


# -- balances and snapshots -------------------------------------------------------------------

amounts = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=30),
    st.integers(-12, 6),
).filter(lambda value: not (value.is_zero() and value.is_signed()))


def exactly(loaded: Decimal, expected: Decimal) -> bool:
    return loaded == expected and max(0, -int(loaded.as_tuple().exponent)) == max(
        0, -int(expected.as_tuple().exponent)
    )


@given(cash=amounts, power=amounts)
@settings(max_examples=20)
async def test_balances_replace_and_keep_decimals_exact(
    backend: Backend, cash: Decimal, power: Decimal
) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    first = StoredBalance.from_provider(
        account, Balance("ACC-1", Money.of(1, "USD"), Money.of(1, "USD"), Money.zero("USD")), NOW
    )
    latest = StoredBalance(
        account.id, who.user.id, Money(cash, USD), Money(power, USD), Money.zero("USD"), NOW, NOW
    )
    async with repos(backend) as r:
        await r.balances.put(first)
        await r.balances.put(latest)
        await r.uow.commit()
    async with repos(backend) as r:
        loaded = await r.balances.get(account.id)
        assert loaded is not None
        assert exactly(loaded.cash.amount, cash) and exactly(loaded.buying_power.amount, power)
        assert loaded == latest
        assert await r.balances.list_for_user(who.user.id) == [latest]


async def test_balances_of_deleted_accounts_are_not_listed(backend: Backend) -> None:
    who = await owner(backend)
    kept, gone = manual(who), manual(who)
    await stored(backend, kept, gone)
    zero = Money.zero("USD")
    async with repos(backend) as r:
        for account in (kept, gone):
            await r.balances.put(StoredBalance(account.id, who.user.id, zero, zero, zero, NOW))
        await r.accounts.save(gone.deleted(NOW))
        await r.uow.commit()
    async with repos(backend) as r:
        assert [b.account_id for b in await r.balances.list_for_user(who.user.id)] == [kept.id]


def holding(symbol: str, quantity: str = "10.5") -> Holding:
    price = Money.of("1520.05", "INR")
    return Holding("ACC-1", instrument(symbol), Decimal(quantity), price, price, price * 2)


async def test_a_holdings_snapshot_is_replaced_whole_and_pages_by_key(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    old = StoredHolding.snapshot(account, [holding("OLD")], NOW)
    new = StoredHolding.snapshot(
        account, [holding(symbol) for symbol in ("TCS", "INFY", "HDFC", "WIPRO", "ITC")], NOW
    )
    bare = replace(new[0], average_cost=None, last_price=None, market_value=None)
    new = (bare, *new[1:])
    async with repos(backend) as r:
        await r.holdings.replace(account.id, old)
        await r.uow.commit()
    async with repos(backend) as r:
        await r.holdings.replace(account.id, new)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.holdings.count(account.id) == 5
        seen: list[StoredHolding] = []
        after: str | None = None
        while True:
            page = await r.holdings.list(account.id, after=after, limit=2)
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            after = decode_key_cursor("holdings", account.id, page.next_cursor)
    assert sorted(seen, key=lambda line: line.key) == list(new)
    assert [line.key for line in seen] == sorted(line.key for line in seen)


async def test_a_snapshot_refuses_lines_of_another_account_or_twice_the_same_key(
    backend: Backend,
) -> None:
    who = await owner(backend)
    account, other = synced(who), synced(who, "ACC-2")
    await stored(backend, account, other)
    (line,) = StoredHolding.snapshot(account, [holding("TCS")], NOW)
    async with repos(backend) as r:
        with pytest.raises(ValueError, match="belongs"):
            await r.holdings.replace(other.id, [line])
        with pytest.raises(ValueError, match="unique"):
            await r.holdings.replace(account.id, [line, line])


async def test_a_positions_snapshot_round_trips(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    price = Money.of("99.5", "INR")
    lines = StoredPosition.snapshot(
        account,
        [
            Position("ACC-1", instrument(), Decimal("-25"), "intraday", price, price, None, price),
            Position("ACC-1", instrument(), Decimal("3"), "delivery", None, None, None),
        ],
        NOW,
    )
    async with repos(backend) as r:
        await r.positions.replace(account.id, lines)
        await r.uow.commit()
    async with repos(backend) as r:
        page = await r.positions.list(account.id, limit=10)
        assert page.items == lines and page.next_cursor is None
        assert await r.positions.count(account.id) == 2
        await r.positions.replace(account.id, [])
        assert await r.positions.count(account.id) == 0


# -- transactions -----------------------------------------------------------------------------


async def test_upserted_rows_read_back_exactly_and_are_stamped_in_order(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    rows = [
        row(account, "T-1"),
        row(account, "T-2", instrument=None, quantity=None, price=None, description=""),
        row(account, "T-3", price=Money.of("17.25", "USD"), provider_type=None, order_ref=None),
    ]
    async with repos(backend) as r:
        assert await r.transactions.upsert(rows) == UpsertCounts(added=3)
        await r.uow.commit()
    async with repos(backend) as r:
        loaded = [await r.transactions.get(item.id) for item in rows]
    assert [(item.created_seq, item.change_seq) for item in loaded if item] == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    for got, expected in zip(loaded, rows, strict=True):
        assert got is not None
        same_row(got, expected)


async def test_upserting_identical_rows_writes_and_stamps_nothing(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    rows = [row(account, f"T-{n}") for n in range(3)]
    async with repos(backend) as r:
        await r.transactions.upsert(rows)
        await r.uow.commit()
    again = [
        replace(item, id=ident(3, next(_numbers)), updated_at=NOW + timedelta(hours=1))
        for item in rows
    ]
    async with repos(backend) as r:
        assert await r.transactions.upsert(again) == UpsertCounts()
        await r.uow.commit()
    async with repos(backend) as r:
        changes = await r.transactions.changes(who.user.id, 3, 10)
        assert (changes.added, changes.modified, changes.removed) == ((), (), ())
        assert [item.id for item in (await r.transactions.changes(who.user.id, 0, 10)).added] == [
            item.id for item in rows
        ]


async def test_a_changed_row_keeps_its_id_and_is_restamped(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    first, second = row(account, "T-1"), row(account, "T-2")
    async with repos(backend) as r:
        await r.transactions.upsert([first, second])
        await r.uow.commit()
    later = NOW + timedelta(hours=1)
    changed = replace(row(account, "T-1", amount="-1520.10"), updated_at=later, created_at=later)
    async with repos(backend) as r:
        counts = await r.transactions.upsert([changed, row(account, "T-2"), row(account, "T-3")])
        await r.uow.commit()
    assert counts == UpsertCounts(added=1, modified=1)
    async with repos(backend) as r:
        loaded = await r.transactions.get(first.id)
        feed = await r.transactions.changes(who.user.id, 2, 10)
    assert loaded is not None
    assert (loaded.amount, loaded.created_at, loaded.updated_at) == (
        Money.of("-1520.10", "INR"),
        NOW,
        later,
    )
    assert (loaded.created_seq, loaded.change_seq) == (1, 4), "new rows are stamped first"
    assert [item.provider_transaction_id for item in feed.added] == ["T-3"]
    assert [item.id for item in feed.modified] == [first.id]
    assert feed.has_more is False and decode_change_cursor(who.user.id, feed.next_cursor) == 4


async def test_removed_rows_are_reported_once_and_come_back_when_listed_again(
    backend: Backend,
) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    rows = [row(account, f"T-{n}", at=NOW + timedelta(days=n)) for n in range(4)]
    async with repos(backend) as r:
        await r.transactions.upsert(rows)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.transactions.live_provider_ids(
            account.id, since=NOW + timedelta(days=1)
        ) == {
            "T-1",
            "T-2",
            "T-3",
        }
        removed = await r.transactions.mark_removed(account.id, ["T-2", "T-3", "T-404"], NOW)
        assert removed == 2
        assert await r.transactions.mark_removed(account.id, ["T-2"], NOW) == 0
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.transactions.live_provider_ids(account.id, since=NOW) == {"T-0", "T-1"}
        feed = await r.transactions.changes(who.user.id, 4, 10)
        assert sorted(item.provider_transaction_id for item in feed.removed) == ["T-2", "T-3"]
        assert all(item.removed_at == NOW for item in feed.removed)
        back = await r.transactions.upsert([row(account, "T-3", at=NOW + timedelta(days=3))])
        await r.uow.commit()
    assert back == UpsertCounts(modified=1)
    async with repos(backend) as r:
        feed = await r.transactions.changes(who.user.id, 6, 10)
    assert [item.provider_transaction_id for item in feed.modified] == ["T-3"]
    assert feed.modified[0].removed_at is None


async def test_a_batch_belongs_to_one_account_with_unique_provider_ids(backend: Backend) -> None:
    who = await owner(backend)
    account, other = synced(who), synced(who, "ACC-2")
    await stored(backend, account, other)
    async with repos(backend) as r:
        with pytest.raises(ValueError, match="one account"):
            await r.transactions.upsert([row(account, "T-1"), row(other, "T-2")])
        with pytest.raises(ValueError, match="once"):
            await r.transactions.upsert([row(account, "T-1"), row(account, "T-1")])
        assert await r.transactions.upsert([]) == UpsertCounts()


async def test_manual_rows_are_added_edited_and_deleted_through_the_feed(backend: Backend) -> None:
    who = await owner(backend)
    account = manual(who)
    await stored(backend, account)
    entry = ManualEntry(ActivityType.DEPOSIT, NOW, Money.of("250.00", "USD"), description="Pay")
    new = StoredTransaction.manual(ident(3, next(_numbers)), account, entry, NOW)
    async with repos(backend) as r:
        added = await r.transactions.add(new)
        await r.uow.commit()
    assert (added.created_seq, added.change_seq) == (1, 1)
    edited = added.edited(account, replace(entry, amount=Money.of("260", "USD")), NOW)
    async with repos(backend) as r:
        saved = await r.transactions.save(edited)
        await r.uow.commit()
    assert (saved.created_seq, saved.change_seq) == (1, 2)
    async with repos(backend) as r:
        loaded = await r.transactions.get(new.id)
        assert loaded == saved
        with pytest.raises(Conflict) as twice:
            await r.transactions.add(replace(new, id=ident(3, next(_numbers))))
        assert twice.value.code == "transactions_exists"
    async with repos(backend) as r:
        with pytest.raises(NotFound):
            await r.transactions.save(replace(saved, id=ident(3, next(_numbers))))
    async with repos(backend) as r:
        assert await r.transactions.mark_account_removed(account.id, NOW) == 1
        assert await r.transactions.mark_account_removed(account.id, NOW) == 0
        await r.uow.commit()
    async with repos(backend) as r:
        feed = await r.transactions.changes(who.user.id, 0, 10)
    assert [item.id for item in feed.removed] == [new.id]
    assert feed.added == feed.modified == ()


async def test_the_feed_pages_in_seq_order_and_is_private_to_its_user(backend: Backend) -> None:
    who, other = await owner(backend), await owner(backend)
    account, theirs = synced(who), synced(other)
    await stored(backend, account, theirs)
    async with repos(backend) as r:
        await r.transactions.upsert([row(account, f"T-{n}") for n in range(5)])
        await r.transactions.upsert([row(theirs, "X-1")])
        await r.uow.commit()
    seen: list[str] = []
    after = 0
    async with repos(backend) as r:
        while True:
            feed = await r.transactions.changes(who.user.id, after, 2)
            seen.extend(item.provider_transaction_id for item in feed.added)
            after = decode_change_cursor(who.user.id, feed.next_cursor)
            if not feed.has_more:
                break
        assert (await r.transactions.changes(other.user.id, 0, 10)).added[0].change_seq == 1
    assert seen == [f"T-{n}" for n in range(5)]


async def test_a_later_seq_is_never_committed_earlier(backend: Backend) -> None:
    """Two writers of one user at once: the first holds its uncommitted stamp while the second
    runs into it. In SQL the second waits for the counter's row (or SQLite's write lock) and
    gets the later seq; the memory store refuses the second commit. Either way no reader can
    see seq n+1 before seq n is committed."""
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    first_stamped = asyncio.Event()

    async def writer(first: bool) -> int | None:
        if not first:
            await first_stamped.wait()
        async with repos(backend) as r:
            if first:
                await r.transactions.upsert([row(account, "FIRST")])
                first_stamped.set()
                await backend.let_contender_run(r.work)
            else:
                await r.transactions.upsert([row(account, "SECOND")])
            try:
                await r.uow.commit()
            except Conflict:
                return None
        return 1

    outcomes = await asyncio.gather(writer(True), writer(False))
    async with repos(backend) as r:
        feed = await r.transactions.changes(who.user.id, 0, 10)
    order = [item.provider_transaction_id for item in feed.added]
    if backend.name == "memory":
        assert sorted(outcomes, key=repr) == [1, None]
        assert len(order) == 1
    else:
        assert order == ["FIRST", "SECOND"]
        assert [item.change_seq for item in feed.added] == [1, 2]


# -- listing, filters, pagination --------------------------------------------------------------


async def walk(
    backend: Backend, user_id: UUID, query: TransactionFilter, limit: int
) -> list[StoredTransaction]:
    seen: list[StoredTransaction] = []
    after: TransactionPosition | None = None
    while True:
        async with repos(backend) as r:
            page = await r.transactions.list(user_id, query, after=after, limit=limit)
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        after = TransactionPosition.decode(page.next_cursor, user_id)


async def test_filters_select_as_the_domain_rule_says(backend: Backend) -> None:
    who = await owner(backend)
    account, other = synced(who), synced(who, "ACC-2")
    await stored(backend, account, other)
    rows = [
        row(account, "BUY", at=NOW, amount="-100.50"),
        row(account, "SELL", at=NOW + timedelta(days=1), amount="250", activity=ActivityType.SELL),
        row(
            account,
            "DIV",
            at=NOW + timedelta(days=2),
            amount="12.5",
            activity=ActivityType.DIVIDEND,
            instrument=instrument("TCS"),
        ),
        row(
            account,
            "FEE",
            at=NOW + timedelta(days=3),
            amount="-0.005",
            activity=ActivityType.FEE,
            instrument=None,
            quantity=None,
            price=None,
        ),
    ]
    elsewhere = row(other, "ELSE", at=NOW + timedelta(days=4), amount="1")
    async with repos(backend) as r:
        await r.transactions.upsert(rows)
        await r.transactions.upsert([elsewhere])
        await r.transactions.mark_removed(account.id, ["FEE"], NOW)
        await r.uow.commit()
    everything = [*rows[:3], elsewhere]
    queries = [
        TransactionFilter(),
        TransactionFilter(account_ids=frozenset({account.id})),
        TransactionFilter(since=NOW + timedelta(days=1), until=NOW + timedelta(days=2)),
        TransactionFilter(activities=frozenset({ActivityType.SELL, ActivityType.DIVIDEND})),
        TransactionFilter(symbol="TCS"),
        TransactionFilter(min_amount=Decimal("-100.50"), max_amount=Decimal("12.5")),
        TransactionFilter(min_amount=Decimal("12.51")),
        TransactionFilter(include_removed=True, max_amount=Decimal("0")),
    ]
    async with repos(backend) as r:
        removed = await r.transactions.get(rows[3].id)
    assert removed is not None
    for query in queries:
        listed = [
            item.provider_transaction_id for item in await walk(backend, who.user.id, query, 2)
        ]
        candidates = [*everything, removed]
        expected = sorted(
            (item for item in candidates if query.matches(item)),
            key=lambda item: (item.occurred_at, item.id),
            reverse=True,
        )
        assert listed == [item.provider_transaction_id for item in expected], query


async def test_nobody_lists_another_user_s_rows(backend: Backend) -> None:
    who, other = await owner(backend), await owner(backend)
    account = synced(who)
    await stored(backend, account)
    async with repos(backend) as r:
        await r.transactions.upsert([row(account, "T-1")])
        await r.uow.commit()
        page = await r.transactions.list(other.user.id, TransactionFilter(), limit=10)
    assert page.items == () and page.next_cursor is None


@given(
    times=st.lists(st.integers(0, 5), min_size=0, max_size=25),
    late=st.lists(st.integers(-1, 6), max_size=6),
    limit=st.integers(1, 7),
    when=st.integers(0, 10),
)
@settings(max_examples=25)
async def test_walking_every_page_returns_each_row_exactly_once_even_under_inserts(
    backend: Backend, times: list[int], late: list[int], limit: int, when: int
) -> None:
    """Rows share instants (ties broken by id). While the walk runs, rows are inserted between
    two page fetches, some sorting before the walk's position and some after. The guarantee:
    every row that existed when the walk began is returned exactly once, none twice; a row
    inserted meanwhile is returned (once) exactly when it sorts after the position at which it
    was inserted."""
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    base = [row(account, f"T-{n}", at=NOW + timedelta(hours=h)) for n, h in enumerate(times)]
    async with repos(backend) as r:
        await r.transactions.upsert(base)
        await r.uow.commit()
    seen: list[StoredTransaction] = []
    after: TransactionPosition | None = None
    inserted: list[tuple[StoredTransaction, TransactionPosition | None]] = []
    insert_before_page = when % (len(base) // limit + 2)
    pages = 0
    while True:
        if pages == insert_before_page:
            extra = [
                row(account, f"L-{n}", at=NOW + timedelta(hours=h)) for n, h in enumerate(late)
            ]
            async with repos(backend) as r:
                await r.transactions.upsert(extra)
                await r.uow.commit()
            inserted = [(item, after) for item in extra]
        async with repos(backend) as r:
            page = await r.transactions.list(
                who.user.id, TransactionFilter(), after=after, limit=limit
            )
        pages += 1
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        after = TransactionPosition.decode(page.next_cursor, who.user.id)
    ids = [item.id for item in seen]
    assert len(ids) == len(set(ids)), "no row twice"
    assert {item.id for item in base} <= set(ids), "every row present at the start"
    for item, position in inserted:
        expected = position is None or position.is_before(item)
        assert (item.id in ids) == expected
    assert seen == sorted(seen, key=lambda item: (item.occurred_at, item.id), reverse=True)


async def test_amounts_round_trip_exactly_through_upsert_and_listing(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    values = ["0.000000001", "-1E+3", "123456789012345678901234567890.123", "1.500", "-0"]
    rows = [
        row(account, f"T-{n}", amount=value, quantity=Decimal(value), at=NOW + timedelta(seconds=n))
        for n, value in enumerate(values)
    ]
    async with repos(backend) as r:
        await r.transactions.upsert(rows)
        await r.uow.commit()
        listed = (await r.transactions.list(who.user.id, TransactionFilter(), limit=10)).items
    by_id = {item.id: item for item in listed}
    for expected in rows:
        loaded = by_id[expected.id]
        assert exactly(loaded.amount.amount, expected.amount.amount)
        assert loaded.quantity is not None and expected.quantity is not None
        assert exactly(loaded.quantity, expected.quantity)


async def test_page_sizes_and_filters_are_checked(backend: Backend) -> None:
    who = await owner(backend)
    async with repos(backend) as r:
        with pytest.raises(InvalidInput):
            await r.transactions.list(who.user.id, TransactionFilter(), limit=0)
        with pytest.raises(InvalidInput):
            await r.transactions.changes(who.user.id, 0, 501)
        with pytest.raises(InvalidInput):
            await r.holdings.list(ident(2, 1), limit=0)


async def test_an_export_streams_every_matching_row_oldest_first(backend: Backend) -> None:
    who = await owner(backend)
    account = synced(who)
    await stored(backend, account)
    rows = [row(account, f"T-{n}", at=NOW + timedelta(minutes=n % 4)) for n in range(11)]
    async with repos(backend) as r:
        await r.transactions.upsert(rows)
        await r.transactions.mark_removed(account.id, ["T-0"], NOW)
        await r.uow.commit()
    async with repos(backend) as r:
        streamed = [
            item
            async for item in r.stream.stream_transactions(
                who.user.id, TransactionFilter(), batch_size=3
            )
        ]
        with pytest.raises(ValueError, match="batch"):
            async for _ in r.stream.stream_transactions(
                who.user.id, TransactionFilter(), batch_size=0
            ):
                pass
    expected = sorted(rows[1:], key=lambda item: (item.occurred_at, item.id))
    assert [item.id for item in streamed] == [item.id for item in expected]


# -- sync runs ---------------------------------------------------------------------------------


def run(who: Owner, *, at: datetime = NOW) -> SyncRun:
    return SyncRun.queued(
        ident(4, next(_numbers)), who.connection.id, who.user.id, SyncTrigger.MANUAL, at
    )


async def test_runs_read_back_exactly(backend: Backend) -> None:
    who = await owner(backend)
    queued = run(who).with_job("job-7")
    async with repos(backend) as r:
        await r.runs.add(queued)
        await r.uow.commit()
    done = (
        queued.started(NOW + timedelta(seconds=1))
        .progressed(SyncCounts(1, 2, 3, 4, 5, 6), NOW + timedelta(seconds=2))
        .flagged("holdings went empty ☂")
        .failed(NOW + timedelta(seconds=3), SyncFailure("provider_unavailable", "Timed out."))
    )
    async with repos(backend) as r:
        assert await r.runs.lock(queued.id) == queued
        await r.runs.save(done)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.runs.get(done.id) == done
        assert await r.runs.get(ident(4, 999_999)) is None
        with pytest.raises(NotFound):
            await r.runs.save(run(who))


async def test_a_copy_read_before_the_job_was_set_keeps_the_job(backend: Backend) -> None:
    """A worker may begin a run before the API has stored the run's job id; the worker's later
    saves of its copy (without the id) must not clear it."""
    who = await owner(backend)
    queued = run(who)
    async with repos(backend) as r:
        await r.runs.add(queued)
        await r.uow.commit()
    async with repos(backend) as r:
        await r.runs.save(queued.with_job("job-8"))
        await r.uow.commit()
    finished = queued.started(NOW).succeeded(NOW + timedelta(seconds=1))
    async with repos(backend) as r:
        await r.runs.save(finished)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.runs.get(queued.id) == finished.with_job("job-8")


async def add_and_commit(r: Repos, item: SyncRun) -> None:
    await r.runs.add(item)
    await r.uow.commit()


async def test_one_active_run_per_connection(backend: Backend) -> None:
    who = await owner(backend)
    first = run(who)
    async with repos(backend) as r:
        await r.runs.add(first)
        await r.uow.commit()
    async with repos(backend) as r:
        with pytest.raises(Conflict) as caught:
            await add_and_commit(r, run(who))
    assert caught.value.code == "sync_already_active"
    async with repos(backend) as r:
        assert await r.runs.active_for_connection(who.connection.id) == first
        await r.runs.save(first.started(NOW).succeeded(NOW))
        second = run(who)
        await r.runs.add(second)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.runs.active_for_connection(who.connection.id) == second
        assert await r.runs.active_for_connection(ident(1, 999_999)) is None


async def test_stale_runs_are_the_active_ones_with_an_old_heartbeat(backend: Backend) -> None:
    owners = [await owner(backend) for _ in range(4)]
    old = run(owners[0], at=NOW - timedelta(hours=2))
    older = run(owners[1], at=NOW - timedelta(hours=3)).started(NOW - timedelta(hours=3))
    fresh = run(owners[2], at=NOW)
    finished = run(owners[3], at=NOW - timedelta(hours=5)).failed(
        NOW - timedelta(hours=5), SyncFailure("x", "y")
    )
    async with repos(backend) as r:
        for item in (old, older, fresh, finished):
            await r.runs.add(item)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.runs.stale(NOW - timedelta(hours=1), limit=10) == [older, old]
        assert await r.runs.stale(NOW - timedelta(hours=1), limit=1) == [older]


# -- raw payloads ------------------------------------------------------------------------------


async def test_payloads_are_kept_per_run_and_purged_by_age(backend: Backend) -> None:
    who = await owner(backend)
    first = run(who)
    async with repos(backend) as r:
        await r.runs.add(first)
        await r.uow.commit()
    old = RawPayload.capture(ident(5, 1), first.id, "accounts", b'{"a": 1}' * 50, NOW, cap=64)
    new = RawPayload.capture(
        ident(5, 2), first.id, "holdings", b"\x00\xff binary", NOW + timedelta(days=40), cap=1024
    )
    async with repos(backend) as r:
        await r.payloads.add(new)
        await r.payloads.add(old)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.payloads.list_for_run(first.id) == [old, new]
        assert old.truncated and old.content() == (b'{"a": 1}' * 50)[:64]
        assert await r.payloads.purge(NOW + timedelta(days=1)) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.payloads.list_for_run(first.id) == [new]
