"""The Upstox gateway through the real adapter against the Upstox sandbox and its exchange
(brokers.md §3.4-3.7): what goes on the wire, what comes back normalized, and every failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from dashcore.domain.capabilities import Operation
from dashcore.domain.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    NotSupported,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money
from dashcore.domain.orders import (
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.portfolio import AccountType, ActivityType
from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import HttpPolicy, RetryPolicy
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID, OrderKind, Side, many_rows
from dashcore_brokers.sandbox.exchange import Product as SimProduct
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_brokers.sandbox.upstox import UPSTOX_USER, UpstoxSandbox
from dashcore_brokers.upstox import PLUGIN
from dashcore_brokers.upstox.gateway import UPSTOX_CAPABILITIES, UpstoxGateway, UpstoxSession
from dashcore_brokers.upstox.mapping import INR, ORDER_STATUSES, Instruments, order_from
from dashcore_brokers.upstox.wire import ORDER

from .conftest import open_session
from .harness import Session, _upstox_login
from .timing import FakeTiming
from .wire import json_body, query

ACCOUNT = UPSTOX_USER.user_id
RELIANCE = Instrument("RELIANCE", "NSE", INR, isin="INE002A01018", tick_size=Decimal("0.05"))
TCS = Instrument("TCS", "NSE", INR, isin="INE467B01029", tick_size=Decimal("0.05"))
NO_ISIN = Instrument("SOMETHING", "NSE", INR)


@dataclass
class Upstox:
    session: Session
    sandbox: UpstoxSandbox
    gateway: UpstoxSession

    @property
    def requests(self) -> int:
        return len(self.session.recorder.requests)


@pytest.fixture
async def upstox(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Upstox]:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        credentials = await _upstox_login(session)
        assert session.auth.gateway is not None
        gateway = session.auth.gateway.session(credentials)
        assert isinstance(gateway, UpstoxSession)
        sandbox = session.sandbox
        assert isinstance(sandbox, UpstoxSandbox)
        yield Upstox(session, sandbox, gateway)


def order(
    *,
    type: OrderType = OrderType.MARKET,
    quantity: int = 2,
    reference: str = "ref-1",
    limit: str | None = None,
    stop: str | None = None,
    instrument: Instrument = RELIANCE,
    **changes: object,
) -> OrderRequest:
    request = OrderRequest(
        provider_account_id=ACCOUNT,
        instrument=instrument,
        side=OrderSide.BUY,
        type=type,
        quantity=Decimal(quantity),
        client_reference=reference,
        limit_price=None if limit is None else Decimal(limit),
        stop_price=None if stop is None else Decimal(stop),
    )
    return replace(request, **changes)  # type: ignore[arg-type]


# Accounts ------------------------------------------------------------------------------------


async def test_the_login_is_one_account_read_from_the_profile(upstox: Upstox) -> None:
    [account] = await upstox.gateway.accounts.accounts()
    assert account.provider_account_id == ACCOUNT
    assert account.masked_number == "****X001"
    assert account.type is AccountType.MARGIN  # the profile lists the MTF product
    assert account.base_currency == "INR"
    sent = upstox.session.recorder.last("GET", "/v2/user/profile")
    assert sent.headers["authorization"].startswith("Bearer ")
    assert sent.headers["api-version"] == "2.0"


async def test_balance_is_the_equity_segment(upstox: Upstox) -> None:
    exchange = upstox.sandbox.exchange
    exchange.place(
        INDIA_ACCOUNT_ID, symbol="TCS", side=Side.BUY, quantity=Decimal(1),
        kind=OrderKind.LIMIT, price=Decimal("3000.05"),
    )  # fmt: skip
    balance = await upstox.gateway.accounts.balance(ACCOUNT)
    account = exchange.account(INDIA_ACCOUNT_ID)
    assert balance.margin_used == Money(account.margin_used, INR)
    assert balance.margin_used.amount > 0
    assert balance.buying_power == Money(account.buying_power, INR)
    assert balance.cash == Money(account.cash, INR)
    sent = upstox.session.recorder.last("GET", "/v2/user/get-funds-and-margin")
    assert query(sent.url) == {"segment": "SEC"}


async def test_holdings_are_normalized_exactly(upstox: Upstox) -> None:
    page = await upstox.gateway.accounts.holdings(ACCOUNT)
    assert page.next_cursor is None
    by_symbol = {holding.instrument.symbol: holding for holding in page.items}
    reliance = by_symbol["RELIANCE"]
    assert reliance.instrument.isin == "INE002A01018"
    assert reliance.instrument.exchange == "NSE"
    assert reliance.quantity == Decimal(10)
    assert reliance.average_cost == Money(Decimal(2400), INR)
    assert reliance.last_price == Money(Decimal(2500), INR)
    assert reliance.market_value == Money(Decimal(25000), INR)
    assert by_symbol["INFY"].quantity == Decimal(20)


async def test_prices_stay_exact_decimals(upstox: Upstox) -> None:
    exchange = upstox.sandbox.exchange
    # 0.10 + 0.20 in binary floating point is 0.30000000000000004; in Decimal it stays 0.30.
    exchange.set_price("INFY", Decimal("0.10") + Decimal("0.20"))
    prices = await upstox.gateway.quotes.last_prices([RELIANCE, TCS, NO_ISIN])
    assert prices == {
        "NSE:RELIANCE": Money(Decimal("2500.00"), INR),
        "NSE:TCS": Money(Decimal("3500.00"), INR),
    }
    infy = Instrument("INFY", "NSE", INR, isin="INE009A01021")
    [price] = (await upstox.gateway.quotes.last_prices([infy])).values()
    assert price.amount == Decimal("0.30")
    assert str(price.amount) == "0.30"
    holdings = await upstox.gateway.accounts.holdings(ACCOUNT)
    [held] = [h for h in holdings.items if h.instrument.symbol == "INFY"]
    assert held.market_value == Money(Decimal("6.00"), INR)
    sent = upstox.session.recorder.last("GET", "/v3/market-quote/ltp")
    assert query(sent.url) == {"instrument_key": "NSE_EQ|INE009A01021"}


async def test_holdings_pages_yield_every_row_once_and_rereading_is_stable(
    upstox: Upstox,
) -> None:
    many_rows(upstox.sandbox.exchange, INDIA_ACCOUNT_ID, holdings=1100)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await upstox.gateway.accounts.holdings(ACCOUNT, cursor=cursor)
        again = await upstox.gateway.accounts.holdings(ACCOUNT, cursor=cursor)
        assert again == page
        seen.extend(holding.instrument.symbol for holding in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1102
    with pytest.raises(InvalidInput):
        await upstox.gateway.accounts.holdings(ACCOUNT, cursor="not-a-cursor")


async def test_transactions_are_the_trade_history_paged_by_upstox(upstox: Upstox) -> None:
    exchange = upstox.sandbox.exchange
    exchange.deposit(INDIA_ACCOUNT_ID, Decimal(2_000_000))
    for _ in range(510):
        exchange.place(
            INDIA_ACCOUNT_ID, symbol="INFY", side=Side.BUY, quantity=Decimal(1),
            kind=OrderKind.MARKET,
        )  # fmt: skip
    first = await upstox.gateway.accounts.transactions(ACCOUNT)
    assert len(first.items) == 500
    assert first.next_cursor is not None
    sent = upstox.session.recorder.last("GET", "/v2/charges/historical-trades")
    # 2026-01-05 is in financial year 2025-26: the window opens 1 April 2023.
    assert query(sent.url) == {
        "start_date": "2023-04-01",
        "end_date": "2026-01-05",
        "page_number": "1",
        "page_size": "500",
    }
    second = await upstox.gateway.accounts.transactions(ACCOUNT, cursor=first.next_cursor)
    assert second.next_cursor is None
    ids = [t.provider_transaction_id for t in (*first.items, *second.items)]
    assert len(ids) == len(set(ids)) == 510
    trade = first.items[0]
    assert trade.activity is ActivityType.BUY
    assert trade.amount == Money(Decimal("-1500.00"), INR)
    assert trade.quantity == Decimal(1)
    assert trade.instrument is not None and trade.instrument.isin == "INE009A01021"
    assert trade.occurred_at.utcoffset() is not None


async def test_positions_carry_the_product(upstox: Upstox) -> None:
    upstox.sandbox.exchange.place(
        INDIA_ACCOUNT_ID, symbol="TCS", side=Side.SELL, quantity=Decimal(3),
        kind=OrderKind.MARKET, product=SimProduct.INTRADAY,
    )  # fmt: skip
    [position] = (await upstox.gateway.accounts.positions(ACCOUNT)).items
    assert position.instrument.symbol == "TCS"
    assert position.quantity == Decimal(-3)
    assert position.is_short
    assert position.product == Product.INTRADAY.value
    assert position.average_price == Money(Decimal(3500), INR)


async def test_another_account_is_not_found_without_a_request(upstox: Upstox) -> None:
    before = upstox.requests
    with pytest.raises(NotFound):
        await upstox.gateway.accounts.holdings("SOMEONE-ELSE")
    assert upstox.requests == before


# Orders --------------------------------------------------------------------------------------


async def test_market_order_fills_and_reports_its_fills(upstox: Upstox) -> None:
    placed = await upstox.gateway.orders.place(order(quantity=2))
    sent = upstox.session.recorder.last("POST", "/v3/order/place")
    assert json_body(sent) == {
        "quantity": 2,
        "product": "D",
        "validity": "DAY",
        "price": 0,
        "tag": "ref-1",
        "instrument_token": "NSE_EQ|INE002A01018",
        "order_type": "MARKET",
        "transaction_type": "BUY",
        "disclosed_quantity": 0,
        "trigger_price": 0,
        "is_amo": False,
        "slice": False,
    }
    assert placed.status is OrderStatus.FILLED
    assert placed.provider_status == "complete"
    assert placed.filled_quantity == Decimal(2)
    assert placed.average_price == Money(Decimal(2500), INR)
    assert placed.client_reference == "ref-1"
    assert placed.instrument.symbol == "RELIANCE"  # the order book's RELIANCE-EQ
    [fill] = await upstox.gateway.orders.fills(ACCOUNT, placed.provider_order_id)
    assert fill.quantity == Decimal(2)
    assert fill.price == Money(Decimal(2500), INR)
    assert fill.provider_order_id == placed.provider_order_id
    assert fill.executed_at.utcoffset() is not None


async def test_limit_order_rests_is_modified_then_cancelled(upstox: Upstox) -> None:
    orders = upstox.gateway.orders
    placed = await orders.place(order(type=OrderType.LIMIT, limit="2400.05", validity=Validity.DAY))
    assert placed.status is OrderStatus.OPEN
    assert placed.limit_price == Decimal("2400.05")
    assert json_body(upstox.session.recorder.last("POST", "/v3/order/place"))["price"] == 2400.05

    modified = await orders.modify(
        ACCOUNT, placed.provider_order_id, OrderChange(limit_price=Decimal("2410.10"))
    )
    assert modified.status is OrderStatus.OPEN
    assert modified.limit_price == Decimal("2410.10")
    assert json_body(upstox.session.recorder.last("PUT", "/v3/order/modify")) == {
        "order_id": placed.provider_order_id,
        "quantity": 2,
        "validity": "DAY",
        "price": 2410.1,
        "order_type": "LIMIT",
        "disclosed_quantity": 0,
        "trigger_price": 0,
    }

    cancelled = await orders.cancel(ACCOUNT, placed.provider_order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    sent = upstox.session.recorder.last("DELETE", "/v3/order/cancel")
    assert query(sent.url) == {"order_id": placed.provider_order_id}
    with pytest.raises(Conflict):
        await orders.cancel(ACCOUNT, placed.provider_order_id)
    with pytest.raises(Conflict) as final:
        await orders.modify(ACCOUNT, placed.provider_order_id, OrderChange(quantity=Decimal(3)))
    assert final.value.code == "order_not_open", "as Groww and Schwab answer"


async def test_a_refused_modify_says_upstoxs_reason(upstox: Upstox) -> None:
    orders = upstox.gateway.orders
    placed = await orders.place(order(type=OrderType.LIMIT, limit="2400.05", validity=Validity.DAY))
    with capture_logs() as logs, pytest.raises(InvalidInput) as refused:
        await orders.modify(ACCOUNT, placed.provider_order_id, OrderChange(quantity=Decimal(10**6)))
    assert refused.value.code == "provider_invalid_input"
    assert refused.value.message.startswith(
        "Upstox refused the request (UDAPI100038): insufficient funds: needs "
    )
    assert "insufficient" not in repr(logs)
    assert (await orders.get(ACCOUNT, placed.provider_order_id)).quantity == Decimal(2)


async def test_a_partial_fill_is_partially_filled(upstox: Upstox) -> None:
    exchange = upstox.sandbox.exchange
    exchange.liquidity = Decimal(4)
    placed = await upstox.gateway.orders.place(
        order(type=OrderType.LIMIT, limit="3400", quantity=10, instrument=TCS)
    )
    assert placed.status is OrderStatus.OPEN
    exchange.set_price("TCS", Decimal(3400))
    now = await upstox.gateway.orders.get(ACCOUNT, placed.provider_order_id)
    assert now.status is OrderStatus.PARTIALLY_FILLED
    assert now.provider_status == "open"
    assert now.filled_quantity == Decimal(4)
    assert placed.moved_to(now.status, now.provider_status).status is now.status
    exchange.set_price("TCS", Decimal("3399.95"))
    exchange.set_price("TCS", Decimal(3400))
    done = await upstox.gateway.orders.get(ACCOUNT, placed.provider_order_id)
    assert done.status is OrderStatus.FILLED
    fills = await upstox.gateway.orders.fills(ACCOUNT, placed.provider_order_id)
    assert sum(fill.quantity for fill in fills) == Decimal(10)


async def test_stop_orders_wait_for_their_trigger(upstox: Upstox) -> None:
    placed = await upstox.gateway.orders.place(
        order(type=OrderType.STOP_LIMIT, stop="2600", limit="2605")
    )
    assert placed.status is OrderStatus.OPEN
    assert placed.provider_status == "trigger pending"
    assert (placed.stop_price, placed.limit_price) == (Decimal(2600), Decimal(2605))
    body = json_body(upstox.session.recorder.last("POST", "/v3/order/place"))
    assert (body["order_type"], body["trigger_price"], body["price"]) == ("SL", 2600, 2605)


async def test_rejected_orders_read_back_rejected_with_the_reason(upstox: Upstox) -> None:
    placed = await upstox.gateway.orders.place(order(quantity=100_000))
    assert placed.status is OrderStatus.REJECTED
    assert placed.status_message


async def test_order_list_pages_and_finds_by_client_reference(upstox: Upstox) -> None:
    orders = upstox.gateway.orders
    for index in range(3):
        await orders.place(order(reference=f"list-{index}", quantity=1))
    listed = await orders.list(ACCOUNT)
    assert [o.client_reference for o in listed.items] == ["list-0", "list-1", "list-2"]
    found = await orders.find_by_client_reference(ACCOUNT, order(reference="list-1"))
    assert found is not None and found.client_reference == "list-1"
    assert await orders.find_by_client_reference(ACCOUNT, order(reference="never")) is None


async def test_an_unknown_order_is_not_found(upstox: Upstox) -> None:
    with pytest.raises(NotFound):
        await upstox.gateway.orders.get(ACCOUNT, "260105999999999")
    with pytest.raises(NotFound):
        await upstox.gateway.orders.cancel(ACCOUNT, "260105999999999")


async def test_unsupported_capabilities_are_refused_before_any_request(upstox: Upstox) -> None:
    before = upstox.requests
    with pytest.raises(NotSupported) as refused:
        await upstox.gateway.orders.place(order(validity=Validity.GTC))
    assert refused.value.code == "unsupported_validity"
    with pytest.raises(InvalidInput):
        await upstox.gateway.orders.place(order(instrument=NO_ISIN))
    limited = replace(
        UPSTOX_CAPABILITIES, operations=UPSTOX_CAPABILITIES.operations - {Operation.HOLDINGS}
    )
    assert upstox.session.auth.gateway is not None
    gateway = UpstoxGateway(upstox.session.auth.http, upstox.session.clock, capabilities=limited)
    credentials = await _upstox_login(upstox.session)
    before = upstox.requests
    with pytest.raises(NotSupported):
        await gateway.session(credentials).accounts.holdings(ACCOUNT)
    assert upstox.requests == before


# Failures ------------------------------------------------------------------------------------


async def test_an_expired_token_needs_a_new_login(upstox: Upstox) -> None:
    upstox.sandbox.tokens.expire()
    with pytest.raises(ReauthRequired):
        await upstox.gateway.accounts.holdings(ACCOUNT)
    with pytest.raises(ReauthRequired):
        await upstox.gateway.orders.place(order())


async def test_429_is_rate_limited_with_the_wait(upstox: Upstox) -> None:
    upstox.sandbox.faults.add(
        FaultRule(path="/v2/portfolio/*", kind=FaultKind.STATUS, status=429, retry_after=7,
                  times=None)
    )  # fmt: skip
    with pytest.raises(RateLimited) as limited:
        await upstox.gateway.accounts.holdings(ACCOUNT)
    assert limited.value.retry_after == 7


async def test_5xx_is_provider_unavailable_and_a_read_is_retried(upstox: Upstox) -> None:
    upstox.sandbox.faults.add(FaultRule(path="/v2/portfolio/*", kind=FaultKind.STATUS, times=1))
    page = await upstox.gateway.accounts.holdings(ACCOUNT)  # the GET is retried once
    assert page.items
    upstox.sandbox.faults.add(
        FaultRule(path="/v2/portfolio/*", kind=FaultKind.STATUS, status=500, times=None)
    )
    with pytest.raises(ProviderUnavailable):
        await upstox.gateway.accounts.holdings(ACCOUNT)


async def test_a_5xx_on_place_is_never_retried_and_the_state_is_unknown(upstox: Upstox) -> None:
    upstox.sandbox.faults.add(FaultRule(path="/v3/order/place", kind=FaultKind.STATUS, times=1))
    with pytest.raises(OrderStateUnknown):
        await upstox.gateway.orders.place(order(reference="lost-1"))
    places = [r for r in upstox.session.recorder.requests if r.url.path == "/v3/order/place"]
    assert len(places) == 1
    assert (
        await upstox.gateway.orders.find_by_client_reference(ACCOUNT, order(reference="lost-1"))
        is None
    )


@pytest.fixture
async def impatient(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Upstox]:
    http = HttpPolicy(connect_timeout=0.05, total_timeout=0.2, retry=RetryPolicy(attempts=1))
    session = await open_session(PLUGIN, sandboxes, clock, timing, http=http)
    async with session.auth:
        credentials = await _upstox_login(session)
        assert session.auth.gateway is not None
        gateway = session.auth.gateway.session(credentials)
        assert isinstance(gateway, UpstoxSession) and isinstance(session.sandbox, UpstoxSandbox)
        yield Upstox(session, session.sandbox, gateway)


async def test_a_timeout_after_acceptance_is_unknown_then_found_by_reference(
    impatient: Upstox,
) -> None:
    impatient.sandbox.faults.add(
        FaultRule(path="/v3/order/place", kind=FaultKind.TIMEOUT_AFTER_ACCEPT, seconds=5)
    )
    request = order(reference="timeout-1")
    with pytest.raises(OrderStateUnknown):
        await impatient.gateway.orders.place(request)
    found = await impatient.gateway.orders.find_by_client_reference(ACCOUNT, request)
    assert found is not None
    assert found.status is OrderStatus.FILLED


async def test_a_timeout_before_acceptance_is_unknown_and_nothing_is_found(
    impatient: Upstox,
) -> None:
    impatient.sandbox.faults.add(
        FaultRule(path="/v3/order/place", kind=FaultKind.TIMEOUT, seconds=5)
    )
    request = order(reference="timeout-2")
    with pytest.raises(OrderStateUnknown):
        await impatient.gateway.orders.place(request)
    assert await impatient.gateway.orders.find_by_client_reference(ACCOUNT, request) is None


# The status table ----------------------------------------------------------------------------


def _order_body(status: str, filled: int = 0) -> bytes:
    """An order-details answer as Upstox writes it (prices are JSON numbers)."""
    return (
        (
            b'{"status":"success","data":{"order_id":"260105000000001","status":"STATUS",'
            b'"exchange":"NSE","trading_symbol":"RELIANCE-EQ",'
            b'"instrument_token":"NSE_EQ|INE002A01018","transaction_type":"BUY",'
            b'"order_type":"LIMIT","product":"D","validity":"DAY","quantity":10,'
            b'"filled_quantity":FILLED,"price":0.1,"trigger_price":0.0,'
            b'"average_price":0.30000000000000004,"tag":"r",'
            b'"order_timestamp":"2026-01-05 10:00:00"}}'
        )
        .replace(b"STATUS", status.encode())
        .replace(b"FILLED", str(filled).encode())
    )


EXPECTED = {
    "put order req received": OrderStatus.SUBMITTED,
    "validation pending": OrderStatus.SUBMITTED,
    "open pending": OrderStatus.SUBMITTED,
    "after market order req received": OrderStatus.SUBMITTED,
    "modify after market order req received": OrderStatus.SUBMITTED,
    "open": OrderStatus.OPEN,
    "trigger pending": OrderStatus.OPEN,
    "modify validation pending": OrderStatus.OPEN,
    "modify pending": OrderStatus.OPEN,
    "modified": OrderStatus.OPEN,
    "not modified": OrderStatus.OPEN,
    "not cancelled": OrderStatus.OPEN,
    "cancel pending": OrderStatus.CANCEL_REQUESTED,
    "cancelled": OrderStatus.CANCELLED,
    "cancelled after market order": OrderStatus.CANCELLED,
    "complete": OrderStatus.FILLED,
    "rejected": OrderStatus.REJECTED,
}


def test_the_status_table_is_exactly_the_documented_spellings() -> None:
    assert dict(ORDER_STATUSES) == EXPECTED


@pytest.mark.parametrize(("spelling", "expected"), sorted(EXPECTED.items()))
def test_every_status_spelling_maps_to_one_status(spelling: str, expected: OrderStatus) -> None:
    mapped = order_from(ORDER.decode(_order_body(spelling)).data, ACCOUNT, Instruments())
    assert mapped.status is expected
    assert mapped.provider_status == spelling
    assert mapped.limit_price == Decimal("0.1")
    assert mapped.placed_at is not None and mapped.placed_at.isoformat() == (
        "2026-01-05T04:30:00+00:00"
    )


@pytest.mark.parametrize("spelling", ["open", "trigger pending", "modified", "not cancelled"])
def test_a_working_order_with_fills_is_partially_filled(spelling: str) -> None:
    mapped = order_from(ORDER.decode(_order_body(spelling, 4)).data, ACCOUNT, Instruments())
    assert mapped.status is OrderStatus.PARTIALLY_FILLED
    assert mapped.average_price == Money(Decimal("0.30000000000000004"), INR)


@pytest.mark.parametrize("spelling", ["OPEN", "partially filled", "", "expired"])
def test_an_unknown_status_is_an_integrity_error_and_logged(spelling: str) -> None:
    with capture_logs() as logs, pytest.raises(IntegrityError) as error:
        order_from(ORDER.decode(_order_body(spelling)).data, ACCOUNT, Instruments())
    assert error.value.code == "unknown_provider_status"
    assert [entry["event"] for entry in logs] == ["provider_unknown_status"]
