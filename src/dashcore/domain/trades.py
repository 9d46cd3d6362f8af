"""Trades and splits: what the profit-and-loss ledger is built from (issue #8).

A :class:`Trade` is one execution a user owns: a broker fill (``source=broker_fill``, carrying the
broker's trade id so that a fill is recorded once) or a trade the user records by hand for a
broker that is not connected (``source=manual``). Rules:

- the instrument is a symbol on an exchange (:class:`InstrumentKey`); its currency is the
  currency of the trade's ``price``, and every amount of a trade (charges, MTF charge, capital
  used) is in that same currency;
- ``quantity`` is a positive finite ``Decimal`` (the side says which way); ``price`` is zero or
  more per unit; ``charges`` (brokerage, exchange fees and taxes) and the MTF (margin trade
  funding) charge are zero or more; ``capital_used`` is what the user put up, zero or more;
- ``account`` labels where the trade sits: a connected account's id as text, or
  :data:`MANUAL_ACCOUNT` for trades recorded by hand;
- ``executed_at`` is an aware instant, kept in UTC.

A :class:`Split` changes how many units every holder of an instrument has from ``effective_at``
on: ``numerator`` new units for every ``denominator`` old ones (a 2-for-1 split is 2/1, a 1-for-10
reverse split 1/10). What the holding cost does not change. A :class:`RecordedSplit` is a split one
user recorded for the ledger of their own trades (``/api/v1/splits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import InstrumentKey, is_positive_decimal
from dashcore.domain.money import Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.time import ensure_utc

__all__ = [
    "ACCOUNT_MAX",
    "MANUAL_ACCOUNT",
    "RecordedSplit",
    "Split",
    "Trade",
    "TradeSource",
    "TradeType",
    "parse_account",
]

MANUAL_ACCOUNT = "manual"
"""The account label of trades recorded by hand, outside any connected broker."""

ACCOUNT_MAX = 64


class TradeType(StrEnum):
    """What was traded, as the seed's trade records classify it (equity, F&O, …)."""

    EQUITY = "equity"
    FUTURES = "futures"
    OPTIONS = "options"
    CURRENCY = "currency"
    COMMODITY = "commodity"
    OTHER = "other"


class TradeSource(StrEnum):
    BROKER_FILL = "broker_fill"
    MANUAL = "manual"


def parse_account(text: str) -> str:
    """An account label: 1 to 64 printable characters, no surrounding spaces."""
    if (
        not isinstance(text, str)
        or not text
        or len(text) > ACCOUNT_MAX
        or text != text.strip()
        or not text.isprintable()
    ):
        raise InvalidInput(
            f"An account is 1 to {ACCOUNT_MAX} printable characters.", field="account"
        )
    return text


def _check_instrument(instrument: InstrumentKey) -> None:
    if not isinstance(instrument, InstrumentKey):
        raise InvalidInput("An instrument is a symbol on an exchange.", field="instrument")
    if not instrument.symbol:
        raise InvalidInput("An instrument needs a symbol.", field="instrument.symbol")
    if not instrument.exchange:
        raise InvalidInput("An instrument needs an exchange.", field="instrument.exchange")


def _check_amount(name: str, value: Money | None, price: Money) -> None:
    if value is None:
        return
    if not isinstance(value, Money):
        raise InvalidInput(f"The {name} is an amount of money.", field=name)
    if value.currency != price.currency:
        raise InvalidInput(
            f"The {name} must be in the trade's currency ({price.currency}).", field=name
        )
    if value.amount < 0:
        raise InvalidInput(f"The {name} cannot be negative.", field=name)


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution: ``quantity`` units of ``instrument`` bought or sold at ``price`` each.
    Immutable: editing a manual trade makes a new value with the same ``id``."""

    id: UUID
    user_id: UUID
    account: str
    instrument: InstrumentKey
    side: OrderSide
    quantity: Decimal
    price: Money
    charges: Money
    type: TradeType
    executed_at: datetime
    source: TradeSource
    mtf_charge: Money | None = None
    order_id: UUID | None = None
    broker_trade_id: str | None = None
    capital_used: Money | None = None

    def __post_init__(self) -> None:
        parse_account(self.account)
        _check_instrument(self.instrument)
        if not isinstance(self.side, OrderSide):
            raise InvalidInput("The side is buy or sell.", field="side")
        if not isinstance(self.type, TradeType):
            raise InvalidInput("Not a trade type.", field="type")
        if not isinstance(self.source, TradeSource):
            raise InvalidInput("Not a trade source.", field="source")
        if not is_positive_decimal(self.quantity):
            raise InvalidInput("The quantity is a positive finite decimal.", field="quantity")
        if not isinstance(self.price, Money):
            raise InvalidInput("The price is an amount of money.", field="price")
        if self.price.amount < 0:
            raise InvalidInput("The price cannot be negative.", field="price")
        if not isinstance(self.charges, Money):
            raise InvalidInput("The charges are an amount of money.", field="charges")
        for name in ("charges", "mtf_charge", "capital_used"):
            _check_amount(name, getattr(self, name), self.price)
        object.__setattr__(self, "executed_at", ensure_utc(self.executed_at, field="executed_at"))
        broker_trade_id = self.broker_trade_id
        if broker_trade_id is not None and (
            not isinstance(broker_trade_id, str) or not broker_trade_id.strip()
        ):
            raise InvalidInput("A broker trade id cannot be blank.", field="broker_trade_id")
        if self.source is TradeSource.BROKER_FILL and self.broker_trade_id is None:
            raise InvalidInput(
                "A broker fill carries the broker's trade id.", field="broker_trade_id"
            )

    @property
    def total_charges(self) -> Money:
        """Everything the trade cost beyond its price: charges plus the MTF charge."""
        if self.mtf_charge is None:
            return self.charges
        return self.charges + self.mtf_charge

    @property
    def gross_value(self) -> Money:
        """Price × quantity, before charges."""
        return self.price * self.quantity


def _check_ratio_term(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"The split {name} is a positive whole number.", field=name)


@dataclass(frozen=True, slots=True)
class Split:
    """``numerator`` new units for every ``denominator`` old units of ``instrument``, for every
    holder, from ``effective_at`` on. Trades executed at or after ``effective_at`` are in the
    new units. The ratio is kept as two whole numbers so that 1-for-3 stays exact."""

    instrument: InstrumentKey
    numerator: int
    denominator: int
    effective_at: datetime

    def __post_init__(self) -> None:
        _check_instrument(self.instrument)
        _check_ratio_term("numerator", self.numerator)
        _check_ratio_term("denominator", self.denominator)
        if self.numerator == self.denominator:
            raise InvalidInput("A split changes the number of units.", field="numerator")
        object.__setattr__(
            self, "effective_at", ensure_utc(self.effective_at, field="effective_at")
        )


@dataclass(frozen=True, slots=True)
class RecordedSplit:
    """A :class:`Split` that ``user_id`` recorded, kept under ``id``: it applies to that user's
    ledger only. ``recorded_at`` is when it was recorded (an aware instant, kept in UTC)."""

    id: UUID
    user_id: UUID
    split: Split
    recorded_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.split, Split):
            raise InvalidInput("Not a split.", field="split")
        object.__setattr__(self, "recorded_at", ensure_utc(self.recorded_at, field="recorded_at"))
