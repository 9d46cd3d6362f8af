"""Instruments: what can be held and traded, as every provider's data is normalized to.

An instrument is identified by its ``symbol`` on an ``exchange`` (a market identifier such as
``XNAS``/``NASDAQ`` or ``NSE``); the ISIN is kept when the provider gives it. Quantities are
traded in multiples of ``lot_size`` and prices on multiples of ``tick_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Currency

__all__ = ["AssetClass", "Instrument", "InstrumentKey"]


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
        if not self.symbol or not self.exchange:
            raise InvalidInput("An instrument needs a symbol and an exchange.", field="symbol")
        if self.lot_size <= 0 or self.tick_size <= 0:
            raise InvalidInput("Lot and tick sizes are positive.", field="lot_size")
        if self.isin is not None and (len(self.isin) != 12 or not self.isin.isalnum()):
            raise InvalidInput("An ISIN is 12 letters and digits.", field="isin")

    @property
    def key(self) -> InstrumentKey:
        return InstrumentKey(self.symbol, self.exchange)

    def is_whole_lots(self, quantity: Decimal) -> bool:
        return quantity > 0 and quantity % self.lot_size == 0

    def is_on_tick(self, price: Decimal) -> bool:
        return price > 0 and price % self.tick_size == 0
