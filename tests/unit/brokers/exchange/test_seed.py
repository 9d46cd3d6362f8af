"""The seeded markets the sandboxes start from, and bulk rows for benchmarks."""

from __future__ import annotations

from decimal import Decimal

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import (
    INDIA_ACCOUNT_ID,
    US_ACCOUNT_ID,
    AssetClass,
    OrderKind,
    Side,
    SimStatus,
    TxnKind,
    india_market,
    many_rows,
    us_market,
)
from tests.unit.brokers.exchange.support import START

D = Decimal


def test_the_us_market(clock: FakeClock) -> None:
    exchange = us_market(clock)

    assert [(i.symbol, i.asset_class) for i in exchange.list_instruments()] == [
        ("AAPL", AssetClass.EQUITY),
        ("MSFT", AssetClass.EQUITY),
        ("SPY", AssetClass.ETF),
        ("VTI", AssetClass.ETF),
    ]
    assert all(i.currency == "USD" and i.instrument_token for i in exchange.list_instruments())
    account = exchange.account(US_ACCOUNT_ID)
    assert (account.number, account.kind, account.currency) == ("12345678", "MARGIN", "USD")
    assert account.cash == D("100000.00")
    assert {s: (h.quantity, h.average_price) for s, h in account.holdings.items()} == {
        "AAPL": (D(10), D(150)),
        "MSFT": (D(5), D(300)),
    }
    assert [t.kind for t in account.transactions] == [TxnKind.DEPOSIT, TxnKind.DIVIDEND]
    assert sum(t.amount for t in account.transactions) == account.cash


def test_the_indian_market(clock: FakeClock) -> None:
    exchange = india_market(clock)

    listings = [(i.exchange, i.symbol, i.isin) for i in exchange.list_instruments()]
    assert listings == [
        ("NSE", "RELIANCE", "INE002A01018"),
        ("BSE", "RELIANCE", "INE002A01018"),
        ("NSE", "TCS", "INE467B01029"),
        ("NSE", "INFY", "INE009A01021"),
        ("NSE", "HDFCBANK", "INE040A01034"),
    ]
    assert {i.tick_size for i in exchange.list_instruments()} == {D("0.05")}
    assert exchange.instrument("INFY").instrument_token == 408065
    account = exchange.account(INDIA_ACCOUNT_ID)
    assert (account.cash, account.currency, account.kind) == (D(500_000), "INR", "CASH")
    assert {s: (h.quantity, h.average_price) for s, h in account.holdings.items()} == {
        "RELIANCE": (D(10), D(2400)),
        "INFY": (D(20), D(1450)),
    }
    assert [t.kind for t in account.transactions] == [TxnKind.DEPOSIT, TxnKind.DIVIDEND]
    order = exchange.place(
        INDIA_ACCOUNT_ID, symbol="TCS", side=Side.BUY, quantity=D(1), kind=OrderKind.MARKET
    )
    assert order.status is SimStatus.FILLED
    assert order.fills[0].charges > 0


def test_seeding_is_deterministic() -> None:
    first, second = india_market(FakeClock(START)), india_market(FakeClock(START))

    assert first.list_instruments() == second.list_instruments()
    assert first.accounts() == second.accounts()


def test_many_rows_adds_holdings_and_ledger_lines(clock: FakeClock) -> None:
    exchange = us_market(clock)

    many_rows(exchange, US_ACCOUNT_ID, holdings=5_000, transactions=5_000)

    account = exchange.account(US_ACCOUNT_ID)
    assert len(account.holdings) == 5_002
    assert len(account.transactions) == 5_002
    assert {t.kind for t in account.transactions[2:]} == {
        TxnKind.DEPOSIT,
        TxnKind.INTEREST,
        TxnKind.FEE,
    }
    assert sum(t.amount for t in account.transactions) == account.cash
    assert exchange.instrument("SIM05000").exchange == "NASDAQ"
    assert exchange.last_price("SIM05000") == D(100)
