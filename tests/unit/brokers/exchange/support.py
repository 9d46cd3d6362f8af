"""Small exchanges for the engine tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import (
    INDIA_EQUITY_CHARGES,
    AssetClass,
    Exchange,
    SimInstrument,
)

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
ACCOUNT = "acct-1"


def us_exchange(clock: FakeClock, *, liquidity: Decimal | None = None) -> Exchange:
    """A USD exchange with ACME at 100.00 and an account holding 100,000.00 cash."""
    exchange = Exchange(clock, currency="USD", liquidity=liquidity)
    exchange.add_instrument(
        SimInstrument("ACME", "NYSE", "USD", AssetClass.EQUITY, instrument_token=7),
        Decimal("100.00"),
    )
    exchange.open_account(ACCOUNT, number="0001", cash=Decimal(100_000))
    return exchange


def india_exchange(clock: FakeClock) -> Exchange:
    """An INR exchange with Indian charges: TATA (tick 0.05) at 500.00 and LOT (lot 25)."""
    exchange = Exchange(clock, currency="INR", charges=INDIA_EQUITY_CHARGES)
    tick = Decimal("0.05")
    exchange.add_instrument(
        SimInstrument("TATA", "NSE", "INR", AssetClass.EQUITY, tick_size=tick), Decimal(500)
    )
    exchange.add_instrument(
        SimInstrument("LOT", "NSE", "INR", AssetClass.EQUITY, lot_size=Decimal(25), tick_size=tick),
        Decimal(100),
    )
    exchange.open_account(ACCOUNT, number="SB1", cash=Decimal(1_000_000))
    return exchange
