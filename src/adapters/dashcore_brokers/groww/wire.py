"""Groww's data and trading payloads as msgspec structs, and their decoders (built once).

Only the fields dashcore reads are declared (``reference/brokers.md`` §4.4-4.6); everything else
Groww sends is ignored. JSON numbers become ``Decimal`` straight from their text, never through
``float``. Every answer is the ``{"status": "SUCCESS", "payload": …}`` envelope; a
``FAILURE`` envelope decodes with ``payload`` absent.

Every struct is ``gc=False``: decoded rows hold no reference cycles, so the garbage collector
never has to scan the thousands a listing decodes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

__all__ = [
    "SUCCESS",
    "Envelope",
    "WireFailure",
    "WireHolding",
    "WireMargins",
    "WireOrder",
    "WireOrderAck",
    "WireOrderStatus",
    "WirePosition",
    "WireProfile",
    "WireTrade",
    "failure_decoder",
    "holdings_decoder",
    "ltp_decoder",
    "margins_decoder",
    "order_ack_decoder",
    "order_decoder",
    "order_list_decoder",
    "order_status_decoder",
    "positions_decoder",
    "profile_decoder",
    "trades_decoder",
]

SUCCESS = "SUCCESS"
T = TypeVar("T")
_ZERO = Decimal(0)


class Envelope(msgspec.Struct, Generic[T], gc=False):
    status: str
    payload: T | None = None


class _Error(msgspec.Struct, gc=False):
    code: str = ""


class WireFailure(msgspec.Struct, gc=False):
    """``{"status": "FAILURE", "error": {"code": "GA…", "message", "metadata"}}``."""

    error: _Error | None = None


class WireProfile(msgspec.Struct, gc=False):
    vendor_user_id: str = ""
    ucc: str | None = None


class WireHolding(msgspec.Struct, gc=False):
    trading_symbol: str
    quantity: Decimal
    average_price: Decimal
    isin: str | None = None


class _Holdings(msgspec.Struct, gc=False):
    holdings: list[WireHolding]


class WirePosition(msgspec.Struct, gc=False):
    trading_symbol: str
    quantity: Decimal
    product: str
    exchange: str = "NSE"
    symbol_isin: str | None = None
    net_price: Decimal | None = None
    realised_pnl: Decimal | None = None


class _Positions(msgspec.Struct, gc=False):
    positions: list[WirePosition]


class _EquityMargins(msgspec.Struct, gc=False):
    cnc_balance_available: Decimal = _ZERO


class WireMargins(msgspec.Struct, gc=False):
    clear_cash: Decimal
    net_margin_used: Decimal = _ZERO
    equity_margin_details: _EquityMargins | None = None


class WireOrder(msgspec.Struct, gc=False):
    """A full order (``/v1/order/detail/{id}`` and the rows of ``/v1/order/list``)."""

    groww_order_id: str
    trading_symbol: str
    order_status: str
    quantity: Decimal
    transaction_type: str
    order_type: str
    product: str
    exchange: str = "NSE"
    validity: str = "DAY"
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    filled_quantity: Decimal = _ZERO
    average_fill_price: Decimal | None = None
    remark: str | None = None
    created_at: str | None = None
    order_reference_id: str | None = None


class _OrderList(msgspec.Struct, gc=False):
    order_list: list[WireOrder]


class WireOrderAck(msgspec.Struct, gc=False):
    """The answer to create, modify and cancel."""

    groww_order_id: str
    order_status: str
    order_reference_id: str | None = None
    remark: str | None = None


class WireOrderStatus(msgspec.Struct, gc=False):
    """The five fields of ``/v1/order/status/…``."""

    groww_order_id: str
    order_status: str
    filled_quantity: Decimal = _ZERO
    order_reference_id: str | None = None
    remark: str | None = None


class WireTrade(msgspec.Struct, gc=False):
    groww_trade_id: str
    groww_order_id: str
    quantity: Decimal
    price: Decimal
    trade_date_time: str | None = None
    created_at: str | None = None


class _Trades(msgspec.Struct, gc=False):
    trade_list: list[WireTrade]


def _decoder(kind: type[T]) -> msgspec.json.Decoder[Envelope[T]]:
    return msgspec.json.Decoder(Envelope[kind], float_hook=Decimal)  # type: ignore[valid-type]


profile_decoder = _decoder(WireProfile)
holdings_decoder = _decoder(_Holdings)
positions_decoder = _decoder(_Positions)
margins_decoder = _decoder(WireMargins)
order_decoder = _decoder(WireOrder)
order_list_decoder = _decoder(_OrderList)
order_ack_decoder = _decoder(WireOrderAck)
order_status_decoder = _decoder(WireOrderStatus)
trades_decoder = _decoder(_Trades)
ltp_decoder = _decoder(dict[str, Decimal | None])
failure_decoder = msgspec.json.Decoder(WireFailure)
