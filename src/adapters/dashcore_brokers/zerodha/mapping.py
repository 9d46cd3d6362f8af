"""Kite's spellings and rows → dashcore's domain (``reference/brokers.md`` §2.4-2.6).

Business rules:
- **status** — every order status Kite documents maps to exactly one
  :class:`~dashcore.domain.orders.OrderStatus` (:data:`STATUS_TABLE`). Kite has no
  "partially filled" spelling: an order that is live (``OPEN``, ``TRIGGER PENDING``, a pending
  modification) with ``filled_quantity > 0`` is ``partially_filled``. A spelling outside the
  table is an ``IntegrityError`` (``unknown_provider_status``), logged, never guessed. The same
  holds for order types, sides, products and validities read back from Kite.
- **products** — dashcore ``delivery`` is ``CNC``, ``intraday`` is ``MIS``, ``margin`` is
  ``NRML`` (Kite's carry-forward margin product); read back, ``MTF`` is ``margin`` and the
  cover/bracket products ``CO``/``BO`` are ``intraday`` (they are squared off the same day).
- **validity** — ``DAY`` and ``IOC``; Kite's ``TTL`` (minutes, within the session) reads as
  ``day``. Kite has no good-till-cancelled order (GTT is a separate trigger API).
- **holdings** — the quantity owned is ``quantity + t1_quantity`` (shares bought yesterday
  are owned though not yet delivered); market value is that quantity × ``last_price``.
- **positions** — the ``net`` list, signed (short < 0), including positions closed during the
  day (quantity 0) because they carry realised P&L.
- **transactions** — Kite Connect has no ledger API (cash movements, dividends and charges live
  in Console only): the ledger it offers is the day's trades (``GET /trades``), each a ``buy``
  (cash out, negative) or ``sell`` (cash in), oldest first.
- **money** is INR; timestamps are India time without a zone and become UTC.

The ``normalize_*`` functions take the raw body and are the hot path: one msgspec decode, one
dict lookup per enum, instruments built once per symbol within a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar

import msgspec
import structlog

from dashcore.domain.connections import IST
from dashcore.domain.errors import IntegrityError, ProviderUnavailable
from dashcore.domain.instruments import AssetClass, Instrument
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
from dashcore.domain.portfolio import ActivityType, Holding, Position, Transaction
from dashcore_brokers.zerodha import wire
from dashcore_brokers.zerodha.wire import KiteOrder

__all__ = [
    "INR",
    "ORDER_TYPES",
    "PRODUCTS",
    "SIDES",
    "STATUS_TABLE",
    "VALIDITIES",
    "Instruments",
    "kite_time",
    "latest_snapshot",
    "normalize_fills",
    "normalize_holdings",
    "normalize_order",
    "normalize_order_id",
    "normalize_orders",
    "normalize_positions",
    "normalize_transactions",
    "order_status",
    "unwrap",
]

INR: Final = Currency("INR")
_PROVIDER: Final = "zerodha"
_log = structlog.get_logger("dashcore_brokers.zerodha")

T = TypeVar("T")
K = TypeVar("K")

STATUS_TABLE: Final[Mapping[str, OrderStatus]] = MappingProxyType(
    {
        # Accepted by Kite, on its way to the exchange.
        "PUT ORDER REQ RECEIVED": OrderStatus.SUBMITTED,
        "VALIDATION PENDING": OrderStatus.SUBMITTED,
        "OPEN PENDING": OrderStatus.SUBMITTED,
        "AMO REQ RECEIVED": OrderStatus.SUBMITTED,
        # Live at the exchange (partially filled when filled_quantity > 0).
        "OPEN": OrderStatus.OPEN,
        "TRIGGER PENDING": OrderStatus.OPEN,
        "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
        "MODIFY PENDING": OrderStatus.OPEN,
        "MODIFIED": OrderStatus.OPEN,
        # The postback pseudo-status for a modification or a partial fill.
        "UPDATE": OrderStatus.OPEN,
        "CANCEL PENDING": OrderStatus.CANCEL_REQUESTED,
        "COMPLETE": OrderStatus.FILLED,
        "CANCELLED": OrderStatus.CANCELLED,
        "REJECTED": OrderStatus.REJECTED,
    }
)
"""Every status spelling of brokers.md §2.5 (UPPER CASE with spaces) → one status."""

SIDES: Final[Mapping[OrderSide, str]] = MappingProxyType(
    {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}
)
ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType(
    {
        OrderType.MARKET: "MARKET",
        OrderType.LIMIT: "LIMIT",
        OrderType.STOP: "SL-M",
        OrderType.STOP_LIMIT: "SL",
    }
)
PRODUCTS: Final[Mapping[Product, str]] = MappingProxyType(
    {Product.DELIVERY: "CNC", Product.INTRADAY: "MIS", Product.MARGIN: "NRML"}
)
VALIDITIES: Final[Mapping[Validity, str]] = MappingProxyType(
    {Validity.DAY: "DAY", Validity.IOC: "IOC"}
)

_SIDES_IN: Final = {kite: side for side, kite in SIDES.items()}
_TYPES_IN: Final = {kite: kind for kind, kite in ORDER_TYPES.items()}
_PRODUCTS_IN: Final = {
    **{kite: product for product, kite in PRODUCTS.items()},
    "MTF": Product.MARGIN,
    "CO": Product.INTRADAY,
    "BO": Product.INTRADAY,
}
_VALIDITIES_IN: Final = {
    **{kite: validity for validity, kite in VALIDITIES.items()},
    "TTL": Validity.DAY,
}
_ACTIVITIES_IN: Final = {"BUY": ActivityType.BUY, "SELL": ActivityType.SELL}
_LIVE: Final = frozenset({OrderStatus.OPEN})
_DERIVATIVES: Final = frozenset({"NFO", "BFO", "MCX", "CDS", "BCD"})
_ZERO: Final = Decimal(0)


def _unknown(kind: str, spelling: str) -> IntegrityError:
    _log.error("provider_unknown_value", provider=_PROVIDER, kind=kind, value=spelling[:64])
    code = "unknown_provider_status" if kind == "status" else f"unknown_provider_{kind}"
    return IntegrityError(f"Kite sent an unknown {kind}: {spelling[:64]!r}.", code=code)


def _lookup(table: Mapping[str, K], kind: str, spelling: str) -> K:
    try:
        return table[spelling]
    except KeyError:
        raise _unknown(kind, spelling) from None


def order_status(spelling: str, filled_quantity: Decimal = _ZERO) -> OrderStatus:
    """The normalized status of a Kite spelling; a live order with fills is partially filled."""
    status = _lookup(STATUS_TABLE, "status", spelling)
    if status in _LIVE and filled_quantity > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def kite_time(value: datetime) -> datetime:
    """A Kite timestamp (India time, no zone) as UTC."""
    return value.replace(tzinfo=IST).astimezone(UTC)


def unwrap(decoder: msgspec.json.Decoder[wire.Envelope[T]], body: bytes) -> T:
    """The ``data`` of a success envelope; anything else is ``ProviderUnavailable``
    (``provider_bad_response``) — Kite's words are not repeated."""
    try:
        envelope = decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        envelope = None
    if envelope is None or envelope.status != "success":
        _log.warning("provider_bad_response", provider=_PROVIDER)
        raise ProviderUnavailable(
            "Kite sent an answer dashcore does not understand.", code="provider_bad_response"
        )
    return envelope.data


class Instruments:
    """Instruments of one call, each built once per (exchange, symbol)."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Instrument] = {}

    def get(self, exchange: str, symbol: str, isin: str | None = None) -> Instrument:
        key = (exchange, symbol)
        found = self._known.get(key)
        if found is None:
            found = Instrument(
                symbol=symbol,
                exchange=exchange,
                currency=INR,
                asset_class=_asset_class(exchange, symbol),
                isin=isin or None,
            )
            self._known[key] = found
        return found


def _asset_class(exchange: str, symbol: str) -> AssetClass:
    if exchange == "MF":
        return AssetClass.MUTUAL_FUND
    if exchange in _DERIVATIVES:
        if symbol.endswith("FUT"):
            return AssetClass.FUTURE
        if symbol.endswith(("CE", "PE")):
            return AssetClass.OPTION
        return AssetClass.OTHER
    return AssetClass.EQUITY


def normalize_holdings(body: bytes, account_id: str) -> list[Holding]:
    """``GET /portfolio/holdings`` → holdings (quantity owned = delivered + T1)."""
    rows = unwrap(wire.holdings_decoder, body)
    instruments = Instruments()
    out: list[Holding] = []
    append = out.append
    for row in rows:
        quantity = row.quantity + row.t1_quantity
        append(
            Holding(
                account_id,
                instruments.get(row.exchange, row.tradingsymbol, row.isin),
                quantity,
                Money(row.average_price, INR),
                Money(row.last_price, INR),
                Money(quantity * row.last_price, INR),
            )
        )
    return out


def normalize_positions(body: bytes, account_id: str) -> list[Position]:
    """``GET /portfolio/positions`` → the ``net`` positions, signed."""
    rows = unwrap(wire.positions_decoder, body).net
    instruments = Instruments()
    return [
        Position(
            account_id,
            instruments.get(row.exchange, row.tradingsymbol),
            row.quantity,
            _lookup(_PRODUCTS_IN, "product", row.product).value,
            Money(row.average_price, INR),
            Money(row.last_price, INR),
            Money(row.quantity * row.last_price, INR),
            Money(row.realised, INR),
        )
        for row in rows
    ]


def normalize_transactions(body: bytes, account_id: str) -> list[Transaction]:
    """``GET /trades`` → the day's buys and sells, oldest first (ties in trade-id order)."""
    rows = unwrap(wire.trades_decoder, body)
    instruments = Instruments()
    out: list[Transaction] = []
    append = out.append
    times: dict[datetime, datetime] = {}
    for row in rows:
        activity = _lookup(_ACTIVITIES_IN, "transaction_type", row.transaction_type)
        at = times.get(row.fill_timestamp)
        if at is None:
            at = times[row.fill_timestamp] = kite_time(row.fill_timestamp)
        gross = row.quantity * row.average_price
        append(
            Transaction(
                provider_transaction_id=row.trade_id,
                provider_account_id=account_id,
                activity=activity,
                occurred_at=at,
                amount=Money(-gross if activity is ActivityType.BUY else gross, INR),
                instrument=instruments.get(row.exchange, row.tradingsymbol),
                quantity=row.quantity,
                price=Money(row.average_price, INR),
                provider_type=row.transaction_type,
                order_ref=row.order_id,
            )
        )
    out.sort(key=_ledger_order)
    return out


def _ledger_order(transaction: Transaction) -> tuple[datetime, str]:
    return transaction.occurred_at, transaction.provider_transaction_id


def normalize_order(row: KiteOrder, account_id: str, instruments: Instruments) -> Order:
    """One Kite order snapshot as an :class:`Order` (fills are read separately)."""
    kind = _lookup(_TYPES_IN, "order_type", row.order_type)
    filled = row.filled_quantity
    return Order(
        provider_order_id=row.order_id,
        provider_account_id=account_id,
        instrument=instruments.get(row.exchange, row.tradingsymbol),
        side=_lookup(_SIDES_IN, "transaction_type", row.transaction_type),
        type=kind,
        quantity=row.quantity,
        filled_quantity=filled,
        status=order_status(row.status, filled),
        provider_status=row.status,
        placed_at=None if row.order_timestamp is None else kite_time(row.order_timestamp),
        product=_lookup(_PRODUCTS_IN, "product", row.product),
        validity=_lookup(_VALIDITIES_IN, "validity", row.validity),
        limit_price=row.price if kind.needs_limit_price and row.price else None,
        stop_price=row.trigger_price if kind.needs_stop_price and row.trigger_price else None,
        average_price=Money(row.average_price, INR) if filled and row.average_price else None,
        client_reference=row.tag or None,
        status_message=row.status_message or None,
    )


def normalize_orders(body: bytes, account_id: str) -> list[Order]:
    """``GET /orders`` → the day's orders in Kite's order (oldest first)."""
    instruments = Instruments()
    return [
        normalize_order(row, account_id, instruments) for row in unwrap(wire.orders_decoder, body)
    ]


def latest_snapshot(body: bytes) -> KiteOrder:
    """``GET /orders/{id}`` → the order's current state (the last snapshot of its history)."""
    history = unwrap(wire.orders_decoder, body)
    if not history:
        raise _unknown("order_history", "empty")
    return history[-1]


def normalize_order_id(body: bytes) -> str:
    """Place, modify and cancel answer ``{"data": {"order_id": "…"}}``."""
    return unwrap(wire.order_id_decoder, body).order_id


def normalize_fills(body: bytes) -> list[Fill]:
    """``GET /orders/{id}/trades`` → fills (Kite reports no per-trade charges)."""
    return [
        Fill(
            trade_id=row.trade_id,
            provider_order_id=row.order_id,
            quantity=row.quantity,
            price=Money(row.average_price, INR),
            executed_at=kite_time(row.fill_timestamp),
        )
        for row in unwrap(wire.trades_decoder, body)
    ]
