"""Trades in SQL, with explicit row <-> value mapping (see ``TradeRepository`` for the rules).

Recording a broker fill is one ``INSERT … ON CONFLICT (user_id, account, broker_trade_id) DO
NOTHING``: of two transactions recording the same fill, PostgreSQL makes the second wait for
the first and then skip the row; SQLite serializes writers. Listings are keyset scans of the
``(user_id, executed_at, id)`` index, newest first; the ledger reads the same index forwards, in
one query of the nine values it needs (see ``ledger_entries``).

Every write that changes a user's trades then moves the user's book with one statement,
``INSERT INTO trade_books … ON CONFLICT (user_id) DO UPDATE`` (the append-or-rewrite rule in
its ``SET``): it takes the book's row lock until the transaction ends, so a second writer of
the same user's trades waits, and reads the book as the first left it.

A user's recorded splits are rows of ``splits``; recording or deleting one moves the book as a
deletion does (a rewrite, ``last`` kept), in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Text,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from dashcore.domain.errors import NotFound
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import LedgerEntry
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import RecordedSplit, Split, Trade, TradeSource, TradeType
from dashcore.ports.trades import (
    LedgerRead,
    TradeBook,
    TradeCursor,
    TradeFilter,
    TradeRepository,
)
from dashcore_sql.tables import splits as split_rows
from dashcore_sql.tables import trade_books, trades
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import conflict_insert

__all__ = ["SqlTradeRepository"]

_trades = trades.c
_books = trade_books.c
_splits = split_rows.c
_FILL_KEY = ("user_id", "account", "broker_trade_id")
_COLUMNS = (
    "id",
    "user_id",
    "account",
    "symbol",
    "exchange",
    "side",
    "quantity",
    "currency",
    "price",
    "charges",
    "mtf_charge",
    "capital_used",
    "type",
    "source",
    "executed_at",
    "order_id",
    "broker_trade_id",
)
"""Every column, in the order rows are unpacked (``_Mapper``)."""
_TYPED: tuple[ColumnElement[Any], ...] = tuple(trades.c[name] for name in _COLUMNS)
_LEDGER_KEYS = (_trades.account, _trades.symbol, _trades.exchange, _trades.currency)
_LEDGER_SQLITE: tuple[ColumnElement[Any], ...] = (
    *_LEDGER_KEYS,
    _trades.side,
    _trades.quantity,
    _trades.price,
    _trades.charges,
    _trades.mtf_charge,
    _trades.executed_at,
)
_LEDGER_POSTGRES: tuple[ColumnElement[Any], ...] = (
    *_LEDGER_KEYS,
    (_trades.side == OrderSide.BUY.value).label("buys"),
    cast(_trades.quantity, Text).label("quantity"),
    cast(_trades.price, Text).label("price"),
    cast(_trades.charges + func.coalesce(_trades.mtf_charge, 0), Text).label("charges"),
    _trades.executed_at,
)
"""A ledger entry in PostgreSQL's terms: the side as a boolean, the total charges summed
(exactly, in ``NUMERIC``), every number as its text (``Decimal`` of a string is cheaper than of
the binary form); asyncpg gives the other values as they are (``executed_at`` a UTC
``datetime``), so the rows are read from the driver's cursor, without SQLAlchemy's rows."""
_OTHER_CURRENCY = (
    select(_trades.currency)
    .where(
        _trades.user_id == bindparam("user_id"),
        _trades.symbol == bindparam("symbol"),
        _trades.exchange == bindparam("exchange"),
        _trades.currency != bindparam("currency"),
        _trades.id != bindparam("excluding"),
    )
    .limit(1)
)
"""A trade of the instrument in another currency (the ``(user_id, symbol, exchange)`` index
finds the instrument's trades); built once (compiled cache)."""
_LOCK_BOOK = select(_books.revision).where(_books.user_id == bindparam("user_id")).with_for_update()
_INSERT = insert(trades)
_INSERT_SPLIT = insert(split_rows)
_SPLIT_COLUMNS = (
    _splits.id,
    _splits.user_id,
    _splits.symbol,
    _splits.exchange,
    _splits.numerator,
    _splits.denominator,
    _splits.effective_at,
    _splits.recorded_at,
)
"""A split's columns, in the order ``_recorded_split`` unpacks them."""
_SIDES = {side.value: side for side in OrderSide}
_TYPES = {kind.value: kind for kind in TradeType}
_SOURCES = {source.value: source for source in TradeSource}


class SqlTradeRepository(TradeRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._books_locked: set[tuple[int, UUID]] = set()

    async def add(self, trade: Trade) -> None:
        await self._uow.execute(_INSERT, _row(trade))
        await self._changed(trade.user_id, trade, inserts=True)

    async def add_fill(self, trade: Trade) -> bool:
        assert trade.broker_trade_id is not None, "a fill has the broker's trade id"
        await self._lock_book(trade.user_id)
        statement = _fill_insert(self._uow.dialect_name)
        if (await self._uow.execute(statement, _row(trade))).rowcount != 1:
            return False
        await self._changed(trade.user_id, trade, inserts=True)
        return True

    async def _lock_book(self, user_id: UUID) -> None:
        """PostgreSQL: lock the user's book row (once per transaction) before a fill is
        inserted. A fill's insert waits for another transaction's uncommitted insert of the
        same fill, and the book row is updated after each insert: two transactions recording
        overlapping fills could each hold what the other waits for (one a fill, the other the
        book). Taking the book first makes every fill writer of a user queue at one place.
        A user without a book row yet has nothing to lock; fills are then recorded in broker
        trade id order (``RecordFills``), so such writers wait on their first common fill.
        SQLite has one writer at a time."""
        if self._uow.dialect_name != "postgresql":
            return
        transaction = self._uow.transaction
        if transaction is not None and (transaction, user_id) in self._books_locked:
            return
        await self._uow.execute(_LOCK_BOOK, {"user_id": user_id})
        assert self._uow.transaction is not None
        self._books_locked.add((self._uow.transaction, user_id))

    async def _changed(self, user_id: UUID, trade: Trade | None, *, inserts: bool) -> None:
        """Move the user's book for a write that leaves ``trade`` where it is now (``None``: a
        deletion); see :func:`_book_upsert`."""
        at, trade_id = (None, None) if trade is None else (trade.executed_at, trade.id)
        statement = _book_upsert(self._uow.dialect_name, inserts=inserts, deletion=trade is None)
        parameters = {"user_id": user_id, "last_executed_at": at, "last_trade_id": trade_id}
        await self._uow.execute(statement, parameters)

    async def book(self, user_id: UUID) -> TradeBook:
        query = select(
            _books.revision, _books.rewritten_at, _books.last_executed_at, _books.last_trade_id
        ).where(_books.user_id == user_id)
        row = (await self._uow.execute(query)).one_or_none()
        if row is None:
            return TradeBook(0, 0, None)
        at = row.last_executed_at
        last = None if at is None else TradeCursor(at, row.last_trade_id)
        return TradeBook(row.revision, row.rewritten_at, last)

    async def get(self, trade_id: UUID) -> Trade | None:
        row = (await self._uow.execute(select(*_TYPED).where(_trades.id == trade_id))).one_or_none()
        return None if row is None else _trade(row)

    async def lock(self, trade_id: UUID) -> Trade | None:
        query = select(*_TYPED).where(_trades.id == trade_id).with_for_update()
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _trade(row)

    async def save(self, trade: Trade) -> None:
        values = _row(trade)
        del values["id"], values["user_id"]
        statement = (
            update(trades)
            .where(_trades.id == trade.id, _trades.user_id == trade.user_id)
            .values(values)
        )
        if (await self._uow.execute(statement)).rowcount != 1:
            raise NotFound("No such trade.", code="trade_not_found")
        await self._changed(trade.user_id, trade, inserts=False)

    async def delete(self, trade_id: UUID) -> bool:
        statement = delete(trades).where(_trades.id == trade_id).returning(_trades.user_id)
        owner = (await self._uow.execute(statement)).scalar_one_or_none()
        if owner is None:
            return False
        await self._changed(owner, None, inserts=False)
        return True

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
        query = _filtered(select(*_TYPED).where(_trades.user_id == user_id), filters)
        if after is not None:
            query = query.where(
                tuple_(_trades.executed_at, _trades.id) < (after.executed_at, after.trade_id)
            )
        query = query.order_by(_trades.executed_at.desc(), _trades.id.desc()).limit(limit)
        return [_trade(row) for row in await self._uow.execute(query)]

    async def all_for_user(self, user_id: UUID, *, account: str | None = None) -> Sequence[Trade]:
        query = select(*_TYPED).where(_trades.user_id == user_id)
        if account is not None:
            query = query.where(_trades.account == account)
        query = query.order_by(_trades.executed_at, _trades.id)
        mapper = _Mapper()
        return [mapper.trade(row) for row in await self._uow.execute(query)]

    async def ledger_entries(
        self, user_id: UUID, *, after: TradeCursor | None = None
    ) -> LedgerRead:
        postgres = self._uow.dialect_name == "postgresql"
        latest = (
            select(func.max(_trades.executed_at))
            .where(_trades.user_id == user_id)
            .scalar_subquery()
        )
        # The id of the trades at the user's latest instant only (the last row read is one of
        # them): an id per row would cost a UUID per trade to decode.
        last_id = case((_trades.executed_at == latest, cast(_trades.id, Text)))
        columns = _LEDGER_POSTGRES if postgres else _LEDGER_SQLITE
        query = select(*columns, last_id).where(_trades.user_id == user_id)
        if after is not None:
            query = query.where(
                tuple_(_trades.executed_at, _trades.id) > (after.executed_at, after.trade_id)
            )
        query = query.order_by(_trades.executed_at, _trades.id)
        result = await self._uow.execute(query)
        if postgres:
            rows = result.cursor.fetchall()
            result.close()
            entries = _postgres_entries(rows)
        else:
            rows = result.all()
            entries = [_sqlite_entry(row) for row in rows]
        if not rows:
            return LedgerRead(entries, after)
        *_, at, trade_id = rows[-1]
        return LedgerRead(entries, TradeCursor(at, UUID(trade_id)))

    async def by_broker_trade_id(
        self, user_id: UUID, account: str, broker_trade_id: str
    ) -> Trade | None:
        query = select(*_TYPED).where(
            _trades.user_id == user_id,
            _trades.account == account,
            _trades.broker_trade_id == broker_trade_id,
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _trade(row)

    async def other_currency(
        self, user_id: UUID, instrument: InstrumentKey, currency: Currency, *, excluding: UUID
    ) -> Currency | None:
        parameters = {
            "user_id": user_id,
            "symbol": instrument.symbol,
            "exchange": instrument.exchange,
            "currency": currency.code,
            "excluding": excluding,
        }
        found = (await self._uow.execute(_OTHER_CURRENCY, parameters)).scalar_one_or_none()
        return None if found is None else Currency(found)

    async def add_split(self, recorded: RecordedSplit) -> None:
        split = recorded.split
        values = {
            "id": recorded.id,
            "user_id": recorded.user_id,
            "symbol": split.instrument.symbol,
            "exchange": split.instrument.exchange,
            "numerator": split.numerator,
            "denominator": split.denominator,
            "effective_at": split.effective_at,
            "recorded_at": recorded.recorded_at,
        }
        await self._uow.execute(_INSERT_SPLIT, values)
        await self._changed(recorded.user_id, None, inserts=False)

    async def get_split(self, split_id: UUID) -> RecordedSplit | None:
        query = select(*_SPLIT_COLUMNS).where(_splits.id == split_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _recorded_split(row)

    async def delete_split(self, split_id: UUID) -> bool:
        statement = delete(split_rows).where(_splits.id == split_id).returning(_splits.user_id)
        owner = (await self._uow.execute(statement)).scalar_one_or_none()
        if owner is None:
            return False
        await self._changed(owner, None, inserts=False)
        return True

    async def splits(self, user_id: UUID) -> Sequence[RecordedSplit]:
        query = (
            select(*_SPLIT_COLUMNS)
            .where(_splits.user_id == user_id)
            .order_by(_splits.effective_at, _splits.id)
        )
        return [_recorded_split(row) for row in await self._uow.execute(query)]


def _recorded_split(row: Sequence[Any]) -> RecordedSplit:
    """The split of a ``_SPLIT_COLUMNS`` row, checked as it is built."""
    split_id, user_id, symbol, exchange, numerator, denominator, effective_at, recorded_at = row
    split = Split(InstrumentKey(symbol, exchange), numerator, denominator, effective_at)
    return RecordedSplit(split_id, user_id, split, recorded_at)


def _filtered(query: Select[Any], filters: TradeFilter) -> Select[Any]:
    if filters.account is not None:
        query = query.where(_trades.account == filters.account)
    if filters.instrument is not None:
        query = query.where(
            _trades.symbol == filters.instrument.symbol,
            _trades.exchange == filters.instrument.exchange,
        )
    if filters.side is not None:
        query = query.where(_trades.side == filters.side.value)
    if filters.executed_from is not None:
        query = query.where(_trades.executed_at >= filters.executed_from)
    if filters.executed_before is not None:
        query = query.where(_trades.executed_at < filters.executed_before)
    return query


def _amount(value: Money | None) -> Any:
    return None if value is None else value.amount


def _row(trade: Trade) -> dict[str, Any]:
    return {
        "id": trade.id,
        "user_id": trade.user_id,
        "account": trade.account,
        "symbol": trade.instrument.symbol,
        "exchange": trade.instrument.exchange,
        "side": trade.side.value,
        "quantity": trade.quantity,
        "currency": trade.price.currency.code,
        "price": trade.price.amount,
        "charges": trade.charges.amount,
        "mtf_charge": _amount(trade.mtf_charge),
        "capital_used": _amount(trade.capital_used),
        "type": trade.type.value,
        "source": trade.source.value,
        "executed_at": trade.executed_at,
        "order_id": trade.order_id,
        "broker_trade_id": trade.broker_trade_id,
    }


def _sqlite_entry(row: Sequence[Any]) -> LedgerEntry:
    """The entry of a ``_LEDGER_SQLITE`` row (typed: its numbers are ``Decimal`` already)."""
    account, symbol, exchange, currency, side, quantity, price, charges, mtf, at, _ = row
    if mtf is not None:
        charges += mtf
    buys = side == OrderSide.BUY.value
    return (account, symbol, exchange, currency, buys, quantity, price, charges, at)


def _postgres_entries(rows: Iterable[Sequence[Any]]) -> list[LedgerEntry]:
    """Entries of ``_LEDGER_POSTGRES`` rows; a quantity's text (few distinct: whole numbers of
    shares, mostly) is parsed once per read."""
    quantities: dict[str, Decimal] = {}
    entries: list[LedgerEntry] = []
    append = entries.append
    for account, symbol, exchange, currency, buys, quantity_text, price, charges, at, _ in rows:
        quantity = quantities.get(quantity_text)
        if quantity is None:
            quantity = quantities[quantity_text] = Decimal(quantity_text)
        append(
            (
                account,
                symbol,
                exchange,
                currency,
                buys,
                quantity,
                Decimal(price),
                Decimal(charges),
                at,
            )
        )
    return entries


def _trade(row: Row[Any]) -> Trade:
    return _Mapper().trade(row)


class _Mapper:
    """Rows (columns in ``_COLUMNS`` order) to checked trades, sharing the instrument keys and
    currencies of a read: 100,000 trades over 500 instruments hold 500 keys, not 100,000."""

    __slots__ = ("_currencies", "_instruments")

    def __init__(self) -> None:
        self._instruments: dict[tuple[str, str], InstrumentKey] = {}
        self._currencies: dict[str, Currency] = {}

    def trade(self, row: Row[Any]) -> Trade:
        """A trade checked as it is built (single reads)."""
        return Trade(*self._values(row))

    def _values(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """The trade's fields in declaration order."""
        (
            trade_id,
            user_id,
            account,
            symbol,
            exchange,
            side,
            quantity,
            currency_code,
            price,
            charges,
            mtf,
            capital,
            kind,
            source,
            executed_at,
            order_id,
            broker_trade_id,
        ) = row
        instrument = self._instruments.get((symbol, exchange))
        if instrument is None:
            instrument = self._instruments[(symbol, exchange)] = InstrumentKey(symbol, exchange)
        currency = self._currencies.get(currency_code)
        if currency is None:
            currency = self._currencies[currency_code] = Currency(currency_code)
        return (
            trade_id,
            user_id,
            account,
            instrument,
            _SIDES[side],
            Decimal(quantity),
            Money(Decimal(price), currency),
            Money(Decimal(charges), currency),
            _TYPES[kind],
            executed_at,
            _SOURCES[source],
            None if mtf is None else Money(Decimal(mtf), currency),
            order_id,
            broker_trade_id,
            None if capital is None else Money(Decimal(capital), currency),
        )


@cache
def _fill_insert(dialect_name: str) -> Any:
    """``INSERT INTO trades … ON CONFLICT (user_id, account, broker_trade_id) DO NOTHING``,
    built once per dialect (its row comes as the execution's parameters)."""
    return conflict_insert(dialect_name, trades).on_conflict_do_nothing(index_elements=_FILL_KEY)


@cache
def _book_upsert(dialect_name: str, *, inserts: bool, deletion: bool) -> Any:
    """The statement that moves a user's book, built once per dialect and kind of write
    (building an upsert's ``excluded`` columns costs more than running it); the user, and the
    written trade's ``last_executed_at`` and ``last_trade_id`` (``None`` for a deletion), come
    as the execution's parameters.

    The rule: one more revision; the last position moved forward when the trade is after it;
    ``rewritten_at`` moved to the new revision unless the write is an insert after the last
    position (an append)."""
    statement = conflict_insert(dialect_name, trade_books).values(
        revision=1, rewritten_at=0 if inserts else 1
    )
    new = statement.excluded
    revision = _books.revision + 1
    forward = (
        false()
        if deletion
        else or_(
            _books.last_executed_at.is_(None),
            tuple_(new.last_executed_at, new.last_trade_id)
            > tuple_(_books.last_executed_at, _books.last_trade_id),
        )
    )
    rewritten: ColumnElement[Any] = (
        case((forward, _books.rewritten_at), else_=revision) if inserts else revision
    )
    return statement.on_conflict_do_update(
        index_elements=[_books.user_id],
        set_={
            "revision": revision,
            "rewritten_at": rewritten,
            "last_executed_at": case(
                (forward, new.last_executed_at), else_=_books.last_executed_at
            ),
            "last_trade_id": case((forward, new.last_trade_id), else_=_books.last_trade_id),
        },
    )
