"""The exchange engine's records: instruments, orders, fills, holdings, positions, the ledger.

These are the engine's own broker-neutral shapes; each broker sandbox renders them in its wire
format. Money and quantities are ``Decimal``; instants are timezone-aware UTC from the engine's
clock. Records are owned and mutated by :class:`~dashcore_brokers.sandbox.exchange.Exchange`
only: read them, never change them from outside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

__all__ = [
    "OPEN_STATUSES",
    "AccountKind",
    "AssetClass",
    "OrderKind",
    "Product",
    "Side",
    "SimAccount",
    "SimFill",
    "SimHolding",
    "SimInstrument",
    "SimOrder",
    "SimPosition",
    "SimStatus",
    "SimTransaction",
    "TxnKind",
    "Validity",
]

_ZERO = Decimal(0)

AccountKind = Literal["CASH", "MARGIN"]


class AssetClass(StrEnum):
    """What an instrument is."""

    EQUITY = "EQUITY"
    ETF = "ETF"
    MUTUAL_FUND = "MUTUAL_FUND"
    CASH_EQUIVALENT = "CASH_EQUIVALENT"


@dataclass(frozen=True, slots=True)
class SimInstrument:
    """One listing: a symbol on an exchange.

    A symbol may be listed on several exchanges (RELIANCE on NSE and BSE); its listings share one
    last price and one holding. ``instrument_token`` is a stable numeric id (Kite's
    ``instrument_token``, Schwab's ``instrumentId``). Order quantities are whole multiples of
    ``lot_size``; order prices are whole multiples of ``tick_size``.
    """

    symbol: str
    exchange: str
    currency: str
    asset_class: AssetClass
    isin: str | None = None
    name: str = ""
    lot_size: Decimal = Decimal(1)
    tick_size: Decimal = Decimal("0.01")
    instrument_token: int = 0


class Side(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class OrderKind(StrEnum):
    """Order type. ``STOP`` becomes a market order and ``STOP_LIMIT`` a limit order once the
    last price crosses the trigger."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class Product(StrEnum):
    """How a trade is held.

    ``DELIVERY`` (Kite CNC, a US cash trade) moves holdings; ``INTRADAY`` (Kite MIS) opens a
    position squared off at the end of the day; ``MARGIN`` (Kite NRML/MTF, a US margin trade)
    opens a position that carries over.
    """

    DELIVERY = "DELIVERY"
    INTRADAY = "INTRADAY"
    MARGIN = "MARGIN"


class Validity(StrEnum):
    """How long an order works: the day, immediate-or-cancel, or until cancelled."""

    DAY = "DAY"
    IOC = "IOC"
    GTC = "GTC"


class SimStatus(StrEnum):
    """The engine's order status; each broker maps it to its own spelling."""

    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


OPEN_STATUSES = frozenset({SimStatus.OPEN, SimStatus.TRIGGER_PENDING, SimStatus.PARTIALLY_FILLED})
"""Statuses of an order that may still fill, be modified or be cancelled."""


@dataclass(slots=True)
class SimFill:
    """One execution of (part of) an order. ``charges`` is brokerage plus taxes on this fill."""

    trade_id: str
    order_id: str
    quantity: Decimal
    price: Decimal
    charges: Decimal
    at: datetime


@dataclass(slots=True)
class SimOrder:
    """An order as the exchange sees it. ``id`` is a numeric string, increasing per exchange."""

    id: str
    account_id: str
    instrument: SimInstrument
    side: Side
    kind: OrderKind
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    product: Product
    validity: Validity
    tag: str | None
    status: SimStatus
    status_message: str
    filled_quantity: Decimal
    average_price: Decimal | None
    placed_at: datetime
    updated_at: datetime
    fills: list[SimFill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """True while the order may still fill, be modified or be cancelled."""
        return self.status in OPEN_STATUSES

    @property
    def pending_quantity(self) -> Decimal:
        """Quantity still working: the unfilled rest of an open order, else zero."""
        return self.quantity - self.filled_quantity if self.is_open else _ZERO

    @property
    def cancelled_quantity(self) -> Decimal:
        """The unfilled rest of a cancelled or expired order, else zero."""
        if self.status in (SimStatus.CANCELLED, SimStatus.EXPIRED):
            return self.quantity - self.filled_quantity
        return _ZERO


@dataclass(slots=True)
class SimHolding:
    """Shares held for delivery (demat / settled securities), one per symbol.

    ``cost`` is the total cost of the shares held, so ``average_price`` is exact; a sale removes
    cost pro rata and books the difference with its proceeds in ``realised_pnl``.
    ``unsettled_quantity`` is the part bought since the last end of day (Kite ``t1_quantity``).
    """

    instrument: SimInstrument
    quantity: Decimal
    cost: Decimal
    unsettled_quantity: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO

    @property
    def average_price(self) -> Decimal:
        """Cost per share (zero when nothing is held)."""
        return self.cost / self.quantity if self.quantity else _ZERO

    @property
    def settled_quantity(self) -> Decimal:
        """Shares held less those still settling."""
        return self.quantity - self.unsettled_quantity


@dataclass(slots=True)
class SimPosition:
    """An intraday or margin position in one symbol and product; short when ``quantity < 0``.

    ``cost`` is signed like ``quantity`` (a short's cost is what it sold for), so
    ``average_price`` is positive; closing trades book ``realised_pnl``.
    """

    instrument: SimInstrument
    product: Product
    quantity: Decimal
    cost: Decimal
    realised_pnl: Decimal = _ZERO

    @property
    def average_price(self) -> Decimal:
        """Average opening price of the open quantity (zero when flat)."""
        return self.cost / self.quantity if self.quantity else _ZERO


class TxnKind(StrEnum):
    """One activity taxonomy for the cash ledger."""

    BUY = "BUY"
    SELL = "SELL"
    DIVIDEND = "DIVIDEND"
    INTEREST = "INTEREST"
    FEE = "FEE"
    TAX = "TAX"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRANSFER = "TRANSFER"
    SPLIT = "SPLIT"


@dataclass(slots=True)
class SimTransaction:
    """One ledger line. ``amount`` is the signed cash effect, charges included, so the ledger
    sums to the account's cash movements; ``charges`` is the part of it that went to charges."""

    id: str
    account_id: str
    kind: TxnKind
    at: datetime
    amount: Decimal
    instrument: SimInstrument | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    order_id: str | None = None
    description: str = ""
    charges: Decimal = _ZERO


@dataclass(slots=True)
class SimAccount:
    """A trading account with its cash, holdings, positions and ledger.

    ``margin_used`` is the cash blocked by open delivery buy orders. ``realised_pnl`` is the
    profit realised by every trade since the account opened (books dropped at the end of a day
    included). Buying power: a ``CASH``
    account spends its cash; a ``MARGIN`` account may borrow as much again (2 x cash, the Reg T
    initial requirement); both less ``margin_used`` and never below zero.
    """

    id: str
    number: str
    kind: AccountKind
    currency: str
    cash: Decimal
    margin_used: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO
    holdings: dict[str, SimHolding] = field(default_factory=dict)
    positions: dict[tuple[str, Product], SimPosition] = field(default_factory=dict)
    transactions: list[SimTransaction] = field(default_factory=list)

    @property
    def buying_power(self) -> Decimal:
        """What a new delivery buy may spend."""
        spendable = self.cash * 2 if self.kind == "MARGIN" else self.cash
        return max(_ZERO, spendable - self.margin_used)
