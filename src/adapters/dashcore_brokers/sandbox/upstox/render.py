"""The exchange engine's records in Upstox's wire format (``reference/brokers.md`` §3.4-3.6).

- Upstox sends money and quantities as JSON numbers: bodies are encoded with decimals as
  numbers (exact text, never through ``float``), quantities as integers;
- times are India wall-clock ``"2026-01-05 10:00:00"``; trade dates ``"2026-01-05"``;
- an order id is 15 digits, ``yymmdd`` of the day placed then the engine's order number;
- instruments are keyed ``NSE_EQ|<ISIN>`` (``BSE_EQ`` on BSE; an instrument without ISIN uses
  its numeric token); NSE orders name the equity series (``RELIANCE-EQ``), holdings do not;
- engine statuses in Upstox's spelling: a partial fill is still ``open`` (Upstox has no
  partial status), an expired day order is ``cancelled`` (Upstox cancels unfilled day orders at
  the close); the intermediate spellings appear in an order's history.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response
from litestar.enums import MediaType

from dashcore_brokers.sandbox.exchange import (
    OrderKind,
    Product,
    SimFill,
    SimHolding,
    SimInstrument,
    SimOrder,
    SimPosition,
    SimStatus,
)
from dashcore_brokers.sandbox.lifetimes import KOLKATA

__all__ = [
    "KINDS",
    "PRODUCTS",
    "STATUSES",
    "engine_order_id",
    "historical_trade_row",
    "history_rows",
    "holding_row",
    "instrument_key",
    "order_id",
    "order_row",
    "position_row",
    "quantity",
    "respond",
    "trade_date",
    "trade_row",
    "wall_clock",
]

STATUSES = {
    SimStatus.OPEN: "open",
    SimStatus.TRIGGER_PENDING: "trigger pending",
    SimStatus.PARTIALLY_FILLED: "open",
    SimStatus.FILLED: "complete",
    SimStatus.CANCELLED: "cancelled",
    SimStatus.REJECTED: "rejected",
    SimStatus.EXPIRED: "cancelled",
}
KINDS = {
    "MARKET": OrderKind.MARKET,
    "LIMIT": OrderKind.LIMIT,
    "SL": OrderKind.STOP_LIMIT,
    "SL-M": OrderKind.STOP,
}
_KIND_NAMES = {kind: name for name, kind in KINDS.items()}
PRODUCTS = {"D": Product.DELIVERY, "I": Product.INTRADAY, "MTF": Product.MARGIN}
_PRODUCT_NAMES = {product: name for name, product in PRODUCTS.items()}
_SEGMENTS = {"NSE": "NSE_EQ", "BSE": "BSE_EQ"}
_ORDER_ID = re.compile(r"\d{6}(\d{9})", re.ASCII)
_ZERO = Decimal(0)
_encoder = msgspec.json.Encoder(decimal_format="number")


def respond(status: int, body: object) -> Response[Any]:
    """A JSON response with decimals written as JSON numbers, as Upstox sends them."""
    return Response(content=_encoder.encode(body), status_code=status, media_type=MediaType.JSON)


def quantity(value: Decimal) -> int | Decimal:
    """Quantities are integers on Upstox's wire."""
    return int(value) if value == value.to_integral_value() else value


def wall_clock(at: datetime) -> str:
    return at.astimezone(KOLKATA).strftime("%Y-%m-%d %H:%M:%S")


def trade_date(at: datetime) -> str:
    return at.astimezone(KOLKATA).date().isoformat()


def instrument_key(instrument: SimInstrument) -> str:
    segment = _SEGMENTS.get(instrument.exchange, f"{instrument.exchange}_EQ")
    return f"{segment}|{instrument.isin or instrument.instrument_token}"


def order_id(order: SimOrder) -> str:
    return order.placed_at.astimezone(KOLKATA).strftime("%y%m%d") + order.id.rjust(9, "0")


def engine_order_id(wire: str) -> str | None:
    """The engine's id of an Upstox order id, or ``None`` if it is not one of ours."""
    match = _ORDER_ID.fullmatch(wire)
    return str(int(match.group(1))) if match else None


def _order_symbol(instrument: SimInstrument) -> str:
    return f"{instrument.symbol}-EQ" if instrument.exchange == "NSE" else instrument.symbol


def order_row(order: SimOrder, status: str | None = None) -> dict[str, object]:
    """An order as ``/v2/order/details`` and the order book show it."""
    instrument = order.instrument
    symbol = _order_symbol(instrument)
    placed = wall_clock(order.placed_at)
    return {
        "exchange": instrument.exchange,
        "product": _PRODUCT_NAMES[order.product],
        "price": order.price or _ZERO,
        "quantity": quantity(order.quantity),
        "status": status or STATUSES[order.status],
        "guid": None,
        "tag": order.tag,
        "instrument_token": instrument_key(instrument),
        "placed_by": "SBX001",
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "order_type": _KIND_NAMES[order.kind],
        "validity": order.validity.value,
        "trigger_price": order.trigger_price or _ZERO,
        "disclosed_quantity": 0,
        "transaction_type": order.side.value,
        "average_price": order.average_price or _ZERO,
        "filled_quantity": quantity(order.filled_quantity),
        "pending_quantity": quantity(order.pending_quantity),
        "status_message": order.status_message or None,
        "status_message_raw": order.status_message or None,
        "exchange_order_id": None if order.status is SimStatus.REJECTED else order.id,
        "parent_order_id": None,
        "order_id": order_id(order),
        "variety": "SIMPLE",
        "order_timestamp": placed,
        "exchange_timestamp": wall_clock(order.updated_at),
        "is_amo": False,
        "order_request_id": "1",
        "order_ref_id": None,
    }


def history_rows(order: SimOrder) -> list[dict[str, object]]:
    """The snapshots of ``/v2/order/history``: Upstox's intermediate states, then the
    current one (``cancel pending`` before a cancellation)."""
    steps = ["put order req received", "validation pending", "open pending"]
    final = STATUSES[order.status]
    if order.status is SimStatus.REJECTED:
        steps = steps[:2]
    if final == "cancelled":
        steps.append("cancel pending")
    return [order_row(order, status) for status in [*steps, final]]


def trade_row(order: SimOrder, fill: SimFill) -> dict[str, object]:
    """One execution as ``/v2/order/trades`` shows it."""
    instrument = order.instrument
    symbol = _order_symbol(instrument)
    return {
        "exchange": instrument.exchange,
        "product": _PRODUCT_NAMES[order.product],
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "instrument_token": instrument_key(instrument),
        "order_type": _KIND_NAMES[order.kind],
        "transaction_type": order.side.value,
        "quantity": quantity(fill.quantity),
        "exchange_order_id": order.id,
        "order_id": order_id(order),
        "exchange_timestamp": wall_clock(fill.at),
        "average_price": fill.price,
        "trade_id": fill.trade_id,
        "order_ref_id": None,
        "order_timestamp": wall_clock(order.placed_at),
    }


def historical_trade_row(order: SimOrder, fill: SimFill) -> dict[str, object]:
    """One execution as ``/v2/charges/historical-trades`` shows it (``amount`` unsigned)."""
    instrument = order.instrument
    return {
        "exchange": instrument.exchange,
        "segment": "EQ",
        "option_type": None,
        "quantity": quantity(fill.quantity),
        "amount": fill.quantity * fill.price,
        "trade_id": fill.trade_id,
        "trade_date": trade_date(fill.at),
        "transaction_type": order.side.value,
        "scrip_name": instrument.name,
        "strike_price": None,
        "expiry": None,
        "price": fill.price,
        "isin": instrument.isin or "",
        "symbol": instrument.symbol,
        "instrument_token": instrument_key(instrument),
    }


def holding_row(holding: SimHolding, last: Decimal) -> dict[str, object]:
    instrument = holding.instrument
    average = holding.average_price
    return {
        "isin": instrument.isin or "",
        "cnc_used_quantity": 0,
        "collateral_type": "WC",
        "company_name": instrument.name,
        "haircut": _ZERO,
        "product": "D",
        "quantity": quantity(holding.quantity),
        "tradingsymbol": instrument.symbol,
        "trading_symbol": instrument.symbol,
        "last_price": last,
        "close_price": last,
        "pnl": (last - average) * holding.quantity,
        "day_change": _ZERO,
        "day_change_percentage": _ZERO,
        "instrument_token": instrument_key(instrument),
        "average_price": average,
        "collateral_quantity": 0,
        "collateral_update_quantity": 0,
        "t1_quantity": quantity(holding.unsettled_quantity),
        "exchange": instrument.exchange,
    }


def position_row(position: SimPosition, last: Decimal) -> dict[str, object]:
    """A net position; the engine keeps no buy/sell split, so the open side carries it all."""
    instrument = position.instrument
    net = position.quantity
    average = position.average_price
    long = net > 0
    value = abs(net) * average
    return {
        "exchange": instrument.exchange,
        "multiplier": 1,
        "value": value,
        "pnl": (last - average) * net + position.realised_pnl,
        "product": _PRODUCT_NAMES[position.product],
        "instrument_token": instrument_key(instrument),
        "average_price": average,
        "buy_value": value if long else _ZERO,
        "overnight_quantity": 0,
        "day_buy_value": value if long else _ZERO,
        "day_buy_price": average if long else _ZERO,
        "overnight_buy_amount": _ZERO,
        "overnight_buy_quantity": 0,
        "day_buy_quantity": quantity(net) if long else 0,
        "day_sell_value": _ZERO if long else value,
        "day_sell_price": _ZERO if long else average,
        "overnight_sell_amount": _ZERO,
        "overnight_sell_quantity": 0,
        "day_sell_quantity": 0 if long else quantity(-net),
        "quantity": quantity(net),
        "last_price": last,
        "unrealised": (last - average) * net,
        "realised": position.realised_pnl,
        "sell_value": _ZERO if long else value,
        "tradingsymbol": instrument.symbol,
        "trading_symbol": instrument.symbol,
        "close_price": last,
        "buy_price": average if long else _ZERO,
        "sell_price": _ZERO if long else average,
    }
