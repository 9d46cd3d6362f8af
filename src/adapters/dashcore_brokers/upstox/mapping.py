"""Upstox's spellings and rows, normalized (``reference/brokers.md`` §3.4-3.6).

Business rules:
- every order status Upstox is known to send (brokers.md §3.5: lower case with spaces) maps to
  exactly one :class:`OrderStatus`; Upstox has no "partially filled" status, so a working order
  (``open``, ``trigger pending``, the ``modify …`` states) that has fills is
  ``partially_filled``. A spelling not in the table is an ``IntegrityError``
  (``unknown_provider_status``), logged, never guessed;
- products ``D`` delivery, ``I`` intraday, ``MTF`` margin (the v2-only ``CO``/``OCO`` are
  intraday brackets); order types ``MARKET``, ``LIMIT``, ``SL`` (stop-limit), ``SL-M`` (stop);
  validities ``DAY`` and ``IOC``;
- an equity is addressed by its instrument key ``NSE_EQ|<ISIN>`` (``BSE_EQ`` on BSE), so it can
  be traded or quoted only when its ISIN is known;
- Upstox times (``"2023-10-19 13:25:13"``) are India wall-clock times; a historical trade
  carries only its date, taken as the start of that day in India;
- a holding's or position's market value is quantity x last price; money is INR.

The ``*_from`` functions map decoded rows; ``normalize_*`` decode a body and map it (the hot
path: one ``Instrument`` per listing per call, no per-row regex).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from types import MappingProxyType

import structlog

from dashcore.domain.connections import IST
from dashcore.domain.errors import IntegrityError
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import Fill, Order, OrderSide, OrderStatus, OrderType, Product, Validity
from dashcore.domain.portfolio import ActivityType, Holding, Position, Transaction
from dashcore_brokers.upstox.wire import (
    HOLDINGS,
    POSITIONS,
    TRADE_HISTORY,
    HistoricalTrade,
    HoldingRow,
    LastPrice,
    OrderRow,
    PositionRow,
    TradeRow,
)

__all__ = [
    "INR",
    "ORDER_STATUSES",
    "ORDER_TYPES",
    "PRODUCTS",
    "SIDES",
    "VALIDITIES",
    "Instruments",
    "fills_from",
    "holdings_from",
    "instrument_key",
    "last_prices_from",
    "normalize_holdings",
    "normalize_positions",
    "normalize_transactions",
    "order_from",
    "order_status",
    "parse_time",
    "positions_from",
    "transactions_from",
]

INR = Currency("INR")
_ZERO = Decimal(0)
_log = structlog.get_logger("dashcore_brokers.upstox")

ORDER_STATUSES: Mapping[str, OrderStatus] = MappingProxyType(
    {
        "put order req received": OrderStatus.SUBMITTED,
        "validation pending": OrderStatus.SUBMITTED,
        "open pending": OrderStatus.SUBMITTED,
        "after market order req received": OrderStatus.SUBMITTED,
        "modify after market order req received": OrderStatus.SUBMITTED,
        "open": OrderStatus.OPEN,
        "trigger pending": OrderStatus.OPEN,
        "modify validation pending": OrderStatus.OPEN,
        "modify pending": OrderStatus.OPEN,
        "modified": OrderStatus.OPEN,
        "not modified": OrderStatus.OPEN,
        "not cancelled": OrderStatus.OPEN,
        "cancel pending": OrderStatus.CANCEL_REQUESTED,
        "cancelled": OrderStatus.CANCELLED,
        "cancelled after market order": OrderStatus.CANCELLED,
        "complete": OrderStatus.FILLED,
        "rejected": OrderStatus.REJECTED,
    }
)
"""Every Upstox order status (brokers.md §3.5; the complete official list is UNCONFIRMED)."""

ORDER_TYPES: Mapping[OrderType, str] = MappingProxyType(
    {
        OrderType.MARKET: "MARKET",
        OrderType.LIMIT: "LIMIT",
        OrderType.STOP: "SL-M",
        OrderType.STOP_LIMIT: "SL",
    }
)
PRODUCTS: Mapping[Product, str] = MappingProxyType(
    {Product.DELIVERY: "D", Product.INTRADAY: "I", Product.MARGIN: "MTF"}
)
VALIDITIES: Mapping[Validity, str] = MappingProxyType({Validity.DAY: "DAY", Validity.IOC: "IOC"})
SIDES: Mapping[OrderSide, str] = MappingProxyType({OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"})

_TYPES_IN = {wire: ours for ours, wire in ORDER_TYPES.items()}
_PRODUCTS_IN = {wire: ours for ours, wire in PRODUCTS.items()} | {
    "CO": Product.INTRADAY,
    "OCO": Product.INTRADAY,
}
_VALIDITIES_IN = {wire: ours for ours, wire in VALIDITIES.items()}
_SIDES_IN = {wire: ours for ours, wire in SIDES.items()}
_ACTIVITIES = {"BUY": ActivityType.BUY, "SELL": ActivityType.SELL}
_EQUITY_SEGMENTS = MappingProxyType({"NSE": "NSE_EQ", "BSE": "BSE_EQ"})
_WORKING = frozenset({OrderStatus.OPEN})


def order_status(spelling: str, filled_quantity: Decimal) -> OrderStatus:
    """The normalized status of an Upstox spelling; a working order with fills is partially
    filled. An unknown spelling is an ``IntegrityError`` (``unknown_provider_status``)."""
    status = ORDER_STATUSES.get(spelling)
    if status is None:
        _log.error("provider_unknown_status", provider="upstox", status=spelling[:64])
        raise IntegrityError(
            f"Upstox sent an order status dashcore does not know: {spelling[:64]!r}.",
            code="unknown_provider_status",
        )
    if status in _WORKING and filled_quantity > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def _known(table: Mapping[str, object], value: str, field: str) -> None:
    if value not in table:
        _log.error("provider_unknown_value", provider="upstox", field=field, value=value[:64])
        raise IntegrityError(
            f"Upstox sent an unknown {field}: {value[:64]!r}.", code="unknown_provider_value"
        )


def instrument_key(instrument: Instrument) -> str | None:
    """``NSE_EQ|<ISIN>`` for an equity on NSE or BSE with a known ISIN, else ``None``."""
    segment = _EQUITY_SEGMENTS.get(instrument.exchange)
    if segment is None or instrument.isin is None:
        return None
    return f"{segment}|{instrument.isin}"


def parse_time(value: str | None) -> datetime | None:
    """An Upstox India wall-clock time (``2023-10-19 13:25:13``) in UTC; ``None`` if absent."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=IST).astimezone(UTC)
    except ValueError:
        _log.warning("provider_bad_time", provider="upstox")
        return None


def _isin(value: str) -> str | None:
    return value if len(value) == 12 and value.isalnum() else None


def _token_isin(instrument_token: str) -> str:
    """The ISIN of an equity instrument key (``NSE_EQ|INE002A01018``), else ``""``."""
    segment, _, code = instrument_token.partition("|")
    return code if segment.endswith("_EQ") else ""


class Instruments:
    """Builds each listing's :class:`Instrument` once per call (rows repeat symbols)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Instrument] = {}

    def get(self, symbol: str, exchange: str, isin: str = "", name: str = "") -> Instrument:
        key = (symbol, exchange)
        found = self._seen.get(key)
        if found is None:
            found = Instrument(symbol, exchange, INR, isin=_isin(isin), name=name or None)
            self._seen[key] = found
        return found

    def of_order(self, trading_symbol: str, exchange: str, instrument_token: str) -> Instrument:
        """Orders name NSE equities with their series (``SBIN-EQ``); the listing is ``SBIN``."""
        symbol = trading_symbol.removesuffix("-EQ") if exchange == "NSE" else trading_symbol
        return self.get(symbol, exchange, _token_isin(instrument_token))


def holdings_from(rows: Iterable[HoldingRow], account_id: str) -> list[Holding]:
    instruments = Instruments()
    result = []
    for row in rows:
        quantity = row.quantity
        last = row.last_price
        result.append(
            Holding(
                account_id,
                instruments.get(row.trading_symbol, row.exchange, row.isin, row.company_name),
                quantity,
                Money(row.average_price, INR),
                Money(last, INR),
                Money(quantity * last, INR),
            )
        )
    return result


def normalize_holdings(body: bytes, account_id: str) -> list[Holding]:
    """Decode and map a ``/v2/portfolio/long-term-holdings`` body."""
    return holdings_from(HOLDINGS.decode(body).data, account_id)


def _product(wire: str) -> Product:
    _known(_PRODUCTS_IN, wire, "product")
    return _PRODUCTS_IN[wire]


def positions_from(rows: Iterable[PositionRow], account_id: str) -> list[Position]:
    instruments = Instruments()
    result = []
    for row in rows:
        quantity = row.quantity
        last = row.last_price
        isin = _token_isin(row.instrument_token)
        result.append(
            Position(
                account_id,
                instruments.get(row.trading_symbol, row.exchange, isin),
                quantity,
                _product(row.product).value,
                Money(row.average_price, INR),
                Money(last, INR),
                Money(quantity * last, INR),
                Money(row.realised, INR),
            )
        )
    return result


def normalize_positions(body: bytes, account_id: str) -> list[Position]:
    """Decode and map a ``/v2/portfolio/short-term-positions`` body."""
    return positions_from(POSITIONS.decode(body).data, account_id)


def transactions_from(rows: Iterable[HistoricalTrade], account_id: str) -> list[Transaction]:
    """Historical trades as ledger entries: a buy's cash effect is ``-amount``, a sell's
    ``+amount``; a type other than BUY/SELL is ``other`` with Upstox's word kept."""
    instruments = Instruments()
    days: dict[str, datetime] = {}
    result = []
    for row in rows:
        when = days.get(row.trade_date)
        if when is None:
            when = datetime.combine(date.fromisoformat(row.trade_date), time(), IST).astimezone(UTC)
            days[row.trade_date] = when
        activity = _ACTIVITIES.get(row.transaction_type, ActivityType.OTHER)
        amount = -row.amount if activity is ActivityType.BUY else row.amount
        symbol = row.symbol or row.scrip_name
        instrument = (
            instruments.get(symbol, row.exchange, row.isin) if symbol and row.exchange else None
        )
        result.append(
            Transaction(
                row.trade_id,
                account_id,
                activity,
                when,
                Money(amount, INR),
                instrument,
                row.quantity,
                Money(row.price, INR),
                row.scrip_name,
                row.transaction_type,
            )
        )
    return result


def normalize_transactions(body: bytes, account_id: str) -> list[Transaction]:
    """Decode and map one ``/v2/charges/historical-trades`` page."""
    return transactions_from(TRADE_HISTORY.decode(body).data, account_id)


def order_from(row: OrderRow, account_id: str, instruments: Instruments) -> Order:
    for table, value, field in (
        (_TYPES_IN, row.order_type, "order_type"),
        (_SIDES_IN, row.transaction_type, "transaction_type"),
        (_VALIDITIES_IN, row.validity, "validity"),
    ):
        _known(table, value, field)
    kind = _TYPES_IN[row.order_type]
    filled = row.filled_quantity
    average = row.average_price
    return Order(
        provider_order_id=row.order_id,
        provider_account_id=account_id,
        instrument=instruments.of_order(row.trading_symbol, row.exchange, row.instrument_token),
        side=_SIDES_IN[row.transaction_type],
        type=kind,
        quantity=row.quantity,
        filled_quantity=filled,
        status=order_status(row.status, filled),
        provider_status=row.status,
        placed_at=parse_time(row.order_timestamp),
        product=_product(row.product),
        validity=_VALIDITIES_IN[row.validity],
        limit_price=row.price if kind.needs_limit_price else None,
        stop_price=row.trigger_price if kind.needs_stop_price else None,
        average_price=Money(average, INR) if filled > 0 and average else None,
        client_reference=row.tag or None,
        status_message=row.status_message or None,
    )


def fills_from(rows: Iterable[TradeRow]) -> list[Fill]:
    """Executions; Upstox reports no per-trade charges (``charges`` stays ``None``)."""
    fills = []
    for row in rows:
        executed = parse_time(row.exchange_timestamp) or parse_time(row.order_timestamp)
        if executed is None:
            raise IntegrityError("Upstox sent a trade without a time.", code="provider_bad_trade")
        fills.append(
            Fill(row.trade_id, row.order_id, row.quantity, Money(row.average_price, INR), executed)
        )
    return fills


def last_prices_from(data: Mapping[str, LastPrice], wanted: Mapping[str, str]) -> dict[str, Money]:
    """Prices by dashcore key (``NSE:RELIANCE``) for the requested instrument keys
    (``wanted``: instrument key → dashcore key). Upstox keys its answer ``NSE_EQ:RELIANCE``,
    not by the requested key, so rows are matched on their ``instrument_token``."""
    prices = {}
    for quote in data.values():
        key = wanted.get(quote.instrument_token)
        if key is not None:
            prices[key] = Money(quote.last_price, INR)
    return prices
