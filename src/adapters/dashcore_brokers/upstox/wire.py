"""Upstox's trading and portfolio answers as msgspec structs, with their decoders built once
(``reference/brokers.md`` §3.4-3.6).

Only the fields dashcore reads are declared; Upstox sends many more. Every number is decoded
straight from its JSON text into ``Decimal`` (Upstox sends prices and amounts as JSON floats),
never through ``float``. Every answer but the token call is ``{"status": "success", "data": …}``
(v3 order calls add ``"metadata": {"latency": …}``, which is not read).

Every struct is ``gc=False``: decoded rows hold no reference cycles, so the garbage collector
never has to scan the thousands a listing decodes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

__all__ = [
    "FUNDS",
    "HOLDINGS",
    "LTP",
    "ORDER",
    "ORDERS",
    "ORDER_ID",
    "PLACED",
    "POSITIONS",
    "PROFILE",
    "TRADES",
    "TRADE_HISTORY",
    "Envelope",
    "FundSegment",
    "Funds",
    "HistoricalTrade",
    "HoldingRow",
    "LastPrice",
    "OrderIdData",
    "OrderRow",
    "PageInfo",
    "PlacedData",
    "PositionRow",
    "ProfileData",
    "TradeHistory",
    "TradeRow",
]

T = TypeVar("T")
_ZERO = Decimal(0)


class Envelope(msgspec.Struct, Generic[T], gc=False):
    status: str
    data: T


class ProfileData(msgspec.Struct, gc=False):
    user_id: str
    user_name: str = ""
    products: list[str] = msgspec.field(default_factory=list)


class FundSegment(msgspec.Struct, gc=False):
    """One segment of ``/v2/user/get-funds-and-margin``: ``available_margin`` is what can be
    traded with now, ``used_margin`` what open positions and orders block."""

    used_margin: Decimal = _ZERO
    available_margin: Decimal = _ZERO


class Funds(msgspec.Struct, gc=False):
    equity: FundSegment | None = None


class HoldingRow(msgspec.Struct, gc=False):
    """A ``/v2/portfolio/long-term-holdings`` line."""

    trading_symbol: str
    exchange: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal
    instrument_token: str = ""
    isin: str = ""
    company_name: str = ""


class PositionRow(msgspec.Struct, gc=False):
    """A ``/v2/portfolio/short-term-positions`` line; ``quantity`` is net (short < 0)."""

    trading_symbol: str
    exchange: str
    product: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal
    realised: Decimal = _ZERO
    instrument_token: str = ""


class PageInfo(msgspec.Struct, gc=False):
    page_number: int
    page_size: int
    total_records: int = 0
    total_pages: int = 0


class _Meta(msgspec.Struct, gc=False):
    page: PageInfo | None = None


class HistoricalTrade(msgspec.Struct, gc=False):
    """A ``/v2/charges/historical-trades`` line: ``amount`` is unsigned (price x quantity)."""

    trade_id: str
    trade_date: str
    transaction_type: str
    quantity: Decimal
    price: Decimal
    amount: Decimal
    exchange: str = ""
    symbol: str = ""
    isin: str = ""
    scrip_name: str = ""
    instrument_token: str = ""


class TradeHistory(msgspec.Struct, gc=False):
    status: str
    data: list[HistoricalTrade] = msgspec.field(default_factory=list)
    meta: _Meta | None = msgspec.field(name="metaData", default=None)


class OrderRow(msgspec.Struct, gc=False):
    """An order of the order book or ``/v2/order/details`` (latest snapshot)."""

    order_id: str
    status: str
    exchange: str
    trading_symbol: str
    instrument_token: str
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: Decimal
    filled_quantity: Decimal = _ZERO
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    average_price: Decimal | None = None
    tag: str | None = None
    status_message: str | None = None
    order_timestamp: str | None = None


class TradeRow(msgspec.Struct, gc=False):
    """An execution of ``/v2/order/trades``; ``average_price`` is the trade's price."""

    trade_id: str
    order_id: str
    quantity: Decimal
    average_price: Decimal
    exchange_timestamp: str | None = None
    order_timestamp: str | None = None


class LastPrice(msgspec.Struct, gc=False):
    last_price: Decimal
    instrument_token: str = ""


class PlacedData(msgspec.Struct, gc=False):
    """``/v3/order/place``: a list, because ``slice=true`` may split an order."""

    order_ids: list[str]


class OrderIdData(msgspec.Struct, gc=False):
    order_id: str


def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(kind, float_hook=Decimal)


PROFILE = _decoder(Envelope[ProfileData])
FUNDS = _decoder(Envelope[Funds])
HOLDINGS = _decoder(Envelope[list[HoldingRow]])
POSITIONS = _decoder(Envelope[list[PositionRow]])
TRADE_HISTORY = _decoder(TradeHistory)
ORDER = _decoder(Envelope[OrderRow])
ORDERS = _decoder(Envelope[list[OrderRow]])
TRADES = _decoder(Envelope[list[TradeRow]])
LTP = _decoder(Envelope[dict[str, LastPrice]])
PLACED = _decoder(Envelope[PlacedData])
ORDER_ID = _decoder(Envelope[OrderIdData])
