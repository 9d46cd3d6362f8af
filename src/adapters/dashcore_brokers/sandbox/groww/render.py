"""The exchange engine's records in Groww's wire format (``reference/brokers.md`` §4.4-4.6).

Business rules:
- the sandbox's one user owns the exchange's first account (Groww has one account per token
  and no account id on the wire);
- Groww order ids are alphanumeric: engine order ``7`` is ``GMK0000000007``; trade ``3`` is
  ``GTR0000000003``;
- statuses: a fresh order's place answer says ``OPEN`` (as Groww's doc example does); a
  working order then reads ``ACKED`` (``TRIGGER_PENDING`` before its trigger), with
  ``filled_quantity`` showing a partial fill (Groww has no partial spelling); a filled order is
  ``EXECUTED``; a refused one ``REJECTED``; cancelled and expired day orders are
  ``CANCELLED`` (Groww has no "expired" spelling); modify and cancel answer
  ``MODIFICATION_REQUESTED`` and ``CANCELLATION_REQUESTED``;
- ``SL`` is a stop-limit and ``SL_M`` a stop-market order; products ``CNC`` (delivery),
  ``MIS`` (intraday), ``NRML``/``MTF`` (margin);
- times are India time without an offset (``"2026-01-05T10:00:00"``), as Groww's examples;
- prices and quantities go out as exact JSON numbers (never through ``float``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType

from dashcore_brokers.sandbox._wire import WireError, bearer_token, json_response
from dashcore_brokers.sandbox.exchange import (
    OrderKind,
    Product,
    SimAccount,
    SimFill,
    SimOrder,
    SimStatus,
)
from dashcore_brokers.sandbox.groww.wire import fail, groww_error, require_headers
from dashcore_brokers.sandbox.lifetimes import KOLKATA
from dashcore_brokers.sandbox.tokens import GrantKind

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.groww.sandbox import GrowwSandbox

__all__ = [
    "ORDER_TYPES",
    "PRODUCTS",
    "SEGMENTS",
    "WIRE_PRODUCTS",
    "account_of",
    "exact",
    "order_id",
    "order_row",
    "refuse",
    "status_row",
    "trade_row",
    "wire_status",
]

SEGMENTS = frozenset({"CASH", "FNO", "COMMODITY", "CURRENCY"})
ORDER_TYPES = {
    "MARKET": OrderKind.MARKET,
    "LIMIT": OrderKind.LIMIT,
    "SL": OrderKind.STOP_LIMIT,
    "SL_M": OrderKind.STOP,
}
PRODUCTS = {
    "CNC": Product.DELIVERY,
    "MIS": Product.INTRADAY,
    "NRML": Product.MARGIN,
    "MTF": Product.MARGIN,
}
_WIRE_ORDER_TYPES = {kind: name for name, kind in ORDER_TYPES.items()}
WIRE_PRODUCTS = {Product.DELIVERY: "CNC", Product.INTRADAY: "MIS", Product.MARGIN: "NRML"}
_STATUSES = {
    SimStatus.OPEN: "ACKED",
    SimStatus.PARTIALLY_FILLED: "ACKED",
    SimStatus.TRIGGER_PENDING: "TRIGGER_PENDING",
    SimStatus.FILLED: "EXECUTED",
    SimStatus.CANCELLED: "CANCELLED",
    SimStatus.EXPIRED: "CANCELLED",
    SimStatus.REJECTED: "REJECTED",
}
_ORDER_PREFIX = "GMK"
_TRADE_PREFIX = "GTR"
_ZERO = Decimal(0)
_encoder = msgspec.json.Encoder(decimal_format="number")


def exact(payload: object) -> Response[Any]:
    """Groww's success envelope with Decimals as exact JSON numbers."""
    body = _encoder.encode({"status": "SUCCESS", "payload": payload})
    return Response(content=body, status_code=200, media_type=MediaType.JSON)


def refuse(status: int, code: str, message: str) -> WireError:
    """A Groww refusal with an explicit ``GA…`` code (the status pairing is UNCONFIRMED)."""
    return WireError(json_response(status, groww_error(code, message)))


def account_of(sandbox: GrowwSandbox, request: Request[Any, Any, Any]) -> SimAccount:
    """The caller's account, after Groww's header and token checks (401 ``GA005``)."""
    require_headers(request)
    token = bearer_token(request)
    if token is None or sandbox.tokens.active(token, GrantKind.ACCESS) is None:
        raise fail(401, "Access token is invalid or expired")
    return sandbox.exchange.accounts()[0]


def order_id(engine_id: str) -> str:
    return f"{_ORDER_PREFIX}{int(engine_id):010d}"


def engine_order_id(groww_id: str) -> str | None:
    """The engine's id behind a Groww order id; ``None`` for anything not of that shape."""
    digits = groww_id.removeprefix(_ORDER_PREFIX)
    if digits == groww_id or not (digits.isascii() and digits.isdigit()):
        return None
    return str(int(digits))


def wire_status(order: SimOrder) -> str:
    return _STATUSES[order.status]


def _time(moment: datetime) -> str:
    return moment.astimezone(KOLKATA).replace(tzinfo=None).isoformat(timespec="seconds")


def status_row(order: SimOrder) -> dict[str, object]:
    """The five fields of ``/v1/order/status/…``."""
    return {
        "groww_order_id": order_id(order.id),
        "order_status": wire_status(order),
        "remark": order.status_message,
        "filled_quantity": order.filled_quantity,
        "order_reference_id": order.tag,
    }


def order_row(order: SimOrder) -> dict[str, object]:
    """A full order (detail and list rows)."""
    return {
        "groww_order_id": order_id(order.id),
        "trading_symbol": order.instrument.symbol,
        "order_status": wire_status(order),
        "remark": order.status_message,
        "quantity": order.quantity,
        "price": order.price or _ZERO,
        "trigger_price": order.trigger_price or _ZERO,
        "filled_quantity": order.filled_quantity,
        "remaining_quantity": order.quantity - order.filled_quantity,
        "average_fill_price": order.average_price or _ZERO,
        "deliverable_quantity": (
            order.filled_quantity if order.product is Product.DELIVERY else _ZERO
        ),
        "amo_status": "NA",
        "validity": order.validity.value,
        "exchange": order.instrument.exchange,
        "order_type": _WIRE_ORDER_TYPES[order.kind],
        "transaction_type": order.side.value,
        "segment": "CASH",
        "product": WIRE_PRODUCTS[order.product],
        "created_at": _time(order.placed_at),
        "exchange_time": _time(order.updated_at),
        "trade_date": _time(order.placed_at),
        "order_reference_id": order.tag,
    }


def trade_row(order: SimOrder, fill: SimFill) -> dict[str, object]:
    """One row of ``/v1/order/trades/{id}``."""
    return {
        "price": fill.price,
        "isin": order.instrument.isin,
        "quantity": fill.quantity,
        "groww_order_id": order_id(order.id),
        "groww_trade_id": f"{_TRADE_PREFIX}{int(fill.trade_id):010d}",
        "exchange_trade_id": fill.trade_id,
        "exchange_order_id": order.id,
        "trade_status": "EXECUTED",
        "trading_symbol": order.instrument.symbol,
        "remark": "",
        "exchange": order.instrument.exchange,
        "segment": "CASH",
        "product": WIRE_PRODUCTS[order.product],
        "transaction_type": order.side.value,
        "created_at": _time(fill.at),
        "trade_date_time": _time(fill.at),
        "settlement_number": fill.at.astimezone(KOLKATA).strftime("%Y%j"),
    }
