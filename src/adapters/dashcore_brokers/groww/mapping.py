"""Groww's spellings as dashcore's domain (``reference/brokers.md`` §4.4-4.6).

Business rules:
- every ``order_status`` Groww documents (the 12 of the annexure, plus ``OPEN`` from its doc
  examples) maps to exactly one :class:`OrderStatus`; an unknown spelling is an
  ``IntegrityError`` (``unknown_provider_status``), logged, never guessed. Groww has no
  "partially filled" spelling: a live order (``OPEN``, ``ACKED``, ``TRIGGER_PENDING``,
  ``MODIFICATION_REQUESTED``) with some quantity filled is ``partially_filled``;
- ``EXECUTED``, ``DELIVERY_AWAITED`` and ``COMPLETED`` are stages of one filled order;
  ``FAILED`` is a rejection; Groww has no "expired": day orders end ``CANCELLED``;
- ``SL`` is a stop-limit and ``SL_M`` (underscore) a stop-market order;
- products: ``CNC`` delivery, ``MIS`` intraday, ``NRML`` and ``MTF`` margin; the SDK-only
  ``BO``/``CO``/``ARB`` are intraday products;
- validities: ``DAY``, ``IOC``, ``GTC``; ``EOS`` (end of session) is a day order and ``GTD``
  a good-till order;
- Groww's times carry no offset (``"2023-10-01T10:15:30"``): they are India time; a ``Z`` or
  an offset, when present, is honoured;
- holdings name no exchange (demat stock is not tied to one): they are reported on ``NSE``;
- Groww trades only in rupees.

The ``normalize_*`` functions take the raw response body: they are the hot path of a sync
(5,000 rows must take well under 50 ms), so each builds one :class:`Instrument` per listing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from types import MappingProxyType
from typing import TypeVar

import structlog

from dashcore.domain.connections import IST
from dashcore.domain.errors import IntegrityError
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.portfolio import Holding, Position
from dashcore_brokers.groww.wire import (
    SUCCESS,
    Envelope,
    WireOrder,
    WireTrade,
    holdings_decoder,
    positions_decoder,
    trades_decoder,
)
from dashcore_brokers.http import safe_code

__all__ = [
    "HOLDINGS_EXCHANGE",
    "INR",
    "ORDER_STATUSES",
    "ORDER_TYPES",
    "PRODUCTS",
    "SIDES",
    "VALIDITIES",
    "Refused",
    "instant",
    "normalize_fills",
    "normalize_holdings",
    "normalize_order",
    "normalize_orders",
    "normalize_positions",
    "order_status",
    "payload",
]

_log = structlog.get_logger("dashcore_brokers.groww")

INR = Currency("INR")
HOLDINGS_EXCHANGE = "NSE"
_ZERO = Decimal(0)

ORDER_STATUSES: Mapping[str, OrderStatus] = MappingProxyType(
    {
        "NEW": OrderStatus.SUBMITTED,
        "APPROVED": OrderStatus.SUBMITTED,
        "ACKED": OrderStatus.OPEN,
        "OPEN": OrderStatus.OPEN,
        "TRIGGER_PENDING": OrderStatus.OPEN,
        "MODIFICATION_REQUESTED": OrderStatus.OPEN,
        "EXECUTED": OrderStatus.FILLED,
        "DELIVERY_AWAITED": OrderStatus.FILLED,
        "COMPLETED": OrderStatus.FILLED,
        "CANCELLATION_REQUESTED": OrderStatus.CANCEL_REQUESTED,
        "CANCELLED": OrderStatus.CANCELLED,
        "REJECTED": OrderStatus.REJECTED,
        "FAILED": OrderStatus.REJECTED,
    }
)
"""Every ``order_status`` spelling of brokers.md §4.5, each to one normalized status."""

ORDER_TYPES: Mapping[str, OrderType] = MappingProxyType(
    {
        "MARKET": OrderType.MARKET,
        "LIMIT": OrderType.LIMIT,
        "SL": OrderType.STOP_LIMIT,
        "SL_M": OrderType.STOP,
    }
)
SIDES: Mapping[str, OrderSide] = MappingProxyType({"BUY": OrderSide.BUY, "SELL": OrderSide.SELL})
PRODUCTS: Mapping[str, Product] = MappingProxyType(
    {
        "CNC": Product.DELIVERY,
        "MIS": Product.INTRADAY,
        "NRML": Product.MARGIN,
        "MTF": Product.MARGIN,
        "BO": Product.INTRADAY,
        "CO": Product.INTRADAY,
        "ARB": Product.INTRADAY,
    }
)
VALIDITIES: Mapping[str, Validity] = MappingProxyType(
    {
        "DAY": Validity.DAY,
        "EOS": Validity.DAY,
        "IOC": Validity.IOC,
        "GTC": Validity.GTC,
        "GTD": Validity.GTC,
    }
)

_V = TypeVar("_V")


class Refused(Exception):
    """The body is Groww's ``FAILURE`` envelope: the caller maps the refusal."""


def _lookup(table: Mapping[str, _V], spelling: str, what: str) -> _V:
    try:
        return table[spelling]
    except KeyError:
        _log.error(
            "provider_unknown_value", provider="groww", field=what, value=safe_code(spelling)
        )
        raise IntegrityError(
            f"Groww sent an {what} dashcore does not know.", code=f"unknown_provider_{what}"
        ) from None


def order_status(spelling: str, filled: Decimal = _ZERO) -> OrderStatus:
    """The normalized status of a Groww ``order_status`` (a live order with fills is partially
    filled); an unknown spelling is ``IntegrityError`` (``unknown_provider_status``)."""
    status = _lookup(ORDER_STATUSES, spelling, "status")
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def instant(text: str | None) -> datetime | None:
    """A Groww timestamp in UTC (India time when it carries no offset); ``None`` when absent
    or unreadable (logged)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _log.warning("provider_bad_timestamp", provider="groww")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment.astimezone(UTC)


def payload(envelope: Envelope[_V]) -> _V:
    """The payload of a success envelope; :class:`Refused` for a ``FAILURE`` one."""
    if envelope.status != SUCCESS or envelope.payload is None:
        raise Refused
    return envelope.payload


def _price(value: Decimal | None) -> Decimal | None:
    """Groww sends 0 for "no price" (market orders, no trigger)."""
    return value if value else None


class _Listings:
    """One :class:`Instrument` per (symbol, exchange, ISIN) within one response."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str | None], Instrument] = {}

    def get(self, symbol: str, exchange: str, isin: str | None) -> Instrument:
        key = (symbol, exchange, isin)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Instrument(
                symbol=symbol, exchange=exchange, currency=INR, isin=isin or None
            )
        return found


def normalize_holdings(body: bytes, account_id: str) -> list[Holding]:
    """``/v1/holdings/user`` as holdings, sorted by symbol (Groww gives no last price)."""
    rows = payload(holdings_decoder.decode(body)).holdings
    rows.sort(key=attrgetter("trading_symbol"))
    instruments: dict[tuple[str, str | None], Instrument] = {}
    holdings: list[Holding] = []
    append = holdings.append
    for row in rows:
        key = (row.trading_symbol, row.isin)
        instrument = instruments.get(key)
        if instrument is None:
            instrument = instruments[key] = Instrument(
                row.trading_symbol, HOLDINGS_EXCHANGE, INR, isin=row.isin or None
            )
        append(
            Holding(account_id, instrument, row.quantity, Money(row.average_price, INR), None, None)
        )
    return holdings


def normalize_positions(body: bytes, account_id: str) -> list[Position]:
    """``/v1/positions/user`` as positions (signed net quantity), sorted by symbol, exchange
    and product."""
    rows = payload(positions_decoder.decode(body)).positions
    rows.sort(key=lambda row: (row.trading_symbol, row.exchange, row.product))
    listings = _Listings()
    positions = []
    for row in rows:
        product = _lookup(PRODUCTS, row.product, "product")
        positions.append(
            Position(
                provider_account_id=account_id,
                instrument=listings.get(row.trading_symbol, row.exchange, row.symbol_isin),
                quantity=row.quantity,
                product=product.value,
                average_price=None if row.net_price is None else Money(row.net_price, INR),
                last_price=None,
                market_value=None,
                realised_pnl=None if row.realised_pnl is None else Money(row.realised_pnl, INR),
            )
        )
    return positions


def normalize_order(
    row: WireOrder,
    account_id: str,
    listings: Callable[[str, str, str | None], Instrument] | None = None,
) -> Order:
    """One Groww order; ``listings`` shares instruments across the rows of one listing."""
    instrument = (listings or _Listings().get)(row.trading_symbol, row.exchange, None)
    average = row.average_fill_price
    return Order(
        provider_order_id=row.groww_order_id,
        provider_account_id=account_id,
        instrument=instrument,
        side=_lookup(SIDES, row.transaction_type, "side"),
        type=_lookup(ORDER_TYPES, row.order_type, "order_type"),
        quantity=row.quantity,
        filled_quantity=row.filled_quantity,
        status=order_status(row.order_status, row.filled_quantity),
        provider_status=row.order_status,
        placed_at=instant(row.created_at),
        product=_lookup(PRODUCTS, row.product, "product"),
        validity=_lookup(VALIDITIES, row.validity, "validity"),
        limit_price=_price(row.price) if row.order_type in ("LIMIT", "SL") else None,
        stop_price=_price(row.trigger_price) if row.order_type in ("SL", "SL_M") else None,
        average_price=Money(average, INR) if average else None,
        client_reference=row.order_reference_id or None,
        status_message=row.remark or None,
    )


def normalize_orders(rows: list[WireOrder], account_id: str) -> list[Order]:
    listings = _Listings().get
    return [normalize_order(row, account_id, listings) for row in rows]


def _fill(row: WireTrade) -> Fill:
    executed_at = instant(row.trade_date_time) or instant(row.created_at)
    if executed_at is None:
        raise IntegrityError("Groww sent a trade without a time.", code="provider_bad_trade")
    return Fill(
        trade_id=row.groww_trade_id,
        provider_order_id=row.groww_order_id,
        quantity=row.quantity,
        price=Money(row.price, INR),
        executed_at=executed_at,
    )


def normalize_fills(body: bytes) -> list[Fill]:
    """One page of ``/v1/order/trades/{id}`` as fills (Groww reports no charges per trade)."""
    return [_fill(row) for row in payload(trades_decoder.decode(body)).trade_list]
