"""Groww's gateway through the real adapter against its sandbox (brokers.md §4.3-4.7): the
wire (Bearer, X-API-VERSION, JSON bodies, payload envelopes, order_reference_id), every
operation, the status table, Decimal exactness, paging, the order lifecycle over the exchange
engine, and the failure paths (expired token, 429, 5xx, an answer lost after the order was
accepted, unsupported capabilities refused before any request)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from structlog.testing import capture_logs

from dashcore.domain.capabilities import ClientReference, Operation
from dashcore.domain.connections import ProviderCredentials
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
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import (
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.ports.brokers import BrokerSession
from dashcore.testing.clock import FakeClock
from dashcore_brokers.groww import PLUGIN
from dashcore_brokers.groww.mapping import ORDER_STATUSES, normalize_holdings
from dashcore_brokers.http import HttpPolicy
from dashcore_brokers.sandbox import BrokerSandbox, FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import (
    INDIA_ACCOUNT_ID,
    Exchange,
    OrderKind,
    Side,
    many_rows,
)
from dashcore_brokers.sandbox.groww import GROWW_USER, GrowwSandbox

from .conftest import open_session
from .harness import START, Session, _groww_login
from .timing import FakeTiming
from .wire import json_body, query

ACCOUNT = GROWW_USER.user_id
INR = Currency("INR")
RELIANCE = Instrument("RELIANCE", "NSE", INR, isin="INE002A01018", tick_size=Decimal("0.05"))
TCS = Instrument("TCS", "NSE", INR, isin="INE467B01029", tick_size=Decimal("0.05"))


@dataclass
class Groww:
    session: Session
    broker: BrokerSession
    credentials: ProviderCredentials

    @property
    def sandbox(self) -> GrowwSandbox:
        sandbox = self.session.sandbox
        assert isinstance(sandbox, GrowwSandbox)
        return sandbox

    @property
    def exchange(self) -> Exchange:
        return self.sandbox.exchange

    @property
    def requests(self) -> list[httpx.Request]:
        return self.session.recorder.requests


async def _open(
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
    http: HttpPolicy | None = None,
) -> Session:
    return await open_session(PLUGIN, sandboxes, clock, timing, http=http)


@pytest.fixture
def sandboxes(clock: FakeClock) -> dict[str, BrokerSandbox]:
    """Only Groww's sandbox: building the others would only slow these tests down."""
    return {"groww": GrowwSandbox(clock)}


@pytest.fixture
async def groww(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Groww]:
    session = await _open(sandboxes, clock, timing)
    async with session.auth:
        credentials = await _groww_login(session)
        assert session.auth.gateway is not None
        yield Groww(session, session.auth.gateway.session(credentials), credentials)


def order(
    reference: str = "dash-ref-0001",
    *,
    side: OrderSide = OrderSide.BUY,
    type: OrderType = OrderType.MARKET,
    quantity: int = 2,
    limit: str | None = None,
    stop: str | None = None,
    product: Product = Product.DELIVERY,
    validity: Validity = Validity.DAY,
    instrument: Instrument = RELIANCE,
) -> OrderRequest:
    return OrderRequest(
        provider_account_id=ACCOUNT,
        instrument=instrument,
        side=side,
        type=type,
        quantity=Decimal(quantity),
        client_reference=reference,
        product=product,
        validity=validity,
        limit_price=None if limit is None else Decimal(limit),
        stop_price=None if stop is None else Decimal(stop),
    )


# Capabilities --------------------------------------------------------------------------------


async def test_capabilities_are_what_groww_documents(groww: Groww) -> None:
    assert groww.session.auth.gateway is not None
    caps = groww.session.auth.gateway.capabilities
    assert caps.operations == frozenset(Operation) - {Operation.TRANSACTIONS}
    assert caps.order_types == frozenset(OrderType)
    assert caps.products == {Product.DELIVERY, Product.INTRADAY}
    assert caps.validities == {Validity.DAY}
    assert caps.client_reference is ClientReference.ECHOED
    assert not caps.push_updates


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (order(validity=Validity.IOC), "unsupported_validity"),
        (order(product=Product.MARGIN), "unsupported_product"),
        (order("short"), "unsupported_client_reference"),
        (order("has_underscore"), "unsupported_client_reference"),
        (order("a-b-c-d-e-f"), "unsupported_client_reference"),
        (
            order(instrument=Instrument("AAPL", "NASDAQ", Currency("USD"))),
            "unsupported_instrument",
        ),
    ],
    ids=["ioc", "margin", "short-reference", "underscore", "three-hyphens", "us-listing"],
)
async def test_unsupported_orders_are_refused_before_any_request(
    groww: Groww, request_: OrderRequest, code: str
) -> None:
    sent = len(groww.requests)
    with pytest.raises(NotSupported) as refused:
        await groww.broker.orders.place(request_)
    assert refused.value.code == code
    assert len(groww.requests) == sent
    assert groww.exchange.orders(INDIA_ACCOUNT_ID) == []


async def test_transactions_are_not_supported_and_send_nothing(groww: Groww) -> None:
    sent = len(groww.requests)
    with pytest.raises(NotSupported):
        await groww.broker.accounts.transactions(ACCOUNT)
    assert len(groww.requests) == sent


# Accounts, balances, holdings, positions -----------------------------------------------------


async def test_the_one_account_is_the_groww_user(groww: Groww) -> None:
    [account] = await groww.broker.accounts.accounts()
    assert account.provider_account_id == ACCOUNT
    assert account.base_currency == "INR"
    assert account.masked_number == "****" + ACCOUNT[-4:]
    sent = groww.session.recorder.last("GET", "/v1/user/detail")
    assert sent.headers["authorization"] == f"Bearer {groww.credentials.access_token}"
    assert sent.headers["x-api-version"] == "1.0"
    assert sent.headers["accept"] == "application/json"


async def test_another_account_id_is_not_found(groww: Groww) -> None:
    with pytest.raises(NotFound):
        await groww.broker.accounts.holdings("someone-else")


async def test_balance_is_the_margin_summary_exactly(groww: Groww) -> None:
    balance = await groww.broker.accounts.balance(ACCOUNT)
    account = groww.exchange.account(INDIA_ACCOUNT_ID)
    assert balance.cash == Money(account.cash, INR)
    assert balance.buying_power == Money(account.buying_power, INR)
    assert balance.margin_used == Money(Decimal(0), INR)
    assert groww.session.recorder.last("GET", "/v1/margins/detail/user")


async def test_holdings_carry_isin_quantity_and_average_cost(groww: Groww) -> None:
    page = await groww.broker.accounts.holdings(ACCOUNT)
    assert page.next_cursor is None
    found = {h.instrument.symbol: h for h in page.items}
    assert set(found) == {"INFY", "RELIANCE"}
    reliance = found["RELIANCE"]
    assert reliance.instrument.isin == "INE002A01018"
    assert reliance.instrument.exchange == "NSE"
    assert reliance.quantity == Decimal(10)
    assert reliance.average_cost == Money(Decimal(2400), INR)


async def test_holdings_pages_yield_every_row_once_and_rereads_agree(groww: Groww) -> None:
    many_rows(groww.exchange, INDIA_ACCOUNT_ID, holdings=1100)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await groww.broker.accounts.holdings(ACCOUNT, cursor=cursor)
        again = await groww.broker.accounts.holdings(ACCOUNT, cursor=cursor)
        assert again == page
        assert len(page.items) <= 500
        seen.extend(h.instrument.symbol for h in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1102


async def test_a_foreign_cursor_is_invalid_input(groww: Groww) -> None:
    with pytest.raises(InvalidInput):
        await groww.broker.accounts.holdings(ACCOUNT, cursor="page-two")


async def test_intraday_positions_are_signed(groww: Groww) -> None:
    await groww.broker.orders.place(order("intraday-long1", product=Product.INTRADAY))
    await groww.broker.orders.place(
        order("intraday-short", side=OrderSide.SELL, product=Product.INTRADAY, instrument=TCS)
    )
    page = await groww.broker.accounts.positions(ACCOUNT)
    found = {p.instrument.symbol: p for p in page.items}
    assert found["RELIANCE"].quantity == Decimal(2) and not found["RELIANCE"].is_short
    assert found["TCS"].quantity == Decimal(-2) and found["TCS"].is_short
    assert found["TCS"].product == Product.INTRADAY.value
    price = groww.exchange.last_price("RELIANCE")
    assert found["RELIANCE"].average_price == Money(price, INR)


# Decimal exactness ---------------------------------------------------------------------------


def test_json_numbers_are_decoded_exactly_never_through_float() -> None:
    body = (
        b'{"status":"SUCCESS","payload":{"holdings":['
        b'{"isin":"INE002A01018","trading_symbol":"A","quantity":1,"average_price":0.1},'
        b'{"isin":"INE467B01029","trading_symbol":"B","quantity":1,"average_price":0.2},'
        b'{"trading_symbol":"C","quantity":3,"average_price":123456789012345.123456789}]}}'
    )
    a, b, c = normalize_holdings(body, ACCOUNT)
    assert a.average_cost is not None and b.average_cost is not None
    assert (a.average_cost + b.average_cost).amount == Decimal("0.3")
    assert c.average_cost == Money(Decimal("123456789012345.123456789"), INR)
    assert c.instrument.isin is None


async def test_quotes_are_exact_and_unknown_listings_are_absent(groww: Groww) -> None:
    groww.exchange.set_price("RELIANCE", Decimal("2500.35"))
    unknown = Instrument("NOSUCH", "NSE", INR)
    prices = await groww.broker.quotes.last_prices([RELIANCE, TCS, unknown])
    assert prices["NSE:RELIANCE"] == Money(Decimal("2500.35"), INR)
    assert prices["NSE:TCS"].amount == groww.exchange.last_price("TCS")
    assert "NSE:NOSUCH" not in prices
    sent = groww.session.recorder.last("GET", "/v1/live-data/ltp")
    assert sent.url.params.get_list("exchange_symbols") == [
        "NSE_NOSUCH",
        "NSE_RELIANCE",
        "NSE_TCS",
    ]
    assert sent.url.params["segment"] == "CASH"


async def test_quotes_go_fifty_symbols_a_call(groww: Groww) -> None:
    many_rows(groww.exchange, INDIA_ACCOUNT_ID, holdings=120)
    listings = [Instrument(f"SIM{i:05d}", "NSE", INR) for i in range(1, 121)]
    prices = await groww.broker.quotes.last_prices(listings)
    assert len(prices) == 120
    calls = [r for r in groww.requests if r.url.path == "/v1/live-data/ltp"]
    assert [len(r.url.params.get_list("exchange_symbols")) for r in calls] == [50, 50, 20]


# Orders: wire and lifecycle ------------------------------------------------------------------


async def test_place_sends_groww_json_with_the_reference(groww: Groww) -> None:
    await groww.broker.orders.place(
        order("dash-limit-01", type=OrderType.LIMIT, limit="2399.95", quantity=3)
    )
    sent = groww.session.recorder.last("POST", "/v1/order/create")
    assert json_body(sent) == {
        "trading_symbol": "RELIANCE",
        "quantity": 3,
        "price": 2399.95,
        "trigger_price": 0,
        "validity": "DAY",
        "exchange": "NSE",
        "segment": "CASH",
        "product": "CNC",
        "order_type": "LIMIT",
        "transaction_type": "BUY",
        "order_reference_id": "dash-limit-01",
    }
    assert b'"price":2399.95' in sent.content
    assert sent.headers["x-api-version"] == "1.0"
    assert sent.headers["authorization"] == f"Bearer {groww.credentials.access_token}"


async def test_a_market_order_fills_at_the_last_price_with_fills(groww: Groww) -> None:
    price = groww.exchange.last_price("RELIANCE")
    placed = await groww.broker.orders.place(order())
    assert placed.status is OrderStatus.FILLED and placed.provider_status == "EXECUTED"
    assert placed.client_reference == "dash-ref-0001"
    # Groww's answer names no price: the order is read back, so the fill price is known at once.
    assert (placed.filled_quantity, placed.average_price) == (Decimal(2), Money(price, INR))
    got = await groww.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert got.status is OrderStatus.FILLED
    assert got.filled_quantity == Decimal(2)
    assert got.average_price == Money(price, INR)
    assert got.placed_at is not None and got.placed_at == groww.session.clock.now()
    [fill] = await groww.broker.orders.fills(ACCOUNT, placed.provider_order_id)
    assert fill.quantity == Decimal(2) and fill.price == Money(price, INR)
    assert fill.provider_order_id == placed.provider_order_id
    assert fill.executed_at == groww.session.clock.now()
    detail = groww.session.recorder.last("GET", f"/v1/order/detail/{placed.provider_order_id}")
    assert query(detail.url) == {"segment": "CASH"}


async def test_a_limit_order_rests_is_modified_then_cancelled(groww: Groww) -> None:
    orders = groww.broker.orders
    placed = await orders.place(order("dash-rest-001", type=OrderType.LIMIT, limit="2000"))
    assert (placed.status, placed.provider_status) == (OrderStatus.OPEN, "ACKED")
    assert placed.limit_price == Decimal(2000)

    modified = await orders.modify(
        ACCOUNT,
        placed.provider_order_id,
        OrderChange(quantity=Decimal(4), limit_price=Decimal("2100.05")),
    )
    assert (modified.status, modified.quantity, modified.limit_price) == (
        OrderStatus.OPEN,
        Decimal(4),
        Decimal("2100.05"),
    )
    assert json_body(groww.session.recorder.last("POST", "/v1/order/modify")) == {
        "quantity": 4,
        "price": 2100.05,
        "trigger_price": 0,
        "groww_order_id": placed.provider_order_id,
        "order_type": "LIMIT",
        "segment": "CASH",
    }

    cancelled = await orders.cancel(ACCOUNT, placed.provider_order_id)
    assert (cancelled.status, cancelled.provider_status) == (OrderStatus.CANCELLED, "CANCELLED")
    assert json_body(groww.session.recorder.last("POST", "/v1/order/cancel")) == {
        "segment": "CASH",
        "groww_order_id": placed.provider_order_id,
    }


async def test_a_modification_that_makes_the_order_marketable_comes_back_filled(
    groww: Groww,
) -> None:
    price = groww.exchange.last_price("RELIANCE")
    placed = await groww.broker.orders.place(
        order("dash-cross-01", type=OrderType.LIMIT, limit="2000", quantity=3)
    )
    modified = await groww.broker.orders.modify(
        ACCOUNT, placed.provider_order_id, OrderChange(limit_price=price + 10)
    )
    assert (modified.status, modified.filled_quantity, modified.average_price) == (
        OrderStatus.FILLED,
        Decimal(3),
        Money(price, INR),
    )


async def test_a_write_whose_read_back_fails_is_what_groww_answered(groww: Groww) -> None:
    """The write happened: a detail read that fails afterwards never turns it into an error."""
    groww.sandbox.faults.add(
        FaultRule(path="/v1/order/detail/*", kind=FaultKind.STATUS, status=503, times=None)
    )
    placed = await groww.broker.orders.place(order())
    assert (placed.status, placed.provider_status) == (OrderStatus.FILLED, "EXECUTED")
    assert (placed.filled_quantity, placed.average_price) == (Decimal(2), None)
    resting = await groww.broker.orders.place(
        order("dash-rest-002", type=OrderType.LIMIT, limit="2000")
    )
    assert (resting.status, resting.provider_status) == (OrderStatus.OPEN, "OPEN")
    assert len(groww.exchange.orders(INDIA_ACCOUNT_ID)) == 2


async def test_a_finished_order_cannot_be_cancelled_and_nothing_is_posted(groww: Groww) -> None:
    placed = await groww.broker.orders.place(order())
    with pytest.raises(Conflict):
        await groww.broker.orders.cancel(ACCOUNT, placed.provider_order_id)
    assert not [r for r in groww.requests if r.url.path == "/v1/order/cancel"]


async def test_partial_fills_then_filled(groww: Groww) -> None:
    groww.exchange.liquidity = Decimal(3)
    placed = await groww.broker.orders.place(
        order("dash-part-001", type=OrderType.LIMIT, limit="2300", quantity=5)
    )
    assert placed.status is OrderStatus.OPEN
    groww.exchange.set_price("RELIANCE", Decimal("2290"))
    partial = await groww.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert (partial.status, partial.provider_status) == (OrderStatus.PARTIALLY_FILLED, "ACKED")
    assert partial.filled_quantity == Decimal(3)
    groww.exchange.set_price("RELIANCE", Decimal("2280"))
    filled = await groww.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == Decimal(5)
    fills = await groww.broker.orders.fills(ACCOUNT, placed.provider_order_id)
    assert [f.quantity for f in fills] == [Decimal(3), Decimal(2)]
    assert sum((f.price.amount * f.quantity for f in fills), Decimal(0)) == (
        filled.average_price.amount * 5 if filled.average_price else None
    )


async def test_a_stop_order_waits_for_its_trigger(groww: Groww) -> None:
    placed = await groww.broker.orders.place(
        order("dash-stop-001", side=OrderSide.SELL, type=OrderType.STOP, stop="2300")
    )
    got = await groww.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert (got.status, got.provider_status) == (OrderStatus.OPEN, "TRIGGER_PENDING")
    assert (got.type, got.stop_price, got.limit_price) == (OrderType.STOP, Decimal(2300), None)
    assert json_body(groww.session.recorder.last("POST", "/v1/order/create"))["order_type"] == (
        "SL_M"
    )
    groww.exchange.set_price("RELIANCE", Decimal("2295"))
    assert (await groww.broker.orders.get(ACCOUNT, placed.provider_order_id)).status is (
        OrderStatus.FILLED
    )


async def test_an_order_the_exchange_refuses_is_rejected_with_its_reason(groww: Groww) -> None:
    placed = await groww.broker.orders.place(order("dash-big-0001", quantity=100000))
    assert (placed.status, placed.provider_status) == (OrderStatus.REJECTED, "REJECTED")
    assert placed.status_message


async def test_a_reused_reference_is_a_conflict(groww: Groww) -> None:
    await groww.broker.orders.place(order("dash-dupe-001"))
    with pytest.raises(Conflict):
        await groww.broker.orders.place(order("dash-dupe-001"))


async def test_find_by_client_reference(groww: Groww) -> None:
    placed = await groww.broker.orders.place(
        order("dash-find-001", type=OrderType.LIMIT, limit="2000")
    )
    found = await groww.broker.orders.find_by_client_reference(ACCOUNT, order("dash-find-001"))
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert found.client_reference == "dash-find-001"
    sent = groww.session.recorder.last("GET", "/v1/order/status/reference/dash-find-001")
    assert query(sent.url) == {"segment": "CASH"}
    assert (
        await groww.broker.orders.find_by_client_reference(ACCOUNT, order("dash-none-001")) is None
    )


async def test_an_unknown_order_is_not_found(groww: Groww) -> None:
    for order_id in ("GMK0000009999", "not/an-id"):
        with pytest.raises(NotFound):
            await groww.broker.orders.get(ACCOUNT, order_id)


async def test_order_pages_yield_every_order_once(groww: Groww) -> None:
    for index in range(105):
        groww.exchange.place(
            INDIA_ACCOUNT_ID,
            symbol="TCS",
            side=Side.BUY,
            quantity=Decimal(1),
            kind=OrderKind.LIMIT,
            price=Decimal(1000),
            tag=f"seeded-{index:04d}",
        )
    first = await groww.broker.orders.list(ACCOUNT)
    assert len(first.items) == 100 and first.next_cursor is not None
    second = await groww.broker.orders.list(ACCOUNT, cursor=first.next_cursor)
    assert len(second.items) == 5 and second.next_cursor is None
    ids = [o.provider_order_id for o in (*first.items, *second.items)]
    assert len(set(ids)) == 105
    sent = groww.session.recorder.last("GET", "/v1/order/list")
    assert query(sent.url) == {"segment": "CASH", "page": "1", "page_size": "100"}


# Failures ------------------------------------------------------------------------------------


async def test_an_expired_token_needs_reauth(groww: Groww) -> None:
    groww.sandbox.tokens.expire()
    with pytest.raises(ReauthRequired):
        await groww.broker.accounts.holdings(ACCOUNT)
    with pytest.raises(ReauthRequired):
        await groww.broker.orders.place(order())


async def test_429_is_rate_limited_with_retry_after(groww: Groww) -> None:
    await groww.broker.accounts.accounts()
    groww.sandbox.faults.add(
        FaultRule(
            path="/v1/holdings/*", kind=FaultKind.STATUS, status=429, retry_after=7, times=None
        )
    )
    with pytest.raises(RateLimited) as limited:
        await groww.broker.accounts.holdings(ACCOUNT)
    assert limited.value.retry_after == 7


async def test_a_429_on_place_is_rate_limited_and_not_retried(groww: Groww) -> None:
    await groww.broker.accounts.accounts()
    groww.sandbox.faults.add(
        FaultRule(path="/v1/order/create", kind=FaultKind.STATUS, status=429, times=None)
    )
    with pytest.raises(RateLimited):
        await groww.broker.orders.place(order())
    assert len([r for r in groww.requests if r.url.path == "/v1/order/create"]) == 1


async def test_5xx_on_a_read_is_provider_unavailable(groww: Groww) -> None:
    await groww.broker.accounts.accounts()
    groww.sandbox.faults.add(
        FaultRule(path="/v1/margins/*", kind=FaultKind.STATUS, status=503, times=None)
    )
    with pytest.raises(ProviderUnavailable):
        await groww.broker.accounts.balance(ACCOUNT)


async def test_5xx_on_place_is_order_state_unknown_sent_once(groww: Groww) -> None:
    await groww.broker.accounts.accounts()
    groww.sandbox.faults.add(FaultRule(path="/v1/order/create", kind=FaultKind.STATUS, status=502))
    with pytest.raises(OrderStateUnknown, match="it is looked up by its client reference"):
        await groww.broker.orders.place(order())
    assert len([r for r in groww.requests if r.url.path == "/v1/order/create"]) == 1


# The status table ----------------------------------------------------------------------------

SPELLINGS = {
    "NEW": OrderStatus.SUBMITTED,
    "APPROVED": OrderStatus.SUBMITTED,
    "ACKED": OrderStatus.OPEN,
    "OPEN": OrderStatus.OPEN,
    "TRIGGER_PENDING": OrderStatus.OPEN,
    "MODIFICATION_REQUESTED": OrderStatus.OPEN,
    "EXECUTED": OrderStatus.FILLED,
    "DELIVERY_AWAITED": OrderStatus.FILLED,
    "COMPLETED": OrderStatus.FILLED,
    "CANCELLATION_REQUESTED": OrderStatus.CANCEL_REQUESTED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "FAILED": OrderStatus.REJECTED,
}


def _answering(order_status: str, filled: int = 0) -> httpx.MockTransport:
    return httpx.MockTransport(_groww_with(order_status, filled))


def _groww_with(order_status: str, filled: int = 0) -> Callable[[httpx.Request], httpx.Response]:
    """A Groww that knows the user and answers every order read with one such order."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/user/detail":
            return httpx.Response(
                200, json={"status": "SUCCESS", "payload": {"vendor_user_id": ACCOUNT}}
            )
        row = {
            "groww_order_id": "GMK39038RDT490CCVRO",
            "trading_symbol": "RELIANCE",
            "order_status": order_status,
            "quantity": 10,
            "price": 0,
            "trigger_price": 0,
            "filled_quantity": filled,
            "average_fill_price": 0,
            "validity": "DAY",
            "exchange": "NSE",
            "order_type": "MARKET",
            "transaction_type": "BUY",
            "segment": "CASH",
            "product": "CNC",
            "created_at": "2023-10-01T10:15:30",
            "order_reference_id": "dash-ref-0001",
        }
        return httpx.Response(200, json={"status": "SUCCESS", "payload": row})

    return answer


async def _get_with(transport: httpx.MockTransport) -> object:
    config = PLUGIN.default_config(sandbox_url="https://groww.sandbox.test")
    async with PLUGIN.create(config, FakeClock(), transport=transport) as auth:
        assert auth.gateway is not None
        session = auth.gateway.session(
            ProviderCredentials(access_token="t-1234567890", issued_at=START)
        )
        return await session.orders.get(ACCOUNT, "GMK39038RDT490CCVRO")


def test_the_table_covers_every_documented_spelling() -> None:
    assert dict(ORDER_STATUSES) == SPELLINGS


@pytest.mark.parametrize(("spelling", "expected"), sorted(SPELLINGS.items()))
async def test_every_documented_status_maps_to_one_status(
    spelling: str, expected: OrderStatus
) -> None:
    got = await _get_with(_answering(spelling))
    assert got.status is expected  # type: ignore[attr-defined]
    assert got.provider_status == spelling  # type: ignore[attr-defined]


async def test_a_live_order_with_fills_is_partially_filled() -> None:
    got = await _get_with(_answering("ACKED", filled=3))
    assert got.status is OrderStatus.PARTIALLY_FILLED  # type: ignore[attr-defined]


async def test_an_unknown_status_is_an_integrity_error() -> None:
    with capture_logs() as logs, pytest.raises(IntegrityError) as broken:
        await _get_with(_answering("PARKED_FOREVER"))
    assert broken.value.code == "unknown_provider_status"
    assert any(line["event"] == "provider_unknown_value" for line in logs)


async def test_a_failure_envelope_with_200_is_a_refusal() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/user/detail":
            return httpx.Response(
                200, json={"status": "SUCCESS", "payload": {"vendor_user_id": ACCOUNT}}
            )
        return httpx.Response(
            200, json={"status": "FAILURE", "error": {"code": "GA004", "message": "x"}}
        )

    with pytest.raises(NotFound):
        await _get_with(httpx.MockTransport(answer))


async def test_an_answer_lost_after_acceptance_is_unknown_then_found_by_reference(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    quick = HttpPolicy(connect_timeout=0.05, total_timeout=0.3)
    session = await _open(sandboxes, clock, timing, http=quick)
    async with session.auth:
        assert session.auth.gateway is not None
        broker = session.auth.gateway.session(await _groww_login(session))
        await broker.accounts.accounts()
        session.sandbox.faults.add(
            FaultRule(
                path="/v1/order/create",
                method="POST",
                kind=FaultKind.TIMEOUT_AFTER_ACCEPT,
                seconds=5,
            )
        )
        request = order("dash-lost-001")
        with pytest.raises(OrderStateUnknown):
            await broker.orders.place(request)
        creates = [r for r in session.recorder.requests if r.url.path == "/v1/order/create"]
        assert len(creates) == 1
        found = await broker.orders.find_by_client_reference(ACCOUNT, request)
        assert found is not None
        assert found.status is OrderStatus.FILLED
        assert found.client_reference == "dash-lost-001"
        [engine_order] = session.sandbox.exchange.orders(INDIA_ACCOUNT_ID)
        assert engine_order.tag == "dash-lost-001"


async def test_an_unreadable_answer_to_a_place_is_order_state_unknown() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/user/detail":
            body = {"status": "SUCCESS", "payload": {"vendor_user_id": ACCOUNT}}
            return httpx.Response(200, json=body)
        return httpx.Response(200, content=b"<html>gateway</html>")

    config = PLUGIN.default_config(sandbox_url="https://groww.sandbox.test")
    async with PLUGIN.create(config, FakeClock(), transport=httpx.MockTransport(answer)) as auth:
        assert auth.gateway is not None
        session = auth.gateway.session(
            ProviderCredentials(access_token="t-123456", issued_at=START)
        )
        with pytest.raises(OrderStateUnknown):
            await session.orders.place(order())


async def test_a_limit_price_on_a_market_order_is_refused_before_posting(groww: Groww) -> None:
    placed = await groww.broker.orders.place(
        order("dash-stop-002", side=OrderSide.SELL, type=OrderType.STOP, stop="2300")
    )
    with pytest.raises(InvalidInput):
        await groww.broker.orders.modify(
            ACCOUNT, placed.provider_order_id, OrderChange(limit_price=Decimal(2301))
        )
    assert not [r for r in groww.requests if r.url.path == "/v1/order/modify"]


def _refusing(status: int, code: str | None) -> httpx.MockTransport:
    """A Groww whose order detail is an open order and whose cancel is refused."""
    detail = _groww_with("ACKED")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/order/cancel":
            return detail(request)
        if code is None:
            return httpx.Response(status, text="Not Found")
        error = {"code": code, "message": "refused", "metadata": None}
        return httpx.Response(status, json={"status": "FAILURE", "error": error})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "GA006", Conflict),
        (400, "GA001", InvalidInput),
        (404, "GA004", NotFound),
        (404, None, NotFound),
        (401, "GA005", ReauthRequired),
        (403, "GA005", ReauthRequired),
        (400, "GA003", ProviderUnavailable),
    ],
)
async def test_cancel_refusals_map_to_domain_errors(
    status: int, code: str | None, error: type[Exception]
) -> None:
    config = PLUGIN.default_config(sandbox_url="https://groww.sandbox.test")
    transport = _refusing(status, code)
    async with PLUGIN.create(config, FakeClock(), transport=transport) as auth:
        assert auth.gateway is not None
        session = auth.gateway.session(
            ProviderCredentials(access_token="t-123456", issued_at=START)
        )
        with pytest.raises(error) as refused:
            await session.orders.cancel(ACCOUNT, "GMK39038RDT490CCVRO")
    if code == "GA006":  # the order is closed: Groww's own words end the message
        assert str(refused.value) == "Groww cannot change this order any more: refused"
