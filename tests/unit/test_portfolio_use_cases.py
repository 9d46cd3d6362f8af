"""The portfolio (lot ledger over stored trades, valued at quotes or last trade prices, with the
broker's average cost) and quotes through the user's connections, on memory adapters, the
brokers' real adapters on their in-process sandboxes and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from dashcore.application.portfolio import (
    GetPortfolio,
    GetQuotes,
    LatestPrices,
    PricePoint,
    PriceSource,
    QuoteFailure,
    parse_symbol,
)
from dashcore.application.trades import TradeDetails, broker_account_label
from dashcore.domain.aggregation import StoredAccount, StoredHolding
from dashcore.domain.errors import BadRequest, InvalidInput
from dashcore.domain.instruments import Instrument, InstrumentKey
from dashcore.domain.ledger import PositionPnl
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.portfolio import Account, AccountType
from dashcore.domain.trades import MANUAL_ACCOUNT
from dashcore.domain.users import User
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.aggregation import MemoryHoldingRepository, MemoryStoredAccountRepository
from dashcore_memory.connections import MemoryProviderConnectionRepository
from dashcore_memory.ledgers import MemoryLedgerSnapshots
from dashcore_memory.quotes_cache import MemoryQuoteCache
from dashcore_memory.trades import MemoryTradeRepository
from tests.unit.identity_world import CALLER
from tests.unit.orders_world import BOOKS, OrdersWorld, open_orders_world
from tests.unit.test_trade_use_cases import trades
from tests.unit.watched_uow import WatchedUnitOfWork

INFY = InstrumentKey("INFY", "NSE")
TCS = InstrumentKey("TCS", "NSE")
LTP_PATH = "/quote/ltp"
"""Where the Kite adapter asks for last prices (the sandbox's INFY is 1500.00)."""


@dataclass
class Desk:
    orders: OrdersWorld
    cache: MemoryQuoteCache
    user: User

    def uow(self) -> MemoryUnitOfWork:
        return self.orders.uow()

    def prices(self, uow: MemoryUnitOfWork) -> LatestPrices:
        return LatestPrices(
            MemoryProviderConnectionRepository(uow),
            self.orders.brokers(uow),
            self.orders.catalog,
            self.cache,
            uow,
            self.orders.clock,
        )

    def portfolio(self, uow: MemoryUnitOfWork | None = None) -> GetPortfolio:
        uow = uow or self.uow()
        return GetPortfolio(
            MemoryTradeRepository(uow),
            MemoryLedgerSnapshots(uow),
            MemoryStoredAccountRepository(uow),
            MemoryHoldingRepository(uow),
            self.prices(uow),
            uow,
        )

    def quotes(self) -> GetQuotes:
        return GetQuotes(self.prices(self.uow()))

    async def trade(
        self,
        side: OrderSide,
        quantity: str,
        price: str,
        charges: str,
        *,
        minutes: int,
        instrument: InstrumentKey = INFY,
        currency: str = "INR",
        account: str = MANUAL_ACCOUNT,
    ) -> None:
        world = self.orders.world.base
        use_case = trades(world, self.uow())
        details = TradeDetails(
            symbol=instrument.symbol,
            exchange=instrument.exchange,
            side=side,
            quantity=Decimal(quantity),
            price=Decimal(price),
            currency=currency,
            executed_at=world.clock.now() - timedelta(days=1) + timedelta(minutes=minutes),
            brokerage_charge=Decimal(charges),
            account=account,
        )
        await use_case.record(self.user.id, details, CALLER)

    def ltp_calls(self) -> int:
        requests = self.orders.world.recorders["zerodha"].requests
        return sum(1 for request in requests if request.url.path.endswith(LTP_PATH))


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    async with open_orders_world() as orders:
        user = await orders.world.add_user("investor@example.com")
        yield Desk(orders, MemoryQuoteCache(orders.clock), user)


async def hand_checked_trades(desk: Desk) -> None:
    """Buy 10 @ 100 (charges 5), buy 10 @ 120 (charges 5), sell 15 @ 130 (charges 6)."""
    await desk.trade(OrderSide.BUY, "10", "100", "5", minutes=0)
    await desk.trade(OrderSide.BUY, "10", "120", "5", minutes=1)
    await desk.trade(OrderSide.SELL, "15", "130", "6", minutes=2)


def line_of(lines: tuple[PositionPnl, ...], account: str | None = MANUAL_ACCOUNT) -> PositionPnl:
    (line,) = [line for line in lines if line.account == account]
    return line


def inr(amount: str) -> Money:
    return Money.of(amount, "INR")


@pytest.mark.parametrize(
    ("method", "realized", "basis", "unrealized"),
    [
        # FIFO: the sale takes lot 1 (1005) and half of lot 2 (602.5): 1944 - 1607.5.
        ("fifo", "336.5", "602.5", "47.5"),
        # LIFO: lot 2 (1205) and half of lot 1 (502.5): 1944 - 1707.5.
        ("lifo", "236.5", "502.5", "147.5"),
        # Average: 20 units for 2210 (110.5 each); 15 of them cost 1657.5.
        ("average", "286.5", "552.5", "97.5"),
    ],
)
async def test_pnl_by_each_method_matches_the_hand_computed_figures(
    desk: Desk, method: str, realized: str, basis: str, unrealized: str
) -> None:
    await hand_checked_trades(desk)

    report = await desk.portfolio()(desk.user.id, method)

    line = line_of(report.portfolio.positions)
    assert line.quantity == 5
    assert line.realized_pnl == inr(realized)
    assert line.cost_basis == inr(basis)
    assert line.average_cost == Money.of(Decimal(basis) / 5, "INR")
    # No connection quotes INFY: valued at the last trade's price, and flagged so.
    assert line.last_price == inr("130")
    assert line.market_value == inr("650")
    assert line.unrealized_pnl == inr(unrealized)
    assert report.prices == (PricePoint(INFY, inr("130"), PriceSource.LAST_TRADE),)
    (total,) = report.portfolio.totals
    assert total.realized_pnl + total.unrealized_pnl == inr("384")  # type: ignore[operator]


async def test_an_open_position_is_valued_at_a_connections_quote(desk: Desk) -> None:
    await hand_checked_trades(desk)
    await desk.orders.connect(desk.user, "zerodha", trade=False)

    report = await desk.portfolio()(desk.user.id, "fifo")

    line = line_of(report.portfolio.positions)
    assert line.last_price == inr("1500.00")
    assert line.market_value == inr("7500.00")
    assert line.unrealized_pnl == inr("6897.50")
    assert report.prices == (PricePoint(INFY, inr("1500.00"), PriceSource.QUOTE, "zerodha"),)
    assert report.quote_failures == ()


async def test_quotes_are_cached_for_their_ttl(desk: Desk) -> None:
    await hand_checked_trades(desk)
    await desk.orders.connect(desk.user, "zerodha", trade=False)

    await desk.portfolio()(desk.user.id, "fifo")
    desk.orders.clock.advance(seconds=4)
    await desk.quotes()(desk.user.id, ["NSE:INFY"])
    assert desk.ltp_calls() == 1
    desk.orders.clock.advance(seconds=1)
    await desk.portfolio()(desk.user.id, "lifo")
    assert desk.ltp_calls() == 2


async def test_a_long_and_a_short_that_net_to_zero_are_both_priced(desk: Desk) -> None:
    await desk.trade(OrderSide.BUY, "5", "100", "0", minutes=0, account="IRA")
    await desk.trade(OrderSide.SELL, "5", "110", "0", minutes=1)
    await desk.orders.connect(desk.user, "zerodha", trade=False)

    report = await desk.portfolio()(desk.user.id, "fifo")

    long, short = line_of(report.portfolio.positions, "IRA"), line_of(report.portfolio.positions)
    assert (long.quantity, long.unrealized_pnl) == (Decimal(5), inr("7000.00"))
    assert (short.quantity, short.unrealized_pnl) == (Decimal(-5), inr("-6950.00"))
    assert report.prices == (PricePoint(INFY, inr("1500.00"), PriceSource.QUOTE, "zerodha"),)
    (total,) = report.portfolio.totals
    assert total.unpriced == ()


async def test_a_failing_provider_is_named_and_the_last_trade_price_used(desk: Desk) -> None:
    await hand_checked_trades(desk)
    await desk.orders.connect(desk.user, "zerodha", trade=False)
    desk.orders.world.sandboxes["zerodha"].faults.add(
        FaultRule(path=LTP_PATH, kind=FaultKind.STATUS, status=503, times=None)
    )

    report = await desk.portfolio()(desk.user.id, "fifo")

    assert report.prices == (PricePoint(INFY, inr("130"), PriceSource.LAST_TRADE),)
    assert report.quote_failures == (QuoteFailure("zerodha", "provider_error"),)


async def test_a_quote_in_another_currency_than_the_trades_is_not_used(desk: Desk) -> None:
    await desk.trade(OrderSide.BUY, "1", "20", "0", minutes=0, currency="USD")
    await desk.orders.connect(desk.user, "zerodha", trade=False)

    report = await desk.portfolio()(desk.user.id, "fifo")

    assert report.prices == (PricePoint(INFY, Money.of("20", "USD"), PriceSource.LAST_TRADE),)


async def test_closed_positions_need_no_price_and_ask_no_provider(desk: Desk) -> None:
    await desk.trade(OrderSide.BUY, "2", "100", "1", minutes=0)
    await desk.trade(OrderSide.SELL, "2", "110", "1", minutes=1)
    await desk.orders.connect(desk.user, "zerodha", trade=False)

    report = await desk.portfolio()(desk.user.id, "average")

    line = line_of(report.portfolio.positions)
    assert (line.quantity, line.realized_pnl, line.market_value) == (
        Decimal(0),
        inr("18"),
        inr("0"),
    )
    assert report.prices == ()
    assert desk.ltp_calls() == 0


async def test_one_account_only_and_totals_per_currency(desk: Desk) -> None:
    await desk.trade(OrderSide.BUY, "1", "100", "0", minutes=0, account="IRA")
    await desk.trade(OrderSide.BUY, "3", "200", "0", minutes=1, instrument=TCS)
    await desk.trade(
        OrderSide.BUY,
        "2",
        "10",
        "0",
        minutes=2,
        instrument=InstrumentKey("AAPL", "US"),
        currency="USD",
    )

    everything = await desk.portfolio()(desk.user.id, "fifo")
    only_ira = await desk.portfolio()(desk.user.id, "fifo", account="IRA")

    assert {(t.currency.code, t.cost_basis.amount) for t in everything.portfolio.totals} == {
        ("INR", Decimal(700)),
        ("USD", Decimal(20)),
    }
    assert {line.account for line in only_ira.portfolio.positions} == {"IRA"}


async def test_an_unknown_cost_method_is_a_bad_request(desk: Desk) -> None:
    with pytest.raises(BadRequest) as caught:
        await desk.portfolio()(desk.user.id, "hifo")
    assert caught.value.code == "invalid_cost_method"
    assert caught.value.errors[0].field == "method"


async def test_an_account_label_that_cannot_be_one_is_refused(desk: Desk) -> None:
    with pytest.raises(InvalidInput) as caught:
        await desk.portfolio()(desk.user.id, "fifo", account=" padded ")
    assert caught.value.errors[0].field == "account"


async def test_the_brokers_reported_average_cost_is_compared_per_account(desk: Desk) -> None:
    connection = await desk.orders.connect(desk.user, "zerodha", trade=False)
    provider_account = BOOKS["zerodha"].account_id
    label = broker_account_label(connection.id, provider_account)
    await desk.trade(OrderSide.BUY, "10", "1450", "14.50", minutes=0, account=label)
    await desk.trade(OrderSide.BUY, "10", "1450", "0", minutes=1)
    now = desk.orders.clock.now()
    uow = desk.uow()
    stored = StoredAccount.from_provider(
        UUID(int=77),
        desk.user.id,
        connection.id,
        "zerodha",
        Account(provider_account, "****0001", AccountType.CASH, "INR"),
        now,
    )
    await MemoryStoredAccountRepository(uow).add(stored)
    holding = StoredHolding(
        account_id=stored.id,
        user_id=desk.user.id,
        instrument=Instrument("INFY", "NSE", Currency("INR")),
        quantity=Decimal(10),
        average_cost=inr("1450"),
        last_price=inr("1500"),
        market_value=inr("15000"),
        as_of=now,
    )
    await MemoryHoldingRepository(uow).replace(stored.id, [holding])
    await uow.commit()

    report = await desk.portfolio()(desk.user.id, "fifo")

    broker_line = line_of(report.portfolio.positions, label)
    assert broker_line.broker_average_cost == inr("1450")
    assert broker_line.average_cost_difference == inr("1.45")  # our charges per unit
    manual_line = line_of(report.portfolio.positions)
    assert manual_line.broker_average_cost is None


async def test_quotes_in_the_order_asked_with_what_no_connection_quotes(desk: Desk) -> None:
    await desk.orders.connect(desk.user, "zerodha", trade=False)
    await desk.orders.connect(desk.user, "schwab", trade=False)

    report = await desk.quotes()(desk.user.id, ["us:aapl", "NSE:INFY", "NSE:NOPE", "NSE:INFY"])

    assert [(q.instrument, q.price, q.provider) for q in report.quotes] == [
        (InstrumentKey("AAPL", "US"), Money.of("190.00", "USD"), "schwab"),
        (INFY, inr("1500.00"), "zerodha"),
    ]
    assert report.missing == (InstrumentKey("NOPE", "NSE"),)
    assert report.failures == ()


async def test_a_provider_whose_login_ended_is_a_failure_not_a_missing_symbol(
    desk: Desk,
) -> None:
    """Found by QA: with the only connection's login over, a symbol read as nobody quoting
    it, with nothing that said to log in again."""
    connection = await desk.orders.connect(desk.user, "zerodha", trade=False)
    expiry = connection.credential_expiry
    assert expiry is not None
    desk.orders.clock.set(expiry.ends_at)
    report = await desk.quotes()(desk.user.id, ["NSE:INFY"])
    assert (report.quotes, report.missing) == ((), (INFY,))
    assert report.failures == (QuoteFailure("zerodha", "reauth_required"),)


async def test_without_a_usable_connection_everything_is_missing(desk: Desk) -> None:
    report = await desk.quotes()(desk.user.id, ["NSE:INFY"])
    assert (report.quotes, report.missing, report.failures) == ((), (INFY,), ())


@pytest.mark.parametrize(
    "symbols",
    [
        [],
        ["INFY"],
        [":INFY"],
        ["NSE:"],
        [f"NSE:S{n}" for n in range(51)],
        ["NSE::INFY"],
        ["NSE:IN FY"],
        ["NSE:INFY\x00"],
        ["NSE:" + "X" * 33],
    ],
)
async def test_quote_requests_that_cannot_be_answered_name_symbols(
    desk: Desk, symbols: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await desk.quotes()(desk.user.id, symbols)
    assert caught.value.errors[0].field == "symbols"


def test_a_symbol_is_exchange_colon_symbol_upper_case() -> None:
    assert parse_symbol(" nse : infy ") == INFY
    assert parse_symbol("NSE:M&M") == InstrumentKey("M&M", "NSE")


async def test_no_transaction_is_open_while_providers_answer_a_portfolio(desk: Desk) -> None:
    """A slow provider must not hold the database (on SQLite, its single write lock)."""
    await hand_checked_trades(desk)
    await desk.orders.connect(desk.user, "zerodha", trade=False)
    uow = WatchedUnitOfWork(desk.orders.world.base.database)
    with desk.orders.world.requests_watched(uow) as sent:
        report = await desk.portfolio(uow)(desk.user.id, "fifo")
    assert report.prices == (PricePoint(INFY, inr("1500.00"), PriceSource.QUOTE, "zerodha"),)
    assert sent and [r for r in sent if r.in_transaction] == []


async def test_no_transaction_is_open_while_providers_answer_quotes(desk: Desk) -> None:
    await desk.orders.connect(desk.user, "zerodha", trade=False)
    await desk.orders.connect(desk.user, "schwab", trade=False)
    uow = WatchedUnitOfWork(desk.orders.world.base.database)
    with desk.orders.world.requests_watched(uow) as sent:
        report = await GetQuotes(desk.prices(uow))(desk.user.id, ["US:AAPL", "NSE:INFY"])
    assert len(report.quotes) == 2
    assert sent and [r for r in sent if r.in_transaction] == []
