"""Instruments: what can be held and traded, as every provider's data is normalized to.

An instrument is identified by its ``symbol`` on an ``exchange`` (a market identifier such as
``XNAS``/``NASDAQ`` or ``NSE``); the ISIN is kept when the provider gives it. Quantities are
traded in multiples of ``lot_size`` and prices on multiples of ``tick_size``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum

from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Currency

__all__ = [
    "INSTRUMENT_CODE_MAX",
    "AssetClass",
    "Instrument",
    "InstrumentKey",
    "instrument_code",
    "is_instrument_code",
    "is_positive_decimal",
]

INSTRUMENT_CODE_MAX = 32
"""Characters a symbol or exchange a person types may have."""

_WIDE = Context(prec=100)  # exact remainders for any realistic quantity or price
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]", re.ASCII)


def instrument_code(text: str) -> str:
    """A symbol or exchange as a person may type it, as dashcore keys it: compatibility-
    normalised (NFKC: full-width ``ＡＡＰＬ`` is ``AAPL``), trimmed and upper-case (``infy``
    and ``INFY`` are one instrument, on every route)."""
    return unicodedata.normalize("NFKC", text).strip().upper() if isinstance(text, str) else ""


def is_instrument_code(code: str) -> bool:
    """Whether ``code`` (as :func:`instrument_code` made it) is a symbol or exchange a person may
    name: 1 to :data:`INSTRUMENT_CODE_MAX` printable characters, no space, no colon (the
    separator of ``EXCHANGE:SYMBOL``, which ``N:SE`` or ``A:B`` would make ambiguous)."""
    return (
        0 < len(code) <= INSTRUMENT_CODE_MAX
        and code.isprintable()
        and " " not in code
        and ":" not in code
    )


def is_positive_decimal(value: object) -> bool:
    """A finite ``Decimal`` above zero (NaN and infinities are not quantities or prices)."""
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return is_positive_decimal(value) and _WIDE.remainder(value, step) == 0
    except InvalidOperation:  # beyond even that precision: not a multiple we can vouch for
        return False


class AssetClass(StrEnum):
    EQUITY = "equity"
    ETF = "etf"
    MUTUAL_FUND = "mutual_fund"
    OPTION = "option"
    FUTURE = "future"
    BOND = "bond"
    CASH_EQUIVALENT = "cash_equivalent"
    CURRENCY = "currency"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class InstrumentKey:
    """How instruments are looked up across providers: symbol on an exchange."""

    symbol: str
    exchange: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    exchange: str
    currency: Currency
    asset_class: AssetClass = AssetClass.EQUITY
    isin: str | None = None
    name: str | None = None
    lot_size: Decimal = Decimal(1)
    tick_size: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        # Adapters build thousands of these per listing: the valid case is checked with as
        # few calls as possible, the error paths name the field.
        if not self.symbol:
            raise InvalidInput("An instrument needs a symbol.", field="symbol")
        if not self.exchange:
            raise InvalidInput("An instrument needs an exchange.", field="exchange")
        lot, tick = self.lot_size, self.tick_size
        if not (type(lot) is Decimal and lot.is_finite() and lot > 0):
            raise InvalidInput("The lot_size is a positive finite decimal.", field="lot_size")
        if not (type(tick) is Decimal and tick.is_finite() and tick > 0):
            raise InvalidInput("The tick_size is a positive finite decimal.", field="tick_size")
        isin = self.isin
        if isin is not None and (len(isin) != 12 or not _ISIN.fullmatch(isin)):
            raise InvalidInput(
                "An ISIN is a country code, nine letters or digits and a check digit.",
                field="isin",
            )

    @property
    def key(self) -> InstrumentKey:
        return InstrumentKey(self.symbol, self.exchange)

    def is_whole_lots(self, quantity: Decimal) -> bool:
        return _is_multiple(quantity, self.lot_size)

    def is_on_tick(self, price: Decimal) -> bool:
        return _is_multiple(price, self.tick_size)
