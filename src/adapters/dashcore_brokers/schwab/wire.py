"""Schwab Trader and market-data bodies as msgspec structs (``reference/brokers.md`` §1.4-1.6).

Only the fields dashcore reads are declared; everything else is skipped while decoding. Field
names follow Schwab's camelCase (``rename="camel"``). Every number a user relies on is a
``Decimal`` decoded from the JSON text itself (``float_hook=Decimal`` for any untyped number),
never through ``float``. The decoders are built once, here.

Schwab sends no envelope: bodies are bare arrays and objects.

Every struct is ``gc=False``: decoded rows hold no reference cycles, so the garbage collector
never has to scan the thousands a listing decodes.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = [
    "ACCOUNT",
    "ACCOUNTS",
    "ACCOUNT_NUMBERS",
    "ORDER",
    "ORDERS",
    "QUOTES",
    "TRANSACTIONS",
    "WireAccount",
    "WireAccountNumber",
    "WireActivity",
    "WireBalances",
    "WireExecutionLeg",
    "WireInstrument",
    "WireLeg",
    "WireOrder",
    "WireOrderId",
    "WirePosition",
    "WireQuote",
    "WireQuoteEntry",
    "WireSecuritiesAccount",
    "WireTransaction",
    "WireTransferItem",
]

_ZERO = Decimal(0)


class WireAccountNumber(msgspec.Struct, gc=False, rename="camel"):
    """``GET /accounts/accountNumbers``: the plain number and the hash URLs must use."""

    account_number: str
    hash_value: str


class WireInstrument(msgspec.Struct, gc=False, rename="camel"):
    asset_type: str = "EQUITY"
    symbol: str = ""
    description: str | None = None
    type: str | None = None


class WirePosition(msgspec.Struct, gc=False, rename="camel"):
    instrument: WireInstrument
    long_quantity: Decimal = _ZERO
    short_quantity: Decimal = _ZERO
    average_price: Decimal | None = None
    average_long_price: Decimal | None = None
    average_short_price: Decimal | None = None
    market_value: Decimal | None = None


class WireBalances(msgspec.Struct, gc=False, rename="camel"):
    """The keys dashcore reads from ``initialBalances`` / ``currentBalances``: margin accounts
    carry ``cashBalance``, ``buyingPower`` and ``marginBalance``; cash accounts ``totalCash``
    and ``cashAvailableForTrading``."""

    cash_balance: Decimal | None = None
    total_cash: Decimal | None = None
    buying_power: Decimal | None = None
    cash_available_for_trading: Decimal | None = None
    margin_balance: Decimal | None = None


class WireSecuritiesAccount(msgspec.Struct, gc=False, rename="camel"):
    type: str
    account_number: str
    positions: list[WirePosition] = msgspec.field(default_factory=list)
    initial_balances: WireBalances | None = None
    current_balances: WireBalances | None = None


class WireAccount(msgspec.Struct, gc=False, rename="camel"):
    securities_account: WireSecuritiesAccount


class WireLeg(msgspec.Struct, gc=False, rename="camel"):
    instruction: str
    instrument: WireInstrument
    quantity: Decimal


class WireExecutionLeg(msgspec.Struct, gc=False, rename="camel"):
    price: Decimal
    quantity: Decimal
    time: str


class WireActivity(msgspec.Struct, gc=False, rename="camel"):
    activity_type: str = ""
    execution_legs: list[WireExecutionLeg] = msgspec.field(default_factory=list)


class WireOrderId(msgspec.Struct, gc=False, rename="camel"):
    """An order of ``replacingOrderCollection``: only its id is read."""

    order_id: int


class WireOrder(msgspec.Struct, gc=False, rename="camel"):
    order_id: int
    status: str
    order_type: str
    quantity: Decimal
    order_leg_collection: list[WireLeg]
    duration: str = "DAY"
    filled_quantity: Decimal = _ZERO
    price: Decimal | None = None
    stop_price: Decimal | None = None
    entered_time: str | None = None
    status_description: str | None = None
    order_activity_collection: list[WireActivity] = msgspec.field(default_factory=list)
    replacing_order_collection: list[WireOrderId] = msgspec.field(default_factory=list)


class WireTransferItem(msgspec.Struct, gc=False, rename="camel"):
    instrument: WireInstrument | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    fee_type: str | None = None


class WireTransaction(msgspec.Struct, gc=False, rename="camel"):
    activity_id: int
    time: str
    type: str
    net_amount: Decimal = _ZERO
    description: str = ""
    order_id: int | None = None
    transfer_items: list[WireTransferItem] = msgspec.field(default_factory=list)


class WireQuote(msgspec.Struct, gc=False, rename="camel"):
    last_price: Decimal | None = None


class WireQuoteEntry(msgspec.Struct, gc=False, rename="camel"):
    """One symbol of ``GET /marketdata/v1/quotes``; every field optional so that a non-quote
    key of the answer (an ``errors`` report, UNCONFIRMED) decodes to an entry without a quote."""

    symbol: str | None = None
    quote: WireQuote | None = None


ACCOUNT_NUMBERS = msgspec.json.Decoder(list[WireAccountNumber], float_hook=Decimal)
ACCOUNTS = msgspec.json.Decoder(list[WireAccount], float_hook=Decimal)
ACCOUNT = msgspec.json.Decoder(WireAccount, float_hook=Decimal)
ORDER = msgspec.json.Decoder(WireOrder, float_hook=Decimal)
ORDERS = msgspec.json.Decoder(list[WireOrder], float_hook=Decimal)
TRANSACTIONS = msgspec.json.Decoder(list[WireTransaction], float_hook=Decimal)
QUOTES = msgspec.json.Decoder(dict[str, WireQuoteEntry], float_hook=Decimal)
