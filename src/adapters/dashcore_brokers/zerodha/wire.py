"""Kite Connect v3 response shapes the gateway reads (``reference/brokers.md`` §2.4-2.6).

Each struct declares only the fields dashcore uses; msgspec skips the rest without building
them. Every decoder is built once, at import, with ``float_hook=Decimal`` so that no JSON
number ever passes through ``float``: prices and quantities typed ``Decimal`` are parsed
exactly from the number's text. Kite's timestamps (``"YYYY-MM-DD HH:MM:SS"``, India time
without a zone) decode as naive datetimes; :mod:`dashcore_brokers.zerodha.mapping` attaches
the zone.

Every struct is ``gc=False``: decoded rows hold no reference cycles, so the garbage collector
never has to scan the thousands a listing decodes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

__all__ = [
    "Envelope",
    "KiteHolding",
    "KiteMargins",
    "KiteOrder",
    "KitePosition",
    "KiteProfile",
    "KiteTrade",
    "holdings_decoder",
    "ltp_decoder",
    "margins_decoder",
    "order_id_decoder",
    "orders_decoder",
    "positions_decoder",
    "profile_decoder",
    "trades_decoder",
]

T = TypeVar("T")


class Envelope(msgspec.Struct, Generic[T], gc=False):
    """``{"status": "success", "data": …}``; anything else is a refusal."""

    status: str
    data: T


class KiteProfile(msgspec.Struct, gc=False):
    user_id: str
    user_name: str = ""


class _Available(msgspec.Struct, gc=False):
    cash: Decimal = Decimal(0)


class _Utilised(msgspec.Struct, gc=False):
    debits: Decimal = Decimal(0)


class KiteMargins(msgspec.Struct, gc=False):
    """One segment of ``/user/margins`` (``equity``): ``net`` is what can be used now."""

    net: Decimal
    available: _Available
    utilised: _Utilised


class KiteHolding(msgspec.Struct, gc=False):
    tradingsymbol: str
    exchange: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal
    isin: str | None = None
    t1_quantity: Decimal = Decimal(0)


class KitePosition(msgspec.Struct, gc=False):
    tradingsymbol: str
    exchange: str
    product: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal
    realised: Decimal = Decimal(0)


class _Positions(msgspec.Struct, gc=False):
    net: list[KitePosition]


class KiteOrder(msgspec.Struct, gc=False):
    order_id: str
    status: str
    exchange: str
    tradingsymbol: str
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: Decimal
    variety: str = "regular"
    price: Decimal = Decimal(0)
    trigger_price: Decimal = Decimal(0)
    average_price: Decimal = Decimal(0)
    filled_quantity: Decimal = Decimal(0)
    order_timestamp: datetime | None = None
    status_message: str | None = None
    tag: str | None = None


class KiteTrade(msgspec.Struct, gc=False):
    trade_id: str
    order_id: str
    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: Decimal
    average_price: Decimal
    fill_timestamp: datetime


class _OrderId(msgspec.Struct, gc=False):
    order_id: str


class _Ltp(msgspec.Struct, gc=False):
    last_price: Decimal


profile_decoder = msgspec.json.Decoder(Envelope[KiteProfile], float_hook=Decimal)
margins_decoder = msgspec.json.Decoder(Envelope[KiteMargins], float_hook=Decimal)
holdings_decoder = msgspec.json.Decoder(Envelope[list[KiteHolding]], float_hook=Decimal)
positions_decoder = msgspec.json.Decoder(Envelope[_Positions], float_hook=Decimal)
orders_decoder = msgspec.json.Decoder(Envelope[list[KiteOrder]], float_hook=Decimal)
"""``GET /orders`` (the day's orders) and ``GET /orders/{id}`` (one order's history, oldest
snapshot first) share this shape."""
trades_decoder = msgspec.json.Decoder(Envelope[list[KiteTrade]], float_hook=Decimal)
order_id_decoder = msgspec.json.Decoder(Envelope[_OrderId], float_hook=Decimal)
ltp_decoder = msgspec.json.Decoder(Envelope[dict[str, _Ltp]], float_hook=Decimal)
