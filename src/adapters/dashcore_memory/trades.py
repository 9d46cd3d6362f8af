"""Trades in memory (embedded default, fast tests); answers as ``SqlTradeRepository`` does.

Trades are frozen values, stored as they are. A broker fill's ``(user_id, account,
broker_trade_id)`` is a unique index: two units of work that both found a fill missing and
staged it collide at the second one's commit (``Conflict`` ``trades_broker_trade_taken``),
where PostgreSQL would have made the second one wait and answer ``False``.

The user's trade book is a row written with every change, guarded: while one open unit of work
has changed a user's trades, another that tries is refused at once (``Conflict``
``trade_book_changed``) where PostgreSQL would make it wait for the first; so no revision is
ever counted twice or lost.

Recorded splits are frozen values too, keyed by id, with ``(user_id, symbol, exchange,
effective_at)`` a unique index; recording or deleting one moves the book as a deletion does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from uuid import UUID

from dashcore.domain.errors import NotFound
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import ledger_entry
from dashcore.domain.money import Currency
from dashcore.domain.trades import RecordedSplit, Trade
from dashcore.ports.trades import (
    LedgerRead,
    TradeBook,
    TradeCursor,
    TradeFilter,
    TradeRepository,
)
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryTradeRepository"]

TRADES = "trades"
BOOKS = "trade_books"
SPLITS = "splits"
INSTRUMENT_AT = "instrument_at"
BROKER_TRADE = "broker_trade"
_EMPTY_BOOK = TradeBook(0, 0, None)


def _fill_key(trade: Trade) -> tuple[tuple[str, Hashable], ...]:
    if trade.broker_trade_id is None:
        return ()
    return ((BROKER_TRADE, (trade.user_id, trade.account, trade.broker_trade_id)),)


def _position(trade: Trade) -> TradeCursor:
    return TradeCursor(trade.executed_at, trade.id)


def _next(book: TradeBook, position: TradeCursor | None, *, inserts: bool) -> TradeBook:
    """The book after a write that leaves a trade at ``position`` (``None``: deletes one)."""
    revision = book.revision + 1
    last = book.last
    forward = position is not None and (last is None or _after(position, last))
    return TradeBook(
        revision,
        book.rewritten_at if inserts and forward else revision,
        position if forward else last,
    )


def _after(position: TradeCursor, other: TradeCursor) -> bool:
    return (position.executed_at, position.trade_id) > (other.executed_at, other.trade_id)


class MemoryTradeRepository(TradeRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _of_user(self, user_id: UUID) -> list[Trade]:
        return [trade for _, trade in self._uow.rows(TRADES) if trade.user_id == user_id]

    async def add(self, trade: Trade) -> None:
        self._uow.put(TRADES, trade.id, trade, insert=True, unique=_fill_key(trade))
        self._changed(trade.user_id, _position(trade), inserts=True)

    async def add_fill(self, trade: Trade) -> bool:
        assert trade.broker_trade_id is not None, "a fill has the broker's trade id"
        if await self.by_broker_trade_id(trade.user_id, trade.account, trade.broker_trade_id):
            return False
        await self.add(trade)
        return True

    async def get(self, trade_id: UUID) -> Trade | None:
        trade: Trade | None = self._uow.get(TRADES, trade_id)
        return trade

    async def lock(self, trade_id: UUID) -> Trade | None:
        return await self.get(trade_id)

    async def save(self, trade: Trade) -> None:
        stored = await self.get(trade.id)
        if stored is None or stored.user_id != trade.user_id:
            raise NotFound("No such trade.", code="trade_not_found")
        self._uow.put(TRADES, trade.id, trade, unique=_fill_key(trade))
        self._changed(trade.user_id, _position(trade), inserts=False)

    async def delete(self, trade_id: UUID) -> bool:
        stored = await self.get(trade_id)
        if stored is None:
            return False
        self._uow.delete(TRADES, trade_id)
        self._changed(stored.user_id, None, inserts=False)
        return True

    async def book(self, user_id: UUID) -> TradeBook:
        book: TradeBook | None = self._uow.get(BOOKS, user_id)
        return _EMPTY_BOOK if book is None else book

    def _changed(self, user_id: UUID, position: TradeCursor | None, *, inserts: bool) -> None:
        book: TradeBook = self._uow.get(BOOKS, user_id) or _EMPTY_BOOK
        changed = _next(book, position, inserts=inserts)
        self._uow.put(BOOKS, user_id, changed, if_unchanged="trade_book_changed")

    async def list_for_user(
        self,
        user_id: UUID,
        filters: TradeFilter,
        *,
        after: TradeCursor | None = None,
        limit: int = 50,
    ) -> Sequence[Trade]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        position = None if after is None else (after.executed_at, after.trade_id)
        found = [
            trade
            for trade in self._of_user(user_id)
            if filters.matches(trade)
            and (position is None or (trade.executed_at, trade.id) < position)
        ]
        found.sort(key=lambda trade: (trade.executed_at, trade.id), reverse=True)
        return found[:limit]

    async def all_for_user(self, user_id: UUID, *, account: str | None = None) -> Sequence[Trade]:
        found = [t for t in self._of_user(user_id) if account is None or t.account == account]
        found.sort(key=lambda trade: (trade.executed_at, trade.id))
        return found

    async def ledger_entries(
        self, user_id: UUID, *, after: TradeCursor | None = None
    ) -> LedgerRead:
        found = [
            trade
            for trade in await self.all_for_user(user_id)
            if after is None or _after(_position(trade), after)
        ]
        through = _position(found[-1]) if found else after
        return LedgerRead([ledger_entry(trade) for trade in found], through)

    async def by_broker_trade_id(
        self, user_id: UUID, account: str, broker_trade_id: str
    ) -> Trade | None:
        return next(
            (
                trade
                for trade in self._of_user(user_id)
                if trade.account == account and trade.broker_trade_id == broker_trade_id
            ),
            None,
        )

    async def other_currency(
        self, user_id: UUID, instrument: InstrumentKey, currency: Currency, *, excluding: UUID
    ) -> Currency | None:
        return next(
            (
                trade.price.currency
                for trade in self._of_user(user_id)
                if trade.instrument == instrument
                and trade.price.currency != currency
                and trade.id != excluding
            ),
            None,
        )

    async def add_split(self, recorded: RecordedSplit) -> None:
        split = recorded.split
        instrument = split.instrument
        at = (recorded.user_id, instrument.symbol, instrument.exchange, split.effective_at)
        self._uow.put(SPLITS, recorded.id, recorded, insert=True, unique=((INSTRUMENT_AT, at),))
        self._changed(recorded.user_id, None, inserts=False)

    async def get_split(self, split_id: UUID) -> RecordedSplit | None:
        recorded: RecordedSplit | None = self._uow.get(SPLITS, split_id)
        return recorded

    async def delete_split(self, split_id: UUID) -> bool:
        stored = await self.get_split(split_id)
        if stored is None:
            return False
        self._uow.delete(SPLITS, split_id)
        self._changed(stored.user_id, None, inserts=False)
        return True

    async def splits(self, user_id: UUID) -> Sequence[RecordedSplit]:
        found = [split for _, split in self._uow.rows(SPLITS) if split.user_id == user_id]
        found.sort(key=lambda recorded: (recorded.split.effective_at, recorded.id))
        return found
