"""Deterministic starting markets for the sandboxes, and bulk rows for benchmarks.

``us_market(clock)``: AAPL, MSFT (NASDAQ), SPY, VTI (NYSE Arca ETFs) in USD, no charges; margin
account ``sandbox-us`` (number ``12345678``) with 100,000.00 USD cash, 10 AAPL @ 150 and 5 MSFT
@ 300, whose ledger holds a deposit and an AAPL dividend.

``india_market(clock)``: RELIANCE, TCS, INFY, HDFCBANK on NSE and RELIANCE on BSE in INR (lot 1,
tick 0.05, typical Indian charges); cash account ``sandbox-in`` (number ``SB0001``) with
500,000.00 INR cash, 10 RELIANCE @ 2400 and 20 INFY @ 1450, whose ledger holds a deposit and a
RELIANCE dividend.

ISINs are the real, public ones; Indian instrument tokens are Kite's public ones.
"""

from __future__ import annotations

from decimal import Decimal

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.exchange.charges import INDIA_EQUITY_CHARGES
from dashcore_brokers.sandbox.exchange.engine import Exchange
from dashcore_brokers.sandbox.exchange.model import AssetClass, SimInstrument

__all__ = [
    "INDIA_ACCOUNT_ID",
    "US_ACCOUNT_ID",
    "india_market",
    "many_rows",
    "us_market",
]

US_ACCOUNT_ID = "sandbox-us"
INDIA_ACCOUNT_ID = "sandbox-in"

_US_LISTINGS = (
    ("AAPL", "NASDAQ", AssetClass.EQUITY, "US0378331005", "Apple Inc", 1001, "190.00"),
    ("MSFT", "NASDAQ", AssetClass.EQUITY, "US5949181045", "Microsoft Corp", 1002, "410.00"),
    ("SPY", "NYSE Arca", AssetClass.ETF, "US78462F1030", "SPDR S&P 500 ETF Trust", 1003, "520.00"),
    (
        "VTI",
        "NYSE Arca",
        AssetClass.ETF,
        "US9229087690",
        "Vanguard Total Stock Market ETF",
        1004,
        "260.00",
    ),
)

_INDIA_LISTINGS = (
    ("RELIANCE", "NSE", "INE002A01018", "Reliance Industries", 738561, "2500.00"),
    ("TCS", "NSE", "INE467B01029", "Tata Consultancy Services", 2953217, "3500.00"),
    ("INFY", "NSE", "INE009A01021", "Infosys", 408065, "1500.00"),
    ("HDFCBANK", "NSE", "INE040A01034", "HDFC Bank", 341249, "1600.00"),
    ("RELIANCE", "BSE", "INE002A01018", "Reliance Industries", 128083204, "2500.00"),
)

_INDIA_TICK = Decimal("0.05")


def us_market(clock: Clock) -> Exchange:
    """A US market with the ``sandbox-us`` margin account (see the module)."""
    exchange = Exchange(clock, currency="USD")
    for symbol, venue, asset_class, isin, name, token, price in _US_LISTINGS:
        exchange.add_instrument(
            SimInstrument(
                symbol, venue, "USD", asset_class, isin=isin, name=name, instrument_token=token
            ),
            Decimal(price),
        )
    exchange.open_account(US_ACCOUNT_ID, number="12345678", kind="MARGIN")
    exchange.seed_holding(US_ACCOUNT_ID, "AAPL", Decimal(10), Decimal(150))
    exchange.seed_holding(US_ACCOUNT_ID, "MSFT", Decimal(5), Decimal(300))
    exchange.deposit(US_ACCOUNT_ID, Decimal("99997.50"), description="ACH deposit")
    exchange.pay_dividend(US_ACCOUNT_ID, "AAPL", Decimal("0.25"))
    return exchange


def india_market(clock: Clock) -> Exchange:
    """An Indian market (NSE and BSE) with the ``sandbox-in`` cash account (see the module)."""
    exchange = Exchange(clock, currency="INR", charges=INDIA_EQUITY_CHARGES)
    for symbol, venue, isin, name, token, price in _INDIA_LISTINGS:
        exchange.add_instrument(
            SimInstrument(
                symbol,
                venue,
                "INR",
                AssetClass.EQUITY,
                isin=isin,
                name=name,
                tick_size=_INDIA_TICK,
                instrument_token=token,
            ),
            Decimal(price),
        )
    exchange.open_account(INDIA_ACCOUNT_ID, number="SB0001")
    exchange.seed_holding(INDIA_ACCOUNT_ID, "RELIANCE", Decimal(10), Decimal(2400))
    exchange.seed_holding(INDIA_ACCOUNT_ID, "INFY", Decimal(20), Decimal(1450))
    exchange.deposit(INDIA_ACCOUNT_ID, Decimal("499900.00"), description="Funds added")
    exchange.pay_dividend(INDIA_ACCOUNT_ID, "RELIANCE", Decimal(10))
    return exchange


def many_rows(
    exchange: Exchange, account_id: str, *, holdings: int = 0, transactions: int = 0
) -> None:
    """Add ``holdings`` extra holdings (new instruments ``SIM00001``…, listed on the venue of
    the exchange's first listing) and ``transactions`` extra ledger lines (deposits, interest
    and fees in turn) to an account, deterministically. Cash grows: every three lines add
    ``deposit - fee + interest`` > 0."""
    account = exchange.account(account_id)
    listings = exchange.list_instruments()
    venue = listings[0].exchange if listings else "SIM"
    for index in range(1, holdings + 1):
        symbol = f"SIM{index:05d}"
        instrument = SimInstrument(
            symbol,
            venue,
            account.currency,
            AssetClass.EQUITY,
            name=f"Simulated company {index}",
            tick_size=listings[0].tick_size if listings else Decimal("0.01"),
            instrument_token=900_000 + index,
        )
        exchange.add_instrument(instrument, Decimal(100 + index % 50))
        exchange.seed_holding(account_id, symbol, Decimal(index % 97 + 1), Decimal(90 + index % 40))
    for index in range(transactions):
        step = Decimal(index % 100 + 1)
        match index % 3:
            case 0:
                exchange.deposit(account_id, step * 10)
            case 1:
                exchange.pay_interest(account_id, step / 100)
            case _:
                exchange.charge_fee(account_id, step / 10)
