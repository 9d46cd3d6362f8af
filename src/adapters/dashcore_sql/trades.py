"""Trades in SQL, with explicit row <-> value mapping (see ``TradeRepository`` for the rules).

Recording a broker fill is one ``INSERT … ON CONFLICT (user_id, account, broker_trade_id) DO
NOTHING``: of two transactions recording the same fill, PostgreSQL makes the second wait for
the first and then skip the row; SQLite serializes writers. Listings are keyset scans of the
``(user_id, executed_at, id)`` index, newest first; the ledger reads the same index forwards, in
one query whose rows are mapped without a per-row round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Text,
    cast,
    column,
    delete,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from dashcore.domain.errors import NotFound
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import Trade, TradeSource, TradeType
from dashcore.ports.trades import TradeCursor, TradeFilter, TradeRepository
from dashcore_sql.tables import trades
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlTradeRepository"]

_trades = trades.c
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
_NUMBERS = frozenset({"quantity", "price", "charges", "mtf_charge", "capital_used"})
_TYPED: tuple[ColumnElement[Any], ...] = tuple(trades.c[name] for name in _COLUMNS)
_UNTYPED: tuple[ColumnElement[Any], ...] = tuple(
    cast(trades.c[name], Text).label(name) if name in _NUMBERS else column(name)
    for name in _COLUMNS
)
"""The ledger's read on PostgreSQL: asyncpg gives back ``UUID`` and UTC ``datetime`` values
itself, and numbers as their text (``Decimal`` of a string is cheaper than of the binary
form), so SQLAlchemy processes no value of the 100,000 rows."""
_SIDES = {side.value: side for side in OrderSide}
_TYPES = {kind.value: kind for kind in TradeType}
_SOURCES = {source.value: source for source in TradeSource}


class SqlTradeRepository(TradeRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, trade: Trade) -> None:
        await self._uow.execute(insert(trades).values(_row(trade)))

    async def add_fill(self, trade: Trade) -> bool:
        assert trade.broker_trade_id is not None, "a fill has the broker's trade id"
        dialect = postgresql if self._uow.dialect_name == "postgresql" else sqlite
        statement = (
            dialect.insert(trades)
            .values(_row(trade))
            .on_conflict_do_nothing(index_elements=_FILL_KEY)
        )
        return (await self._uow.execute(statement)).rowcount == 1

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

    async def delete(self, trade_id: UUID) -> bool:
        statement = delete(trades).where(_trades.id == trade_id)
        return (await self._uow.execute(statement)).rowcount == 1

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
        columns = _UNTYPED if self._uow.dialect_name == "postgresql" else _TYPED
        query = select(*columns).select_from(trades).where(_trades.user_id == user_id)
        if account is not None:
            query = query.where(_trades.account == account)
        query = query.order_by(_trades.executed_at, _trades.id)
        mapper = _Mapper()
        return [mapper.restored(row) for row in await self._uow.execute(query)]

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


def _trade(row: Row[Any]) -> Trade:
    return _Mapper().trade(row)


class _Mapper:
    """Rows (columns in ``_COLUMNS`` order) to trades, sharing the instrument keys and
    currencies of a read: a ledger of 100,000 trades over 500 instruments holds 500 keys, not
    100,000."""

    __slots__ = ("_currencies", "_instruments")

    def __init__(self) -> None:
        self._instruments: dict[tuple[str, str], InstrumentKey] = {}
        self._currencies: dict[str, Currency] = {}

    def trade(self, row: Row[Any]) -> Trade:
        """A trade checked as it is built (single reads)."""
        return Trade(*self._values(row))

    def restored(self, row: Row[Any]) -> Trade:
        """A trade rebuilt without running its checks again, for whole-ledger reads: every
        row was written from a checked :class:`Trade` by this repository, under the table's
        constraints (100,000 trades checked again cost about 0.4 s)."""
        trade = object.__new__(Trade)
        for set_field, value in zip(_SETTERS, self._values(row), strict=True):
            set_field(trade, value)
        return trade

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


_SETTERS = tuple(Trade.__dict__[field.name].__set__ for field in dataclasses.fields(Trade))
"""Sets each field of a trade, in declaration order (what ``_Mapper._values`` gives)."""
