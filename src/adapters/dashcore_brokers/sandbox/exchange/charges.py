"""What a fill costs beyond its price: brokerage and transaction taxes.

Charges are computed per fill and rounded half-up to the currency's cents (paise). Brokerage is
``brokerage_rate`` of the fill's value, capped per order at ``brokerage_cap`` across all of the
order's fills. Taxes: delivery and margin trades pay ``delivery_tax_rate`` on both sides; intraday
trades pay ``intraday_sell_tax_rate`` on the sell side only (India's securities transaction tax).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dashcore_brokers.sandbox.exchange.model import Product, Side

__all__ = ["INDIA_EQUITY_CHARGES", "ZERO_CHARGES", "ChargeSchedule"]

_ZERO = Decimal(0)
_CENT = Decimal("0.01")


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ChargeSchedule:
    """A broker's charges on equity trades; every rate is a fraction of trade value."""

    brokerage_rate: Decimal = _ZERO
    brokerage_cap: Decimal | None = None
    delivery_tax_rate: Decimal = _ZERO
    intraday_sell_tax_rate: Decimal = _ZERO

    def __post_init__(self) -> None:
        rates = (self.brokerage_rate, self.delivery_tax_rate, self.intraday_sell_tax_rate)
        if any(rate < 0 for rate in rates):
            raise ValueError("charge rates must not be negative")
        if self.brokerage_cap is not None and self.brokerage_cap < 0:
            raise ValueError("the brokerage cap must not be negative")

    def brokerage(self, value: Decimal, already_charged: Decimal = _ZERO) -> Decimal:
        """Brokerage on a fill worth ``value`` of an order that has paid ``already_charged``."""
        fee = _money(value * self.brokerage_rate)
        if self.brokerage_cap is not None:
            fee = min(fee, max(_ZERO, self.brokerage_cap - already_charged))
        return fee

    def tax(self, product: Product, side: Side, value: Decimal) -> Decimal:
        """Transaction tax on a fill worth ``value``."""
        if product is Product.INTRADAY:
            return _money(value * self.intraday_sell_tax_rate) if side is Side.SELL else _ZERO
        return _money(value * self.delivery_tax_rate)


ZERO_CHARGES = ChargeSchedule()
"""No charges (US online brokers charge no commission on equities)."""

INDIA_EQUITY_CHARGES = ChargeSchedule(
    brokerage_rate=Decimal("0.0003"),
    brokerage_cap=Decimal(20),
    delivery_tax_rate=Decimal("0.001"),
    intraday_sell_tax_rate=Decimal("0.00025"),
)
"""A typical Indian discount broker: 0.03 % brokerage capped at 20 INR per order, STT 0.1 % on
delivery (both sides) and 0.025 % on the intraday sell side."""
