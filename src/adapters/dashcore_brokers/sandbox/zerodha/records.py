"""The exchange engine's records in Kite's wire format (``reference/brokers.md`` §2.4-2.6).

Business rules:
- JSON numbers stay numbers (Kite sends ``1074.35``, not ``"1074.35"``), encoded from the
  engine's ``Decimal`` without passing through ``float``;
- a Kite login is one engine account: the one whose number is the login's ``user_id``;
- order ids are Kite-like 15-digit numeric strings (:data:`ORDER_ID_BASE` + the engine's id),
  trade ids 8-digit ones; timestamps are India time ``"YYYY-MM-DD HH:MM:SS"`` without a zone;
- engine statuses take Kite's spellings (:data:`KITE_STATUS`): a partially filled order is
  ``OPEN`` with ``filled_quantity > 0`` (Kite has no partial spelling) and an order the day's
  close expired is ``CANCELLED`` (Kite cancels unfilled day orders at the close); an order's
  history (``GET /orders/{id}``) passes through ``PUT ORDER REQ RECEIVED``, ``VALIDATION
  PENDING`` and (unless rejected) ``OPEN PENDING`` before its current state;
- ``KiteSandbox.status_overrides`` (Kite order id → spelling) replaces the current status on
  the wire, so tests can show any spelling Kite documents (``CANCEL PENDING``, ``AMO REQ
  RECEIVED``, …) or one it does not;
- Kite keeps the day's orders and trades only: listings show what was placed or filled on the
  current India trading date.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import Response
from litestar.enums import MediaType

from dashcore_brokers.sandbox.exchange import (
    OrderKind,
    Product,
    SimAccount,
    SimFill,
    SimHolding,
    SimOrder,
    SimPosition,
    SimStatus,
    Validity,
)
from dashcore_brokers.sandbox.lifetimes import KOLKATA
from dashcore_brokers.sandbox.tokens import Grant
from dashcore_brokers.sandbox.zerodha.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = [
    "KITE_ORDER_TYPES",
    "KITE_PRODUCTS",
    "KITE_STATUS",
    "KITE_VALIDITIES",
    "ORDER_ID_BASE",
    "TRADE_ID_BASE",
    "account_of",
    "engine_order_id",
    "holding_row",
    "kite_order_id",
    "kite_success",
    "kite_time",
    "order_history",
    "order_row",
    "position_row",
    "todays",
    "trade_row",
]

ORDER_ID_BASE: Final = 260_000_000_000_000
TRADE_ID_BASE: Final = 10_000_000
_ZERO: Final = Decimal(0)

KITE_STATUS: Final = {
    SimStatus.OPEN: "OPEN",
    SimStatus.TRIGGER_PENDING: "TRIGGER PENDING",
    SimStatus.PARTIALLY_FILLED: "OPEN",
    SimStatus.FILLED: "COMPLETE",
    SimStatus.CANCELLED: "CANCELLED",
    SimStatus.REJECTED: "REJECTED",
    SimStatus.EXPIRED: "CANCELLED",
}
KITE_PRODUCTS: Final = {
    Product.DELIVERY: "CNC",
    Product.INTRADAY: "MIS",
    Product.MARGIN: "NRML",
}
KITE_ORDER_TYPES: Final = {
    OrderKind.MARKET: "MARKET",
    OrderKind.LIMIT: "LIMIT",
    OrderKind.STOP: "SL-M",
    OrderKind.STOP_LIMIT: "SL",
}
KITE_VALIDITIES: Final = {Validity.DAY: "DAY", Validity.IOC: "IOC"}

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")
_RECEIVED: Final = ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING")


def kite_success(data: object) -> Response[Any]:
    """``{"status": "success", "data": …}`` with Decimals as JSON numbers."""
    body = _ENCODER.encode({"status": "success", "data": data})
    return Response(content=body, status_code=200, media_type=MediaType.JSON)


def kite_time(at: datetime) -> str:
    """An instant as Kite writes it: India wall-clock time, no zone."""
    return at.astimezone(KOLKATA).strftime("%Y-%m-%d %H:%M:%S")


def todays(sandbox: KiteSandbox, at: datetime) -> bool:
    """Whether ``at`` falls on the current India trading date."""
    return at.astimezone(KOLKATA).date() == sandbox.clock.now().astimezone(KOLKATA).date()


def account_of(sandbox: KiteSandbox, grant: Grant) -> SimAccount:
    """The engine account of a Kite login (numbered with its ``user_id``)."""
    for account in sandbox.exchange.accounts():
        if account.number == grant.user_id:
            return account
    raise fail(403, "No trading account is linked to this user.", "PermissionException")


def kite_order_id(order: SimOrder) -> str:
    return str(ORDER_ID_BASE + int(order.id))


def engine_order_id(sandbox: KiteSandbox, account: SimAccount, kite_id: str) -> SimOrder:
    """The account's order behind a Kite order id; 404 for any other id."""
    if kite_id.isascii() and kite_id.isdigit() and int(kite_id) > ORDER_ID_BASE:
        try:
            order = sandbox.exchange.order(str(int(kite_id) - ORDER_ID_BASE))
        except KeyError:
            order = None
        if order is not None and order.account_id == account.id:
            return order
    raise fail(404, "Couldn't find that `order_id`.", "GeneralException")


def _num(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


def order_row(
    sandbox: KiteSandbox, order: SimOrder, user_id: str, status: str | None = None
) -> dict[str, object]:
    """One order snapshot; ``status`` replaces the current one (history, overrides)."""
    kite_id = kite_order_id(order)
    current = status or sandbox.status_overrides.get(kite_id) or KITE_STATUS[order.status]
    at_start = status in _RECEIVED or status == "OPEN PENDING"
    rejected = order.status is SimStatus.REJECTED
    filled = _ZERO if at_start else order.filled_quantity
    message = None if at_start or not order.status_message else order.status_message
    return {
        "placed_by": user_id,
        "order_id": kite_id,
        "exchange_order_id": None if rejected or at_start else str(1_100_000_000 + int(order.id)),
        "parent_order_id": None,
        "status": current,
        "status_message": message,
        "status_message_raw": message,
        "order_timestamp": kite_time(order.placed_at),
        "exchange_update_timestamp": None if at_start else kite_time(order.updated_at),
        "exchange_timestamp": None if rejected or at_start else kite_time(order.placed_at),
        "variety": "regular",
        "modified": order.id in sandbox.modified_orders,
        "exchange": order.instrument.exchange,
        "tradingsymbol": order.instrument.symbol,
        "instrument_token": order.instrument.instrument_token,
        "order_type": KITE_ORDER_TYPES[order.kind],
        "transaction_type": order.side.value,
        "validity": KITE_VALIDITIES[order.validity],
        "validity_ttl": 0,
        "product": KITE_PRODUCTS[order.product],
        "quantity": order.quantity,
        "disclosed_quantity": 0,
        "price": _num(order.price),
        "trigger_price": _num(order.trigger_price),
        "average_price": _ZERO if at_start else _num(order.average_price),
        "filled_quantity": filled,
        "pending_quantity": order.quantity if at_start else order.pending_quantity,
        "cancelled_quantity": _ZERO if at_start else order.cancelled_quantity,
        "market_protection": 0,
        "meta": {},
        "tag": order.tag,
        "tags": [order.tag] if order.tag else [],
        "guid": f"sandbox-{kite_id}",
    }


def order_history(sandbox: KiteSandbox, order: SimOrder, user_id: str) -> list[dict[str, object]]:
    """``GET /orders/{id}``: the order's snapshots, oldest first."""
    steps = list(_RECEIVED)
    if order.status is not SimStatus.REJECTED:
        steps.append("OPEN PENDING")
    return [
        *(order_row(sandbox, order, user_id, step) for step in steps),
        order_row(sandbox, order, user_id),
    ]


def trade_row(order: SimOrder, fill: SimFill) -> dict[str, object]:
    """One fill as a Kite trade (``order_timestamp`` is time-only, as in Kite's mocks)."""
    return {
        "trade_id": str(TRADE_ID_BASE + int(fill.trade_id)),
        "order_id": kite_order_id(order),
        "exchange": order.instrument.exchange,
        "tradingsymbol": order.instrument.symbol,
        "instrument_token": order.instrument.instrument_token,
        "product": KITE_PRODUCTS[order.product],
        "average_price": fill.price,
        "quantity": fill.quantity,
        "exchange_order_id": str(1_100_000_000 + int(order.id)),
        "transaction_type": order.side.value,
        "fill_timestamp": kite_time(fill.at),
        "order_timestamp": kite_time(order.placed_at)[11:],
        "exchange_timestamp": kite_time(fill.at),
    }


def holding_row(holding: SimHolding, last_price: Decimal) -> dict[str, object]:
    """A holding: delivered ``quantity`` and the still-settling ``t1_quantity``."""
    instrument = holding.instrument
    settled = holding.settled_quantity
    average = holding.average_price
    return {
        "tradingsymbol": instrument.symbol,
        "exchange": instrument.exchange,
        "instrument_token": instrument.instrument_token,
        "isin": instrument.isin or "",
        "product": "CNC",
        "price": 0,
        "quantity": settled,
        "used_quantity": 0,
        "t1_quantity": holding.unsettled_quantity,
        "realised_quantity": settled,
        "authorised_quantity": 0,
        "authorised_date": "",
        "authorisation": {},
        "opening_quantity": settled,
        "short_quantity": 0,
        "collateral_quantity": 0,
        "collateral_type": "",
        "discrepancy": False,
        "average_price": average,
        "last_price": last_price,
        "close_price": last_price,
        "pnl": (last_price - average) * holding.quantity,
        "day_change": 0,
        "day_change_percentage": 0,
        "mtf": {
            "quantity": 0,
            "used_quantity": 0,
            "average_price": 0,
            "value": 0,
            "initial_margin": 0,
        },
    }


def position_row(position: SimPosition, last_price: Decimal) -> dict[str, object]:
    """A position (signed quantity). The buy/sell breakdown is the open quantity's: the
    engine keeps no per-day split (a simplification of the sandbox)."""
    instrument = position.instrument
    quantity = position.quantity
    average = position.average_price
    unrealised = quantity * last_price - position.cost
    long_side = quantity if quantity > 0 else _ZERO
    short_side = -quantity if quantity < 0 else _ZERO
    return {
        "tradingsymbol": instrument.symbol,
        "exchange": instrument.exchange,
        "instrument_token": instrument.instrument_token,
        "product": KITE_PRODUCTS[position.product],
        "quantity": quantity,
        "overnight_quantity": 0,
        "multiplier": 1,
        "average_price": average,
        "close_price": last_price,
        "last_price": last_price,
        "value": -position.cost,
        "pnl": position.realised_pnl + unrealised,
        "m2m": unrealised,
        "unrealised": unrealised,
        "realised": position.realised_pnl,
        "buy_quantity": long_side,
        "buy_price": average if long_side else _ZERO,
        "buy_value": long_side * average,
        "buy_m2m": long_side * average,
        "sell_quantity": short_side,
        "sell_price": average if short_side else _ZERO,
        "sell_value": short_side * average,
        "sell_m2m": short_side * average,
        "day_buy_quantity": long_side,
        "day_buy_price": average if long_side else _ZERO,
        "day_buy_value": long_side * average,
        "day_sell_quantity": short_side,
        "day_sell_price": average if short_side else _ZERO,
        "day_sell_value": short_side * average,
    }
