"""``GetPortfolio`` over stored ledgers (issue #8), on memory adapters: whatever the interleaving of
trade writes (appends, inserts dated back, edits, deletions, broker fills, duplicate fills) and
portfolio reads (every method, the whole portfolio or one account), every read answers exactly
what a fresh build over the stored trades and splits answers (a split recorded or deleted
between reads included). A read may also race a write committed
between its reading of the trade book and of the trades (what READ COMMITTED allows): it then
answers the trades before or after that write, and the next read answers after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from unittest.mock import create_autospec
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from dashcore.application.orders import BrokerAccess
from dashcore.application.portfolio import GetPortfolio, LatestPrices, PricePoint, PriceSource
from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import CostMethod, LotLedger, Portfolio
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
from dashcore.ports.ledgers import StoredLedger
from dashcore.ports.trades import LedgerRead, TradeBook, TradeCursor
from dashcore.ports.trading import InstrumentCatalog
from dashcore.testing.clock import FakeClock
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.aggregation import MemoryHoldingRepository, MemoryStoredAccountRepository
from dashcore_memory.connections import MemoryProviderConnectionRepository
from dashcore_memory.ledgers import MemoryLedgerSnapshots
from dashcore_memory.quotes_cache import MemoryQuoteCache
from dashcore_memory.trades import MemoryTradeRepository

USER = UUID(int=1)
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
INFY = InstrumentKey("INFY", "NSE")
INSTRUMENTS = {
    INFY: Currency("INR"),
    InstrumentKey("TCS", "NSE"): Currency("INR"),
    InstrumentKey("AAPL", "XNAS"): Currency("USD"),
}
BROKER = "0f4bd7d6-0f6e-5b1e-9f55-7c4a3c1c2b9e"
ACCOUNTS = (MANUAL_ACCOUNT, "ira")

Kind = Literal["append", "back_dated", "edit", "delete", "fill", "split", "unsplit"]
RATIOS = ((2, 1), (1, 2), (3, 2))


@dataclass(frozen=True)
class Write:
    kind: Kind
    instrument: InstrumentKey
    account: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    charges: Decimal
    minutes: int
    """After the latest trade (an append or a fill), or from the start (dated back, edited)."""
    pick: int
    """Which stored trade an edit or deletion takes (modulo their number); which broker trade
    id a fill carries (a few: duplicates are common); which ratio a split has
    (:data:`RATIOS`), which stored split an ``unsplit`` deletes."""


@dataclass(frozen=True)
class Read:
    method: CostMethod
    account: str | None
    racing: Write | None = None
    """A write committed after this read has read the trade book."""


writes = st.builds(
    Write,
    kind=st.sampled_from(["append", "back_dated", "edit", "delete", "fill", "split", "unsplit"]),
    instrument=st.sampled_from(list(INSTRUMENTS)),
    account=st.sampled_from(ACCOUNTS),
    side=st.sampled_from(list(OrderSide)),
    quantity=st.integers(1, 30).map(Decimal),
    price=st.integers(1, 50_000).map(lambda n: Decimal(n).scaleb(-2)),
    charges=st.integers(0, 500).map(lambda n: Decimal(n).scaleb(-2)),
    minutes=st.integers(0, 5),
    pick=st.integers(0, 50),
)
reads = st.builds(
    Read,
    method=st.sampled_from(list(CostMethod)),
    account=st.sampled_from([None, *ACCOUNTS, BROKER]),
    racing=st.none() | writes,
)


class Desk:
    """One user's trades in a memory database, written and read each in a unit of work."""

    def __init__(self) -> None:
        self.database = MemoryDatabase()
        self.clock = FakeClock(T0)
        self.next_id = 1
        self.latest = T0

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.database)

    async def stored(self) -> list[Trade]:
        return list(await MemoryTradeRepository(self.uow()).all_for_user(USER))

    async def splits(self) -> list[Split]:
        return [s.split for s in await MemoryTradeRepository(self.uow()).splits(USER)]

    async def write(self, write: Write) -> None:
        uow = self.uow()
        trades = MemoryTradeRepository(uow)
        stored = await self.stored()
        if write.kind in ("split", "unsplit"):
            await self.split(trades, write)
        elif write.kind in ("edit", "delete"):
            if not stored:
                return
            target = stored[write.pick % len(stored)]
            if write.kind == "delete":
                assert await trades.delete(target.id)
            else:
                await trades.save(
                    replace(
                        self.trade(write, T0 + timedelta(minutes=write.minutes * 7)),
                        id=target.id,
                        account=target.account,
                        source=target.source,
                        broker_trade_id=target.broker_trade_id,
                    )
                )
        elif write.kind == "back_dated":
            await trades.add(self.trade(write, T0 + timedelta(minutes=write.minutes * 7)))
        else:
            at = self.latest + timedelta(minutes=write.minutes)
            trade = self.trade(write, at)
            if write.kind == "fill":
                trade = replace(
                    trade,
                    account=BROKER,
                    source=TradeSource.BROKER_FILL,
                    broker_trade_id=f"F-{write.pick % 4}",
                )
                await trades.add_fill(trade)
            else:
                await trades.add(trade)
        await uow.commit()
        self.latest = max([self.latest, *(t.executed_at for t in await self.stored())])

    async def split(self, trades: MemoryTradeRepository, write: Write) -> None:
        """Record a split of ``write``'s instrument at any instant (before, between or after
        the trades), or delete a stored one."""
        recorded = await trades.splits(USER)
        if write.kind == "unsplit":
            if recorded:
                assert await trades.delete_split(recorded[write.pick % len(recorded)].id)
            return
        at = T0 + timedelta(minutes=write.minutes * 7 + 3)
        if any(s.split.instrument == write.instrument and s.split.effective_at == at
               for s in recorded):  # fmt: skip
            return
        self.next_id += 1
        numerator, denominator = RATIOS[write.pick % len(RATIOS)]
        split = Split(write.instrument, numerator, denominator, at)
        await trades.add_split(RecordedSplit(UUID(int=self.next_id), USER, split, T0))

    def trade(self, write: Write, at: datetime) -> Trade:
        """A new trade (a new, greater id) of ``write``'s figures, executed ``at``."""
        self.next_id += 1
        currency = INSTRUMENTS[write.instrument]
        return Trade(
            id=UUID(int=self.next_id),
            user_id=USER,
            account=write.account,
            instrument=write.instrument,
            side=write.side,
            quantity=write.quantity,
            price=Money(write.price, currency),
            charges=Money(write.charges, currency),
            type=TradeType.EQUITY,
            executed_at=at,
            source=TradeSource.MANUAL,
        )

    def portfolio(
        self,
        racing: Write | None = None,
        *,
        trades: Callable[[MemoryUnitOfWork], MemoryTradeRepository] = MemoryTradeRepository,
        ledgers: Callable[[MemoryUnitOfWork], MemoryLedgerSnapshots] = MemoryLedgerSnapshots,
    ) -> GetPortfolio:
        uow = self.uow()
        prices = LatestPrices(
            MemoryProviderConnectionRepository(uow),  # no connection: every price a last trade's
            create_autospec(BrokerAccess, instance=True),
            create_autospec(InstrumentCatalog, instance=True),
            MemoryQuoteCache(self.clock),
            uow,
            self.clock,
        )
        repository = trades(uow) if racing is None else RacedTrades(uow, self, racing)
        return GetPortfolio(
            repository,
            ledgers(uow),
            MemoryStoredAccountRepository(uow),
            MemoryHoldingRepository(uow),
            prices,
            uow,
        )


class RacedTrades(MemoryTradeRepository):
    """The reader's trade repository: once the book has been read, another unit of work
    commits ``racing``."""

    def __init__(self, uow: MemoryUnitOfWork, desk: Desk, racing: Write) -> None:
        super().__init__(uow)
        self._desk = desk
        self._racing: Write | None = racing

    async def book(self, user_id: UUID) -> TradeBook:
        book = await super().book(user_id)
        if self._racing is not None:
            racing, self._racing = self._racing, None
            await self._desk.write(racing)
        return book


def expected(
    trades: list[Trade], read: Read, splits: list[Split] | None = None
) -> tuple[Portfolio, tuple[PricePoint, ...]]:
    """What a fresh build over ``trades`` and ``splits`` answers: the ledger of the account's
    trades (or all), each open instrument valued at its latest trade's price (in the units of
    after every split)."""
    seen = [t for t in trades if read.account is None or t.account == read.account]
    ledger = LotLedger.build(seen, read.method, splits or ())
    open_instruments = {line.instrument for line in ledger.valued_at({}).positions if line.quantity}
    last = ledger.last_trade_prices()
    points = tuple(
        PricePoint(key, last[key], PriceSource.LAST_TRADE)
        for key in sorted(open_instruments, key=lambda key: (key.exchange, key.symbol))
    )
    return ledger.valued_at({point.instrument: point.price for point in points}), points


@settings(max_examples=60, deadline=None)
@given(st.lists(writes | reads, max_size=30))
async def test_every_read_is_what_a_fresh_build_gives(steps: list[Write | Read]) -> None:
    desk = Desk()
    for step in steps:
        if isinstance(step, Write):
            await desk.write(step)
            continue
        before = await desk.stored(), await desk.splits()
        report = await desk.portfolio(step.racing)(USER, step.method, account=step.account)
        after = await desk.stored(), await desk.splits()
        answers = [expected(before[0], step, before[1]), expected(after[0], step, after[1])]
        assert (report.portfolio, report.prices) in answers
        # The next read, racing nothing, is exactly the trades and splits as they are.
        again = await desk.portfolio()(USER, step.method, account=step.account)
        assert (again.portfolio, again.prices) == answers[1]


def appended(minutes: int, side: OrderSide = OrderSide.BUY) -> Write:
    return Write(
        "append", INFY, MANUAL_ACCOUNT, side, Decimal(2), Decimal("101.5"), Decimal(1), minutes, 0
    )


class CountedTrades(MemoryTradeRepository):
    """The reader's trade repository, noting how many entries each ledger read gives."""

    def __init__(self, uow: MemoryUnitOfWork, reads: list[int]) -> None:
        super().__init__(uow)
        self._reads = reads

    async def ledger_entries(
        self, user_id: UUID, *, after: TradeCursor | None = None
    ) -> LedgerRead:
        read = await super().ledger_entries(user_id, after=after)
        self._reads.append(len(read.entries))
        return read


async def test_a_stored_ledger_is_read_whole_once_then_only_what_is_appended() -> None:
    desk = Desk()
    for minutes in range(3):
        await desk.write(appended(minutes))
    reads: list[int] = []

    def counted(uow: MemoryUnitOfWork) -> MemoryTradeRepository:
        return CountedTrades(uow, reads)

    await desk.portfolio(trades=counted)(USER, "fifo")
    await desk.portfolio(trades=counted)(USER, "fifo")  # current: no trade read
    await desk.write(appended(1, OrderSide.SELL))
    report = await desk.portfolio(trades=counted)(USER, "fifo")
    await desk.portfolio(trades=counted)(USER, "lifo")  # another method: its own ledger

    assert reads == [3, 1, 4]
    (line,) = report.portfolio.positions
    assert line.quantity == Decimal(4)


class FailingLedgers(MemoryLedgerSnapshots):
    async def put(self, user_id: UUID, method: CostMethod, stored: StoredLedger) -> None:
        raise DependencyUnavailable(dependency="database")


async def test_a_ledger_that_cannot_be_stored_is_answered_all_the_same() -> None:
    desk = Desk()
    await desk.write(appended(0))

    report = await desk.portfolio(ledgers=FailingLedgers)(USER, "average")

    assert report.portfolio == expected(await desk.stored(), Read(CostMethod.AVERAGE, None))[0]
    assert desk.database.table("ledger_snapshots") == {}


async def test_a_ledger_stored_by_a_concurrent_request_wins_and_the_answer_stands() -> None:
    desk = Desk()
    await desk.write(appended(0))
    other = desk.uow()  # a concurrent request storing its ledger, not committed yet
    theirs = StoredLedger(1, None, LotLedger(CostMethod.FIFO).snapshot())
    await MemoryLedgerSnapshots(other).put(USER, CostMethod.FIFO, theirs)

    report = await desk.portfolio()(USER, "fifo")
    await other.commit()

    assert report.portfolio == expected(await desk.stored(), Read(CostMethod.FIFO, None))[0]
    assert await MemoryLedgerSnapshots(desk.uow()).get(USER, CostMethod.FIFO) == theirs
