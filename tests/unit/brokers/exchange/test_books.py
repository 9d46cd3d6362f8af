"""Cash, holdings, positions, charges, the ledger and the end of the day on the exchange engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import (
    AssetClass,
    ChargeSchedule,
    Exchange,
    OrderKind,
    Product,
    Side,
    SimInstrument,
    SimStatus,
    TxnKind,
    Validity,
)
from tests.unit.brokers.exchange.support import ACCOUNT, START

D = Decimal


def trade(
    exchange: Exchange,
    side: Side,
    quantity: str,
    *,
    symbol: str = "ACME",
    product: Product = Product.DELIVERY,
) -> None:
    order = exchange.place(
        ACCOUNT,
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        kind=OrderKind.MARKET,
        product=product,
    )
    assert order.status is SimStatus.FILLED, order.status_message


# Instruments and prices -----------------------------------------------------------------------


def test_instruments_and_prices(us: Exchange) -> None:
    [acme] = us.list_instruments()

    assert us.instrument("ACME") is acme
    assert us.last_price("ACME") == D("100.00")
    with pytest.raises(KeyError, match="unknown instrument: NOPE"):
        us.instrument("NOPE")
    with pytest.raises(KeyError):
        us.last_price("NOPE")
    with pytest.raises(KeyError):
        us.set_price("NOPE", D(1))


@pytest.mark.parametrize("price", [D(0), D(-1), D("NaN"), D("100.001")])
def test_a_price_move_must_be_positive_and_on_the_tick(us: Exchange, price: Decimal) -> None:
    with pytest.raises(ValueError, match="price must be"):
        us.set_price("ACME", price)
    assert us.last_price("ACME") == D(100)


def test_listing_rules(us: Exchange) -> None:
    with pytest.raises(ValueError, match="trades in USD, not INR"):
        us.add_instrument(SimInstrument("X", "NSE", "INR", AssetClass.EQUITY), D(1))
    with pytest.raises(ValueError, match="already listed on NYSE"):
        us.add_instrument(SimInstrument("ACME", "NYSE", "USD", AssetClass.EQUITY), D(1))
    with pytest.raises(ValueError, match="lot size"):
        us.add_instrument(SimInstrument("Y", "NYSE", "USD", AssetClass.EQUITY, lot_size=D(0)), D(1))


# Cash and the ledger --------------------------------------------------------------------------


def test_cash_movements_are_booked_in_the_ledger(us: Exchange, clock: FakeClock) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(10), D(80))
    clock.advance(hours=1)
    us.deposit(ACCOUNT, D("250.50"))
    us.withdraw(ACCOUNT, D("50.50"))
    dividend = us.pay_dividend(ACCOUNT, "ACME", D("0.37"))
    us.pay_interest(ACCOUNT, D("1.25"))
    us.charge_fee(ACCOUNT, D("2.00"), description="Statement fee")

    account = us.account(ACCOUNT)
    assert [(t.kind, t.amount) for t in account.transactions] == [
        (TxnKind.DEPOSIT, D(100_000)),
        (TxnKind.DEPOSIT, D("250.50")),
        (TxnKind.WITHDRAWAL, D("-50.50")),
        (TxnKind.DIVIDEND, D("3.70")),
        (TxnKind.INTEREST, D("1.25")),
        (TxnKind.FEE, D("-2.00")),
    ]
    assert account.cash == D("100202.95")
    assert (dividend.quantity, dividend.price, dividend.instrument) == (
        D(10),
        D("0.37"),
        us.instrument("ACME"),
    )
    assert dividend.at == clock.now()
    assert [t.id for t in account.transactions] == ["1", "2", "3", "4", "5", "6"]


def test_bad_cash_movements_raise(us: Exchange) -> None:
    with pytest.raises(ValueError, match="positive"):
        us.deposit(ACCOUNT, D(0))
    with pytest.raises(ValueError, match="positive"):
        us.charge_fee(ACCOUNT, D(-3))
    with pytest.raises(ValueError, match="insufficient funds"):
        us.withdraw(ACCOUNT, D("100000.01"))
    with pytest.raises(ValueError, match="holds no ACME"):
        us.pay_dividend(ACCOUNT, "ACME", D(1))
    with pytest.raises(KeyError, match="unknown account"):
        us.deposit("ghost", D(1))
    assert us.account(ACCOUNT).cash == D(100_000)


def test_cash_blocked_by_open_buys_cannot_be_withdrawn(us: Exchange) -> None:
    us.place(
        ACCOUNT, symbol="ACME", side=Side.BUY, quantity=D(900), kind=OrderKind.LIMIT, price=D(100)
    )
    with pytest.raises(ValueError, match="insufficient funds"):
        us.withdraw(ACCOUNT, D(20_000))


def test_accounts(us: Exchange) -> None:
    other = us.open_account("acct-2", number="0002", kind="MARGIN")

    assert us.accounts() == [us.account(ACCOUNT), other]
    assert (other.cash, other.transactions, other.currency) == (D(0), [], "USD")
    with pytest.raises(ValueError, match="already exists"):
        us.open_account("acct-2", number="0003")


# Holdings and positions -----------------------------------------------------------------------


def test_delivery_trades_move_the_holding_at_its_average_cost(us: Exchange) -> None:
    trade(us, Side.BUY, "10")
    us.set_price("ACME", D(160))
    trade(us, Side.BUY, "10")
    holding = us.account(ACCOUNT).holdings["ACME"]
    assert (holding.quantity, holding.average_price, holding.cost) == (D(20), D(130), D(2600))

    us.set_price("ACME", D(170))
    trade(us, Side.SELL, "5")

    assert (holding.quantity, holding.average_price) == (D(15), D(130))
    assert holding.realised_pnl == D(200)  # 5 x (170 - 130)
    assert us.account(ACCOUNT).cash == D(100_000) - D(1000) - D(1600) + D(850)
    assert [
        (t.kind, t.quantity, t.price, t.amount) for t in us.account(ACCOUNT).transactions[1:]
    ] == [
        (TxnKind.BUY, D(10), D(100), D(-1000)),
        (TxnKind.BUY, D(10), D(160), D(-1600)),
        (TxnKind.SELL, D(5), D(170), D(850)),
    ]


def test_intraday_positions_are_signed_and_realise_pnl(us: Exchange) -> None:
    trade(us, Side.SELL, "10", product=Product.INTRADAY)
    position = us.account(ACCOUNT).positions[("ACME", Product.INTRADAY)]
    assert (position.quantity, position.average_price) == (D(-10), D(100))

    us.set_price("ACME", D(90))
    trade(us, Side.BUY, "15", product=Product.INTRADAY)

    assert (position.quantity, position.average_price) == (D(5), D(90))
    assert position.realised_pnl == D(100)  # short 10 from 100, covered at 90
    assert us.account(ACCOUNT).cash == D(100_000) + D(1000) - D(1350)
    assert "ACME" not in us.account(ACCOUNT).holdings


def test_india_charges_brokerage_capped_per_order_plus_stt(clock: FakeClock) -> None:
    from tests.unit.brokers.exchange.support import india_exchange

    exchange = india_exchange(clock)
    small = exchange.place(
        ACCOUNT, symbol="TATA", side=Side.BUY, quantity=D(10), kind=OrderKind.MARKET
    )
    large = exchange.place(
        ACCOUNT, symbol="TATA", side=Side.BUY, quantity=D(200), kind=OrderKind.MARKET
    )
    intraday_sell = exchange.place(
        ACCOUNT,
        symbol="TATA",
        side=Side.SELL,
        quantity=D(10),
        kind=OrderKind.MARKET,
        product=Product.INTRADAY,
    )

    # 5,000: brokerage 1.50 + STT 5.00; 100,000: brokerage 30 capped at 20 + STT 100.
    assert small.fills[0].charges == D("6.50")
    assert large.fills[0].charges == D("120.00")
    # intraday sell of 5,000: brokerage 1.50 + STT 0.025 % = 1.25.
    assert intraday_sell.fills[0].charges == D("2.75")
    buy_line = exchange.account(ACCOUNT).transactions[1]
    assert (buy_line.amount, buy_line.charges) == (D("-5006.50"), D("6.50"))


def test_the_brokerage_cap_holds_across_an_orders_partial_fills(clock: FakeClock) -> None:
    schedule = ChargeSchedule(brokerage_rate=D("0.01"), brokerage_cap=D(15))
    exchange = Exchange(clock, currency="USD", charges=schedule, liquidity=D(10))
    exchange.add_instrument(SimInstrument("ACME", "NYSE", "USD", AssetClass.EQUITY), D(100))
    exchange.open_account(ACCOUNT, number="1", cash=D(10_000))
    order = exchange.place(
        ACCOUNT, symbol="ACME", side=Side.BUY, quantity=D(30), kind=OrderKind.MARKET
    )
    exchange.set_price("ACME", D(100))
    exchange.set_price("ACME", D(100))

    assert [f.charges for f in order.fills] == [D(10), D(5), D(0)]


def test_a_charge_schedule_refuses_negative_rates() -> None:
    with pytest.raises(ValueError, match="rates must not be negative"):
        ChargeSchedule(brokerage_rate=D("-0.1"))
    with pytest.raises(ValueError, match="cap must not be negative"):
        ChargeSchedule(brokerage_cap=D(-1))


# End of day -----------------------------------------------------------------------------------


def test_end_of_day_expires_day_orders_and_keeps_gtc(us: Exchange, clock: FakeClock) -> None:
    day = us.place(
        ACCOUNT, symbol="ACME", side=Side.BUY, quantity=D(1), kind=OrderKind.LIMIT, price=D(90)
    )
    gtc = us.place(
        ACCOUNT,
        symbol="ACME",
        side=Side.BUY,
        quantity=D(1),
        kind=OrderKind.LIMIT,
        price=D(90),
        validity=Validity.GTC,
    )
    clock.advance(hours=8)

    us.end_of_day()

    assert (day.status, day.updated_at) == (SimStatus.EXPIRED, clock.now())
    assert day.cancelled_quantity == D(1)
    assert gtc.status is SimStatus.OPEN
    assert us.account(ACCOUNT).margin_used == D(90)
    us.set_price("ACME", D(90))
    assert gtc.status is SimStatus.FILLED


def test_end_of_day_squares_off_intraday_and_keeps_margin_positions(us: Exchange) -> None:
    trade(us, Side.BUY, "10", product=Product.INTRADAY)
    trade(us, Side.BUY, "4", product=Product.MARGIN)
    us.set_price("ACME", D(110))

    us.end_of_day()

    account = us.account(ACCOUNT)
    assert list(account.positions) == [("ACME", Product.MARGIN)]
    square_off = us.orders(ACCOUNT)[-1]
    assert (square_off.side, square_off.quantity, square_off.status) == (
        Side.SELL,
        D(10),
        SimStatus.FILLED,
    )
    assert square_off.status_message == "square-off at the end of the day"
    assert square_off.average_price == D(110)
    assert account.cash == D(100_000) - D(1000) - D(400) + D(1100)


def test_end_of_day_settles_holdings_and_drops_sold_out_ones(us: Exchange) -> None:
    us.seed_holding(ACCOUNT, "ACME", D(5), D(80))
    trade(us, Side.BUY, "3")
    holding = us.account(ACCOUNT).holdings["ACME"]
    assert (holding.quantity, holding.unsettled_quantity, holding.settled_quantity) == (
        D(8),
        D(3),
        D(5),
    )

    us.end_of_day()
    assert holding.unsettled_quantity == 0

    trade(us, Side.SELL, "8")
    assert us.account(ACCOUNT).holdings["ACME"].quantity == 0
    us.end_of_day()
    assert us.account(ACCOUNT).holdings == {}


def test_times_come_from_the_clock(us: Exchange, clock: FakeClock) -> None:
    order = us.place(
        ACCOUNT, symbol="ACME", side=Side.BUY, quantity=D(1), kind=OrderKind.LIMIT, price=D(90)
    )
    clock.advance(minutes=3)
    [fill] = us.set_price("ACME", D(90))

    assert order.placed_at == START
    assert fill.at == order.updated_at == clock.now()
    assert fill.at.tzinfo is not None
