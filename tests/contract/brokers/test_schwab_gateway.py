"""The Schwab gateway against its sandbox (brokers.md §1.3-1.7): accounts by hash, exact
Decimals, dashcore-side paging, the order lifecycle on the exchange engine, reconciliation by
fields, and the failure paths (expired token, 429, 5xx, a timeout after the order was accepted,
unsupported asks that never reach Schwab)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

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
from dashcore.domain.instruments import AssetClass, Instrument
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
from dashcore.domain.portfolio import ActivityType, Page
from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import HttpPolicy
from dashcore_brokers.sandbox import BrokerSandbox, FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import US_ACCOUNT_ID, Exchange, many_rows
from dashcore_brokers.schwab import PLUGIN
from dashcore_brokers.schwab.gateway import SCHWAB_CAPABILITIES, SchwabSession
from dashcore_brokers.schwab.mapping import STATUS, order_status

from .conftest import open_session, sandbox_config
from .harness import START, Session, _schwab_login
from .timing import FakeTiming
from .wire import json_body, query

T = TypeVar("T")
USD = Currency("USD")
AAPL = Instrument("AAPL", "US", USD)
MSFT = Instrument("MSFT", "US", USD)
ACCOUNT_HASH = hashlib.sha256(b"12345678").hexdigest().upper()

# brokers.md §1.5, all 21 spellings, as a reader of the lifecycle expects them.
EXPECTED_STATUS = {
    "AWAITING_PARENT_ORDER": OrderStatus.SUBMITTED,
    "AWAITING_CONDITION": OrderStatus.SUBMITTED,
    "AWAITING_STOP_CONDITION": OrderStatus.OPEN,
    "AWAITING_MANUAL_REVIEW": OrderStatus.SUBMITTED,
    "ACCEPTED": OrderStatus.SUBMITTED,
    "AWAITING_UR_OUT": OrderStatus.CANCEL_REQUESTED,
    "PENDING_ACTIVATION": OrderStatus.SUBMITTED,
    "QUEUED": OrderStatus.SUBMITTED,
    "WORKING": OrderStatus.OPEN,
    "REJECTED": OrderStatus.REJECTED,
    "PENDING_CANCEL": OrderStatus.CANCEL_REQUESTED,
    "CANCELED": OrderStatus.CANCELLED,
    "PENDING_REPLACE": OrderStatus.CANCEL_REQUESTED,
    "REPLACED": OrderStatus.CANCELLED,
    "FILLED": OrderStatus.FILLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "NEW": OrderStatus.SUBMITTED,
    "AWAITING_RELEASE_TIME": OrderStatus.SUBMITTED,
    "PENDING_ACKNOWLEDGEMENT": OrderStatus.SUBMITTED,
    "PENDING_RECALL": OrderStatus.CANCEL_REQUESTED,
    "UNKNOWN": OrderStatus.UNKNOWN,
}


@dataclass
class Trading:
    session: Session
    broker: SchwabSession
    credentials: ProviderCredentials

    @property
    def exchange(self) -> Exchange:
        return self.session.sandbox.exchange

    @property
    def sent(self) -> list[httpx.Request]:
        return self.session.recorder.requests


async def _trading(session: Session) -> Trading:
    credentials = await _schwab_login(session)
    assert session.auth.gateway is not None
    broker = session.auth.gateway.session(credentials)
    assert isinstance(broker, SchwabSession)
    return Trading(session, broker, credentials)


@pytest.fixture
async def schwab(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Trading]:
    session = await open_session(PLUGIN, sandboxes, clock, timing)
    async with session.auth:
        yield await _trading(session)


@pytest.fixture
async def impatient(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Trading]:
    """A client that gives up after 0.3 s (the sandbox's hang is real time)."""
    policy = HttpPolicy(connect_timeout=0.1, total_timeout=0.3)
    session = await open_session(PLUGIN, sandboxes, clock, timing, http=policy)
    async with session.auth:
        yield await _trading(session)


def order(
    kind: OrderType = OrderType.MARKET,
    quantity: int = 2,
    *,
    side: OrderSide = OrderSide.BUY,
    reference: str = "ref-0001",
    **extra: Any,
) -> OrderRequest:
    return OrderRequest(ACCOUNT_HASH, AAPL, side, kind, Decimal(quantity), reference, **extra)


async def every_page(
    read: Callable[..., Awaitable[Page[T]]], account_id: str
) -> tuple[list[T], int]:
    items: list[T] = []
    cursor = None
    pages = 0
    while True:
        page = await read(account_id, cursor=cursor)
        assert len(page.items) <= 500
        again = await read(account_id, cursor=cursor)
        assert again.items == page.items and again.next_cursor == page.next_cursor
        items.extend(page.items)
        pages += 1
        if page.next_cursor is None:
            return items, pages
        cursor = page.next_cursor


async def test_capabilities_are_schwabs() -> None:
    caps = SCHWAB_CAPABILITIES
    assert caps.operations == frozenset(Operation)
    assert caps.order_types == frozenset(OrderType)
    assert caps.products == {Product.DELIVERY}
    assert caps.validities == frozenset(Validity)
    assert caps.client_reference is ClientReference.MATCHED_BY_FIELDS
    assert caps.push_updates is False
    assert caps.positions_include_holdings is True


async def test_accounts_are_known_by_hash_and_shown_masked(schwab: Trading) -> None:
    accounts = await schwab.broker.accounts.accounts()
    assert [
        (a.provider_account_id, a.masked_number, a.type.value, a.base_currency) for a in accounts
    ] == [(ACCOUNT_HASH, "****5678", "margin", "USD")]
    numbers = schwab.session.recorder.last("GET", "/trader/v1/accounts/accountNumbers")
    assert numbers.headers["authorization"] == f"Bearer {schwab.credentials.access_token}"
    assert numbers.headers["accept"] == "application/json"
    assert all("12345678" not in request.url.path for request in schwab.sent)
    assert schwab.credentials.access_token not in repr(schwab.broker)


async def test_balance_is_exact(schwab: Trading) -> None:
    balance = await schwab.broker.accounts.balance(ACCOUNT_HASH)
    assert (balance.cash.amount, balance.buying_power.amount, balance.margin_used.amount) == (
        Decimal("100000.00"),
        Decimal("200000.00"),
        Decimal(0),
    )
    assert balance.cash.currency == USD


async def test_holdings_and_positions_read_the_position_lines(schwab: Trading) -> None:
    holdings = (await schwab.broker.accounts.holdings(ACCOUNT_HASH)).items
    assert [
        (h.instrument.symbol, h.quantity, h.average_cost, h.market_value) for h in holdings
    ] == [
        ("AAPL", Decimal(10), _usd("150"), _usd("1900.00")),
        ("MSFT", Decimal(5), _usd("300"), _usd("2050.00")),
    ]
    assert query(schwab.session.recorder.last("GET", f"/accounts/{ACCOUNT_HASH}").url) == {
        "fields": "positions"
    }
    positions = (await schwab.broker.accounts.positions(ACCOUNT_HASH)).items
    assert [(p.instrument.symbol, p.quantity, p.product) for p in positions] == [
        ("AAPL", Decimal(10), "margin"),
        ("MSFT", Decimal(5), "margin"),
    ]


async def test_transactions_come_oldest_first_with_the_documented_query(schwab: Trading) -> None:
    await schwab.broker.orders.place(order())
    ledger = (await schwab.broker.accounts.transactions(ACCOUNT_HASH)).items
    assert [(t.activity, t.amount.amount, t.provider_type) for t in ledger] == [
        (ActivityType.DEPOSIT, Decimal("99997.50"), "ACH_RECEIPT"),
        (ActivityType.DIVIDEND, Decimal("2.50"), "DIVIDEND_OR_INTEREST"),
        (ActivityType.BUY, Decimal("-380.00"), "TRADE"),
    ]
    assert ledger[2].quantity == Decimal(2) and ledger[2].order_ref is not None
    sent = query(schwab.session.recorder.last("GET", "/transactions").url)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(stamp, sent["startDate"]) and re.fullmatch(stamp, sent["endDate"])
    assert len(sent["types"].split(",")) == 15


async def test_listings_page_completely_and_cursors_are_checked(schwab: Trading) -> None:
    many_rows(schwab.exchange, US_ACCOUNT_ID, holdings=1200, transactions=1100)
    holdings, pages = await every_page(schwab.broker.accounts.holdings, ACCOUNT_HASH)
    symbols = [h.instrument.symbol for h in holdings]
    assert pages == 3 and len(symbols) == len(set(symbols)) == 1202
    positions, _ = await every_page(schwab.broker.accounts.positions, ACCOUNT_HASH)
    assert len(positions) == 1202
    ledger, pages = await every_page(schwab.broker.accounts.transactions, ACCOUNT_HASH)
    ids = [int(t.provider_transaction_id) for t in ledger]
    assert pages == 3 and ids == sorted(set(ids)) and len(ids) == 1102
    first = await schwab.broker.accounts.holdings(ACCOUNT_HASH)
    assert first.next_cursor is not None
    with pytest.raises(InvalidInput):
        await schwab.broker.accounts.transactions(ACCOUNT_HASH, cursor=first.next_cursor)
    with pytest.raises(InvalidInput):
        await schwab.broker.accounts.holdings(ACCOUNT_HASH, cursor="not-a-cursor!")


async def test_orders_list_pages_oldest_first(schwab: Trading) -> None:
    for n in range(3):
        await schwab.broker.orders.place(order(reference=f"r{n}"))
    listed = (await schwab.broker.orders.list(ACCOUNT_HASH)).items
    assert [o.provider_order_id for o in listed] == ["1", "2", "3"]
    sent = query(schwab.session.recorder.last("GET", f"/accounts/{ACCOUNT_HASH}/orders").url)
    assert set(sent) == {"fromEnteredTime", "toEnteredTime"}


@pytest.mark.parametrize("spelling", sorted(EXPECTED_STATUS))
async def test_every_status_spelling_maps_through_the_wire(spelling: str, clock: FakeClock) -> None:
    body = _wire_order(spelling)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    got = await _get_through(httpx.MockTransport(handler), clock)
    assert (got.status, got.provider_status) == (EXPECTED_STATUS[spelling], spelling)
    assert set(STATUS) == set(EXPECTED_STATUS)


async def test_working_with_a_fill_is_partially_filled() -> None:
    assert order_status("WORKING", Decimal(1)) is OrderStatus.PARTIALLY_FILLED
    assert order_status("WORKING", Decimal(0)) is OrderStatus.OPEN


async def test_an_unknown_status_is_an_integrity_error(clock: FakeClock) -> None:
    body = _wire_order("SOMETHING_NEW")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with pytest.raises(IntegrityError) as raised:
        await _get_through(transport, clock)
    assert raised.value.code == "unknown_provider_status"


async def test_decimals_stay_exact_from_quote_to_fill_to_ledger(schwab: Trading) -> None:
    price = Decimal("0.1") + Decimal("0.2")
    schwab.exchange.set_price("AAPL", price)
    quotes = await schwab.broker.quotes.last_prices([AAPL])
    assert quotes["US:AAPL"].amount == Decimal("0.3")
    placed = await schwab.broker.orders.place(order(quantity=3))
    assert placed.fills[0].price.amount == Decimal("0.3")
    assert placed.average_price is not None and placed.average_price.amount == Decimal("0.3")
    ledger = (await schwab.broker.accounts.transactions(ACCOUNT_HASH)).items
    assert ledger[-1].amount.amount == Decimal("-0.9")
    assert type(ledger[-1].amount.amount) is Decimal


async def test_a_market_order_fills_and_the_request_is_schwabs_json(schwab: Trading) -> None:
    placed = await schwab.broker.orders.place(order(quantity=2))
    assert (placed.status, placed.provider_status, placed.filled_quantity) == (
        OrderStatus.FILLED,
        "FILLED",
        Decimal(2),
    )
    assert placed.client_reference == "ref-0001"
    assert [(f.trade_id, f.quantity, f.price.amount) for f in placed.fills] == [
        (f"{placed.provider_order_id}-1", Decimal(2), Decimal("190.00"))
    ]
    assert list(await schwab.broker.orders.fills(ACCOUNT_HASH, placed.provider_order_id)) == list(
        placed.fills
    )
    sent = schwab.session.recorder.last("POST", f"/accounts/{ACCOUNT_HASH}/orders")
    assert json_body(sent) == {
        "orderType": "MARKET",
        "session": "NORMAL",
        "duration": "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": "BUY",
                "quantity": 2,
                "instrument": {"symbol": "AAPL", "assetType": "EQUITY"},
            }
        ],
    }


async def test_limit_order_rests_is_replaced_then_cancelled(schwab: Trading) -> None:
    resting = await schwab.broker.orders.place(
        order(OrderType.LIMIT, 3, limit_price=Decimal("180.00"), validity=Validity.GTC)
    )
    assert (resting.status, resting.provider_status) == (OrderStatus.OPEN, "WORKING")
    body = json_body(schwab.session.recorder.last("POST", "/orders"))
    assert (body["price"], body["duration"]) == ("180.00", "GOOD_TILL_CANCEL")

    moved = await schwab.broker.orders.modify(
        ACCOUNT_HASH, resting.provider_order_id, OrderChange(limit_price=Decimal("181.00"))
    )
    assert moved.provider_order_id != resting.provider_order_id
    assert (moved.status, moved.limit_price, moved.quantity) == (
        OrderStatus.OPEN,
        Decimal("181.00"),
        Decimal(3),
    )
    put = schwab.session.recorder.last("PUT", f"/orders/{resting.provider_order_id}")
    assert json_body(put)["price"] == "181.00"
    old = await schwab.broker.orders.get(ACCOUNT_HASH, resting.provider_order_id)
    assert (old.status, old.provider_status) == (OrderStatus.CANCELLED, "REPLACED")
    assert old.replaced_by == moved.provider_order_id  # from its replacingOrderCollection
    assert moved.replaced_by is None

    cancelled = await schwab.broker.orders.cancel(ACCOUNT_HASH, moved.provider_order_id)
    assert (cancelled.status, cancelled.provider_status) == (OrderStatus.CANCELLED, "CANCELED")
    with pytest.raises(Conflict) as again:
        await schwab.broker.orders.cancel(ACCOUNT_HASH, moved.provider_order_id)
    assert again.value.message.startswith("Schwab cannot cancel this order now: ")
    with pytest.raises(Conflict):
        await schwab.broker.orders.modify(
            ACCOUNT_HASH, moved.provider_order_id, OrderChange(quantity=Decimal(4))
        )


async def test_partial_fills_then_a_replace_takes_the_rest(schwab: Trading) -> None:
    schwab.exchange.liquidity = Decimal(2)
    resting = await schwab.broker.orders.place(
        order(OrderType.LIMIT, 5, limit_price=Decimal("180.00"))
    )
    schwab.exchange.set_price("AAPL", Decimal("180.00"))
    partial = await schwab.broker.orders.get(ACCOUNT_HASH, resting.provider_order_id)
    assert (partial.status, partial.provider_status, partial.filled_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        "WORKING",
        Decimal(2),
    )
    rest = await schwab.broker.orders.modify(
        ACCOUNT_HASH, resting.provider_order_id, OrderChange(quantity=Decimal(6))
    )
    assert rest.quantity == Decimal(4)
    schwab.exchange.set_price("AAPL", Decimal("179.00"))
    schwab.exchange.set_price("AAPL", Decimal("178.00"))
    done = await schwab.broker.orders.get(ACCOUNT_HASH, rest.provider_order_id)
    assert (done.status, done.filled_quantity, len(done.fills)) == (
        OrderStatus.FILLED,
        Decimal(4),
        2,
    )


async def test_a_stop_order_awaits_its_condition(schwab: Trading) -> None:
    stop = await schwab.broker.orders.place(
        order(OrderType.STOP, 1, side=OrderSide.SELL, stop_price=Decimal("170.00"))
    )
    assert (stop.status, stop.provider_status) == (OrderStatus.OPEN, "AWAITING_STOP_CONDITION")
    assert json_body(schwab.session.recorder.last("POST", "/orders"))["stopPrice"] == "170.00"


async def test_a_refused_order_is_rejected_with_its_reason(schwab: Trading) -> None:
    ghost = Instrument("NOPE", "US", USD)
    refused = await schwab.broker.orders.place(
        OrderRequest(ACCOUNT_HASH, ghost, OrderSide.BUY, OrderType.MARKET, Decimal(1), "r")
    )
    assert refused.status is OrderStatus.REJECTED
    assert refused.status_message and "NOPE" in refused.status_message


async def test_an_order_is_found_again_by_its_fields(schwab: Trading) -> None:
    request = order(OrderType.LIMIT, 3, limit_price=Decimal("100.00"), reference="mine-1")
    placed = await schwab.broker.orders.place(request)
    found = await schwab.broker.orders.find_by_client_reference(ACCOUNT_HASH, request)
    assert found is not None
    assert (found.provider_order_id, found.client_reference) == (placed.provider_order_id, "mine-1")
    other = order(OrderType.LIMIT, 4, limit_price=Decimal("100.00"))
    assert await schwab.broker.orders.find_by_client_reference(ACCOUNT_HASH, other) is None


async def test_unknown_orders_are_not_found(schwab: Trading) -> None:
    with pytest.raises(NotFound):
        await schwab.broker.orders.get(ACCOUNT_HASH, "999")
    sent = len(schwab.sent)
    with pytest.raises(NotFound):
        await schwab.broker.orders.get(ACCOUNT_HASH, "../../accounts")
    assert len(schwab.sent) == sent


async def test_an_order_for_an_unknown_account_names_the_account(schwab: Trading) -> None:
    request = replace(order(), provider_account_id="0" * 64)
    with pytest.raises(NotFound) as refused:
        await schwab.broker.orders.place(request)
    assert (refused.value.code, str(refused.value)) == (
        "account_not_found",
        "Schwab has no such account.",
    )


async def test_quotes_skip_unknown_and_foreign_instruments(schwab: Trading) -> None:
    reliance = Instrument("RELIANCE", "NSE", Currency("INR"))
    ghost = Instrument("NOPE", "US", USD)
    prices = await schwab.broker.quotes.last_prices([AAPL, MSFT, ghost, reliance])
    assert {key: money.amount for key, money in prices.items()} == {
        "US:AAPL": Decimal("190.00"),
        "US:MSFT": Decimal("410.00"),
    }
    sent = query(schwab.session.recorder.last("GET", "/marketdata/v1/quotes").url)
    assert sent == {"symbols": "AAPL,MSFT,NOPE", "fields": "quote", "indicative": "false"}


async def test_an_expired_token_needs_reauthorisation(schwab: Trading, clock: FakeClock) -> None:
    clock.advance(minutes=31)
    with pytest.raises(ReauthRequired):
        await schwab.broker.accounts.accounts()
    with pytest.raises(ReauthRequired):
        await schwab.broker.orders.place(order())
    assert schwab.exchange.orders(US_ACCOUNT_ID) == []


async def test_throttling_and_outages_map_to_domain_errors(schwab: Trading) -> None:
    faults = schwab.session.sandbox.faults
    faults.add(FaultRule("/trader/v1/accounts/*", FaultKind.STATUS, status=429, retry_after=60))
    with pytest.raises(RateLimited) as limited:
        await schwab.broker.accounts.balance(ACCOUNT_HASH)
    assert limited.value.retry_after == 60
    faults.add(FaultRule("/trader/v1/accounts/*", FaultKind.STATUS, status=503, times=None))
    with pytest.raises(ProviderUnavailable):
        await schwab.broker.accounts.balance(ACCOUNT_HASH)


async def test_a_5xx_on_place_is_unknown_and_reconciles_to_nothing(schwab: Trading) -> None:
    schwab.session.sandbox.faults.add(
        FaultRule("/trader/v1/accounts/*/orders", FaultKind.STATUS, method="POST", status=500)
    )
    request = order()
    with pytest.raises(OrderStateUnknown, match="it is looked up by its fields"):
        await schwab.broker.orders.place(request)
    assert len([r for r in schwab.sent if r.method == "POST" and "/orders" in r.url.path]) == 1
    assert await schwab.broker.orders.find_by_client_reference(ACCOUNT_HASH, request) is None


async def test_a_timeout_after_acceptance_is_unknown_then_found(impatient: Trading) -> None:
    impatient.session.sandbox.faults.add(
        FaultRule(
            "/trader/v1/accounts/*/orders",
            FaultKind.TIMEOUT_AFTER_ACCEPT,
            method="POST",
            seconds=5,
        )
    )
    request = order(reference="lost-1")
    with pytest.raises(OrderStateUnknown):
        await impatient.broker.orders.place(request)
    assert len(impatient.exchange.orders(US_ACCOUNT_ID)) == 1
    found = await impatient.broker.orders.find_by_client_reference(ACCOUNT_HASH, request)
    assert found is not None
    assert (found.status, found.client_reference) == (OrderStatus.FILLED, "lost-1")


@pytest.mark.parametrize(
    "request_",
    [
        order(product=Product.INTRADAY),
        OrderRequest(
            ACCOUNT_HASH,
            Instrument("AAPL  260116C00200000", "US", USD, asset_class=AssetClass.OPTION),
            OrderSide.BUY,
            OrderType.MARKET,
            Decimal(1),
            "opt",
        ),
    ],
    ids=["intraday", "option"],
)
async def test_unsupported_asks_never_reach_schwab(schwab: Trading, request_: OrderRequest) -> None:
    sent = len(schwab.sent)
    with pytest.raises(NotSupported):
        await schwab.broker.orders.place(request_)
    assert len(schwab.sent) == sent


def _usd(amount: str) -> Money:
    return Money(Decimal(amount), USD)


def _wire_order(status: str) -> bytes:
    return msgspec.json.encode(
        {
            "orderId": 42,
            "status": status,
            "orderType": "LIMIT",
            "quantity": 5,
            "filledQuantity": 0,
            "price": 12.34,
            "duration": "DAY",
            "enteredTime": "2026-01-05T04:30:00+0000",
            "orderLegCollection": [
                {
                    "instruction": "BUY",
                    "quantity": 5,
                    "instrument": {"assetType": "EQUITY", "symbol": "AAPL"},
                }
            ],
        }
    )


async def _get_through(transport: httpx.AsyncBaseTransport, clock: FakeClock) -> Any:
    config = sandbox_config(PLUGIN)
    async with PLUGIN.create(config, clock, transport=transport) as auth:
        assert auth.gateway is not None
        credentials = ProviderCredentials(access_token="t0ken", issued_at=START)
        got = await auth.gateway.session(credentials).orders.get(ACCOUNT_HASH, "42")
        assert got.limit_price == Decimal("12.34")
        return got
