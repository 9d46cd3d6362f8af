"""The Kite gateway against the Kite sandbox (issue #6; brokers.md §2.3-2.7): every operation
through the real adapter and HTTP policy, the exact wire it sends, the total status table,
Decimal exactness, pagination, the order lifecycle on the exchange engine, error mapping,
the timeout-after-accept reconciliation and capability refusals that send nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal

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
from dashcore.domain.money import Currency
from dashcore.domain.orders import (
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.portfolio import ActivityType
from dashcore.ports.brokers import BrokerSession
from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import HttpPolicy
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.sandbox.credentials import KITE_API_KEY
from dashcore_brokers.sandbox.exchange import (
    INDIA_ACCOUNT_ID,
    Exchange,
    SimInstrument,
    many_rows,
)
from dashcore_brokers.sandbox.exchange import AssetClass as SimAssetClass
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_brokers.sandbox.zerodha import KITE_USER, KiteSandbox
from dashcore_brokers.zerodha import PLUGIN
from dashcore_brokers.zerodha.gateway import KITE_CAPABILITIES, KiteGateway
from dashcore_brokers.zerodha.mapping import STATUS_TABLE

from .conftest import open_session
from .harness import START, Session, _kite_login
from .timing import FakeTiming
from .wire import form

ACCOUNT = KITE_USER.user_id
INR = Currency("INR")
INFY = Instrument("INFY", "NSE", INR, tick_size=Decimal("0.05"))
TCS = Instrument("TCS", "NSE", INR, tick_size=Decimal("0.05"))
RELIANCE_BSE = Instrument("RELIANCE", "BSE", INR, tick_size=Decimal("0.05"))


@pytest.fixture
def sandboxes(clock: FakeClock) -> dict[str, BrokerSandbox]:
    """Only Kite's sandbox (the shared fixture builds all four)."""
    return {"zerodha": KiteSandbox(clock)}


@dataclass
class Kite:
    session: Session
    broker: BrokerSession
    access_token: str

    @property
    def sandbox(self) -> KiteSandbox:
        sandbox = self.session.sandbox
        assert isinstance(sandbox, KiteSandbox)
        return sandbox

    @property
    def exchange(self) -> Exchange:
        return self.sandbox.exchange

    def fault(self, path: str, **rule: object) -> None:
        self.sandbox.faults.add(FaultRule(path=path, **rule))  # type: ignore[arg-type]

    def sent(self) -> int:
        return len(self.session.recorder.requests)


async def _kite(
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
    http: HttpPolicy | None = None,
) -> AsyncIterator[Kite]:
    session = await open_session(PLUGIN, sandboxes, clock, timing, http=http)
    async with session.auth:
        credentials = await _kite_login(session)
        assert session.auth.gateway is not None
        yield Kite(session, session.auth.gateway.session(credentials), credentials.access_token)


@pytest.fixture
async def kite(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> AsyncIterator[Kite]:
    async for opened in _kite(sandboxes, clock, timing):
        yield opened


def order(
    kind: OrderType = OrderType.MARKET,
    *,
    side: OrderSide = OrderSide.BUY,
    quantity: int = 2,
    reference: str = "ref0001",
    instrument: Instrument = INFY,
    **extra: object,
) -> OrderRequest:
    return OrderRequest(
        ACCOUNT,
        instrument,
        side,
        kind,
        Decimal(quantity),
        reference,
        **extra,  # type: ignore[arg-type]
    )


# Capabilities ---------------------------------------------------------------------------------


def test_capabilities_are_kites() -> None:
    caps = KITE_CAPABILITIES
    assert caps.operations == frozenset(Operation)
    assert caps.order_types == frozenset(OrderType)
    assert caps.products == frozenset(Product)
    assert caps.validities == {Validity.DAY, Validity.IOC}
    assert caps.client_reference is ClientReference.ECHOED
    assert caps.max_client_reference_length == 20
    assert PLUGIN.default_config().http.rate_limit.per_second == 10


async def test_an_unsupported_validity_is_refused_before_any_request(kite: Kite) -> None:
    before = kite.sent()
    with pytest.raises(NotSupported) as refused:
        await kite.broker.orders.place(
            order(OrderType.LIMIT, limit_price=Decimal(1400), validity=Validity.GTC)
        )
    assert refused.value.code == "unsupported_validity"
    assert kite.sent() == before
    assert kite.exchange.orders(INDIA_ACCOUNT_ID) == []


async def test_an_undeclared_operation_is_refused_before_any_request(kite: Kite) -> None:
    caps = replace(
        KITE_CAPABILITIES,
        operations=KITE_CAPABILITIES.operations - {Operation.QUOTES, Operation.MODIFY_ORDER},
    )
    gateway = KiteGateway(kite.session.config, kite.session.auth.http, capabilities=caps)
    credentials = ProviderCredentials(
        access_token=kite.access_token, issued_at=START, account_ref=ACCOUNT
    )
    broker = gateway.session(credentials)
    before = kite.sent()
    with pytest.raises(NotSupported):
        await broker.quotes.last_prices([INFY])
    with pytest.raises(NotSupported):
        await broker.orders.modify(ACCOUNT, "260000000000001", OrderChange(quantity=Decimal(1)))
    assert kite.sent() == before


# Accounts and portfolio -----------------------------------------------------------------------


async def test_the_login_is_one_inr_account_read_with_kites_headers(kite: Kite) -> None:
    (account,) = await kite.broker.accounts.accounts()
    assert account.provider_account_id == ACCOUNT
    assert account.masked_number == "****0001"
    assert account.base_currency == "INR"
    assert account.name == KITE_USER.user_name
    sent = kite.session.recorder.last("GET", "/user/profile")
    assert sent.headers["authorization"] == f"token {KITE_API_KEY}:{kite.access_token}"
    assert sent.headers["x-kite-version"] == "3"


async def test_another_account_id_is_not_found_without_a_request(kite: Kite) -> None:
    before = kite.sent()
    with pytest.raises(NotFound):
        await kite.broker.accounts.holdings("ZZ9999")
    with pytest.raises(NotFound):
        await kite.broker.orders.place(replace(order(), provider_account_id="ZZ9999"))
    assert kite.sent() == before


async def test_balance_is_the_equity_segment_exactly(kite: Kite) -> None:
    cash = kite.exchange.account(INDIA_ACCOUNT_ID).cash
    balance = await kite.broker.accounts.balance(ACCOUNT)
    assert balance.cash.amount == cash == Decimal("500000")
    assert balance.margin_used.amount == 0
    assert balance.buying_power.amount == cash
    await kite.broker.orders.place(order(OrderType.LIMIT, quantity=10, limit_price=Decimal(1000)))
    blocked = kite.exchange.account(INDIA_ACCOUNT_ID).margin_used
    assert blocked > 10_000
    balance = await kite.broker.accounts.balance(ACCOUNT)
    assert balance.margin_used.amount == blocked
    assert balance.buying_power.amount == cash - blocked
    assert kite.session.recorder.last("GET", "/user/margins/equity")


async def test_holdings_are_exact_and_valued_at_the_last_price(kite: Kite) -> None:
    kite.exchange.seed_holding(INDIA_ACCOUNT_ID, "TCS", Decimal(3), Decimal("3333.35"))
    kite.exchange.seed_holding(INDIA_ACCOUNT_ID, "TCS", Decimal(3), Decimal("3333.40"))
    page = await kite.broker.accounts.holdings(ACCOUNT)
    assert page.next_cursor is None
    by_symbol = {holding.instrument.symbol: holding for holding in page.items}
    reliance = by_symbol["RELIANCE"]
    assert reliance.quantity == 10
    assert reliance.average_cost is not None and reliance.average_cost.amount == 2400
    assert reliance.instrument.isin == "INE002A01018"
    assert reliance.market_value is not None and reliance.market_value.amount == 25000
    tcs = by_symbol["TCS"]
    # (3 x 3333.35 + 3 x 3333.40) / 6 = 3333.375: exact through JSON, never a float.
    assert tcs.average_cost is not None
    assert tcs.average_cost.amount == Decimal("3333.375")
    assert tcs.average_cost.currency == INR


async def test_decimal_arithmetic_stays_exact_through_the_wire(kite: Kite) -> None:
    tenth, fifth = Decimal("0.1"), Decimal("0.2")
    kite.exchange.add_instrument(
        SimInstrument("PENNY", "NSE", "INR", SimAssetClass.EQUITY, tick_size=Decimal("0.05")),
        tenth + fifth,
    )
    penny = Instrument("PENNY", "NSE", INR, tick_size=Decimal("0.05"))
    placed = await kite.broker.orders.place(
        order(OrderType.LIMIT, quantity=3, instrument=penny, limit_price=tenth + fifth)
    )
    assert placed.limit_price == Decimal("0.3") and placed.status is OrderStatus.FILLED
    assert placed.average_price is not None and placed.average_price.amount == Decimal("0.3")
    (trade,) = (await kite.broker.accounts.transactions(ACCOUNT)).items
    assert trade.amount.amount == -(tenth + fifth) * 3 == Decimal("-0.9")
    holdings = (await kite.broker.accounts.holdings(ACCOUNT)).items
    held = next(h for h in holdings if h.instrument.symbol == "PENNY")
    assert held.market_value is not None and held.market_value.amount == Decimal("0.9")
    prices = await kite.broker.quotes.last_prices([penny])
    assert prices["NSE:PENNY"].amount == tenth + fifth


async def test_a_bought_holding_counts_its_t1_quantity(kite: Kite) -> None:
    await kite.broker.orders.place(order(quantity=5))
    holdings = (await kite.broker.accounts.holdings(ACCOUNT)).items
    infy = next(h for h in holdings if h.instrument.symbol == "INFY")
    assert infy.quantity == 25
    assert kite.exchange.account(INDIA_ACCOUNT_ID).holdings["INFY"].unsettled_quantity == 5


async def test_pagination_yields_every_holding_exactly_once(kite: Kite) -> None:
    many_rows(kite.exchange, INDIA_ACCOUNT_ID, holdings=1100)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await kite.broker.accounts.holdings(ACCOUNT, cursor=cursor)
        pages += 1
        assert len(page.items) <= 500
        seen.extend(holding.instrument.symbol for holding in page.items)
        if page.next_cursor is None:
            break
        again = await kite.broker.accounts.holdings(ACCOUNT, cursor=page.next_cursor)
        cursor = page.next_cursor
        assert (
            again.items[0] == (await kite.broker.accounts.holdings(ACCOUNT, cursor=cursor)).items[0]
        )
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1102


async def test_a_foreign_cursor_is_invalid_input(kite: Kite) -> None:
    with pytest.raises(InvalidInput):
        await kite.broker.accounts.holdings(ACCOUNT, cursor="orders:500")
    with pytest.raises(InvalidInput):
        await kite.broker.accounts.holdings(ACCOUNT, cursor="holdings:-1")


async def test_positions_are_signed(kite: Kite) -> None:
    await kite.broker.orders.place(order(quantity=4, product=Product.INTRADAY))
    await kite.broker.orders.place(
        order(side=OrderSide.SELL, quantity=3, product=Product.INTRADAY, instrument=TCS)
    )
    positions = {
        p.instrument.symbol: p for p in (await kite.broker.accounts.positions(ACCOUNT)).items
    }
    assert positions["INFY"].quantity == 4 and not positions["INFY"].is_short
    assert positions["INFY"].product == "intraday"
    assert positions["TCS"].quantity == -3 and positions["TCS"].is_short
    assert positions["TCS"].market_value is not None
    assert positions["TCS"].market_value.amount == Decimal(-3) * Decimal("3500.00")


async def test_transactions_are_the_days_trades_oldest_first(kite: Kite, clock: FakeClock) -> None:
    await kite.broker.orders.place(order(quantity=2))
    clock.advance(minutes=5)
    await kite.broker.orders.place(order(side=OrderSide.SELL, quantity=1, reference="ref0002"))
    page = await kite.broker.accounts.transactions(ACCOUNT)
    buy, sell = page.items
    assert (buy.activity, sell.activity) == (ActivityType.BUY, ActivityType.SELL)
    assert buy.amount.amount == Decimal("-3000.00") and sell.amount.amount == Decimal("1500.00")
    assert buy.occurred_at < sell.occurred_at
    assert buy.occurred_at == START and sell.occurred_at == clock.now()
    assert buy.order_ref is not None and buy.quantity == 2


async def test_last_prices_by_instrument_key_with_repeated_i(kite: Kite) -> None:
    kite.exchange.set_price("INFY", Decimal("1512.35"))
    unknown = Instrument("NOPE", "NSE", INR)
    prices = await kite.broker.quotes.last_prices([INFY, RELIANCE_BSE, unknown, INFY])
    assert prices == {
        "NSE:INFY": prices["NSE:INFY"],
        "BSE:RELIANCE": prices["BSE:RELIANCE"],
    }
    assert prices["NSE:INFY"].amount == Decimal("1512.35")
    sent = kite.session.recorder.last("GET", "/quote/ltp")
    assert sent.url.params.get_list("i") == ["NSE:INFY", "BSE:RELIANCE", "NSE:NOPE"]
    assert await kite.broker.quotes.last_prices([]) == {}


# Orders ---------------------------------------------------------------------------------------


async def test_a_market_order_is_sent_as_kites_form_and_fills(kite: Kite) -> None:
    placed = await kite.broker.orders.place(order(quantity=3, reference="mkt0001"))
    sent = kite.session.recorder.last("POST", "/orders/regular")
    assert form(sent) == {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": "3",
        "product": "CNC",
        "order_type": "MARKET",
        "validity": "DAY",
        "tag": "mkt0001",
    }
    assert sent.headers["x-kite-version"] == "3"
    assert placed.status is OrderStatus.FILLED and placed.provider_status == "COMPLETE"
    assert placed.filled_quantity == 3 and placed.client_reference == "mkt0001"
    assert placed.average_price is not None and placed.average_price.amount == Decimal("1500.00")
    fills = await kite.broker.orders.fills(ACCOUNT, placed.provider_order_id)
    assert [(f.quantity, f.price.amount) for f in fills] == [(Decimal(3), Decimal("1500.00"))]
    assert fills[0].provider_order_id == placed.provider_order_id


async def test_stop_orders_use_kites_sl_spellings(kite: Kite) -> None:
    await kite.broker.orders.place(
        order(
            OrderType.STOP_LIMIT,
            side=OrderSide.SELL,
            stop_price=Decimal("1400.05"),
            limit_price=Decimal("1399.95"),
        )
    )
    sent = form(kite.session.recorder.last("POST", "/orders/regular"))
    assert (sent["order_type"], sent["price"], sent["trigger_price"]) == (
        "SL",
        "1399.95",
        "1400.05",
    )
    stop = await kite.broker.orders.place(
        order(
            OrderType.STOP, stop_price=Decimal("1600"), reference="ref0002", product=Product.MARGIN
        )
    )
    sent = form(kite.session.recorder.last("POST", "/orders/regular"))
    assert (sent["order_type"], sent["product"], "price" in sent) == ("SL-M", "NRML", False)
    assert stop.status is OrderStatus.OPEN and stop.provider_status == "TRIGGER PENDING"
    assert stop.stop_price == Decimal(1600) and stop.limit_price is None


async def test_limit_order_rests_is_modified_then_cancelled(kite: Kite) -> None:
    placed = await kite.broker.orders.place(
        order(OrderType.LIMIT, quantity=4, limit_price=Decimal("1450.00"))
    )
    assert placed.status is OrderStatus.OPEN and placed.limit_price == Decimal("1450.00")
    modified = await kite.broker.orders.modify(
        ACCOUNT,
        placed.provider_order_id,
        OrderChange(quantity=Decimal(6), limit_price=Decimal("1460.5")),
    )
    sent = kite.session.recorder.last("PUT", f"/orders/regular/{placed.provider_order_id}")
    assert form(sent) == {"order_type": "LIMIT", "quantity": "6", "price": "1460.5"}
    assert modified.quantity == 6 and modified.limit_price == Decimal("1460.5")
    assert modified.status is OrderStatus.OPEN
    cancelled = await kite.broker.orders.cancel(ACCOUNT, placed.provider_order_id)
    assert kite.session.recorder.last("DELETE", f"/orders/regular/{placed.provider_order_id}")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.provider_status == "CANCELLED"
    with pytest.raises(InvalidInput) as refused:
        await kite.broker.orders.cancel(ACCOUNT, placed.provider_order_id)
    assert refused.value.code == "order_refused"
    with pytest.raises(Conflict) as final:
        await kite.broker.orders.modify(
            ACCOUNT, placed.provider_order_id, OrderChange(quantity=Decimal(5))
        )
    assert final.value.code == "order_not_open", "found by QA: Kite's own 422 before"


async def test_a_modification_naming_a_price_the_type_lacks_is_refused(kite: Kite) -> None:
    placed = await kite.broker.orders.place(order(OrderType.LIMIT, limit_price=Decimal(1000)))
    with pytest.raises(InvalidInput):
        await kite.broker.orders.modify(
            ACCOUNT, placed.provider_order_id, OrderChange(stop_price=Decimal(900))
        )


async def test_a_partial_fill_then_the_rest(kite: Kite) -> None:
    kite.exchange.liquidity = Decimal(4)
    placed = await kite.broker.orders.place(
        order(OrderType.LIMIT, quantity=10, limit_price=Decimal("1490.00"))
    )
    assert placed.status is OrderStatus.OPEN
    kite.exchange.set_price("INFY", Decimal("1489.00"))
    partial = await kite.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.provider_status == "OPEN"
    assert partial.filled_quantity == 4 and partial.pending_quantity == 6
    kite.exchange.set_price("INFY", Decimal("1488.00"))
    kite.exchange.set_price("INFY", Decimal("1487.00"))
    done = await kite.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert done.status is OrderStatus.FILLED and done.filled_quantity == 10
    assert len(await kite.broker.orders.fills(ACCOUNT, placed.provider_order_id)) == 3


async def test_a_refused_order_comes_back_rejected_with_kites_reason(kite: Kite) -> None:
    placed = await kite.broker.orders.place(order(quantity=10_000))
    assert placed.status is OrderStatus.REJECTED and placed.provider_status == "REJECTED"
    assert placed.status_message and "insufficient funds" in placed.status_message


async def test_orders_are_listed_and_paged(kite: Kite) -> None:
    for n in range(3):
        await kite.broker.orders.place(order(reference=f"ref{n:04d}"))
    page = await kite.broker.orders.list(ACCOUNT)
    assert [o.client_reference for o in page.items] == ["ref0000", "ref0001", "ref0002"]
    assert page.next_cursor is None


async def test_find_by_client_reference(kite: Kite) -> None:
    placed = await kite.broker.orders.place(order(reference="findme01"))
    found = await kite.broker.orders.find_by_client_reference(ACCOUNT, order(reference="findme01"))
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert (
        await kite.broker.orders.find_by_client_reference(ACCOUNT, order(reference="nope")) is None
    )
    other_side = order(reference="findme01", side=OrderSide.SELL)
    assert await kite.broker.orders.find_by_client_reference(ACCOUNT, other_side) is None


async def test_unknown_orders_are_not_found(kite: Kite) -> None:
    with pytest.raises(NotFound):
        await kite.broker.orders.get(ACCOUNT, "260000000009999")
    before = kite.sent()
    with pytest.raises(NotFound):
        await kite.broker.orders.get(ACCOUNT, "../user/profile")
    assert kite.sent() == before


# Status spellings -----------------------------------------------------------------------------

EXPECTED = {
    "PUT ORDER REQ RECEIVED": OrderStatus.SUBMITTED,
    "VALIDATION PENDING": OrderStatus.SUBMITTED,
    "OPEN PENDING": OrderStatus.SUBMITTED,
    "AMO REQ RECEIVED": OrderStatus.SUBMITTED,
    "OPEN": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.OPEN,
    "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
    "MODIFY PENDING": OrderStatus.OPEN,
    "MODIFIED": OrderStatus.OPEN,
    "UPDATE": OrderStatus.OPEN,
    "CANCEL PENDING": OrderStatus.CANCEL_REQUESTED,
    "COMPLETE": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
}


def test_the_status_table_covers_every_documented_spelling() -> None:
    assert dict(STATUS_TABLE) == EXPECTED


@pytest.mark.parametrize(("spelling", "expected"), EXPECTED.items())
async def test_each_spelling_on_the_wire_maps_to_one_status(
    kite: Kite, spelling: str, expected: OrderStatus
) -> None:
    placed = await kite.broker.orders.place(order(OrderType.LIMIT, limit_price=Decimal(1000)))
    kite.sandbox.status_overrides[placed.provider_order_id] = spelling
    read = await kite.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert (read.status, read.provider_status) == (expected, spelling)
    (listed,) = (await kite.broker.orders.list(ACCOUNT)).items
    assert listed.status is expected


async def test_a_live_status_with_fills_is_partially_filled(kite: Kite) -> None:
    kite.exchange.liquidity = Decimal(1)
    placed = await kite.broker.orders.place(
        order(OrderType.LIMIT, quantity=3, limit_price=Decimal(1500))
    )
    kite.sandbox.status_overrides[placed.provider_order_id] = "MODIFY PENDING"
    read = await kite.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert read.status is OrderStatus.PARTIALLY_FILLED and read.filled_quantity == 1


async def test_an_unknown_status_is_an_integrity_error_and_logged(kite: Kite) -> None:
    placed = await kite.broker.orders.place(order())
    kite.sandbox.status_overrides[placed.provider_order_id] = "HALF DONE"
    with capture_logs() as logs, pytest.raises(IntegrityError) as broken:
        await kite.broker.orders.get(ACCOUNT, placed.provider_order_id)
    assert broken.value.code == "unknown_provider_status"
    assert any(
        log["event"] == "provider_unknown_value" and log["value"] == "HALF DONE" for log in logs
    )


# Failures -------------------------------------------------------------------------------------


async def test_an_expired_session_is_reauth_required(kite: Kite) -> None:
    kite.sandbox.tokens.expire(kite.access_token)
    with pytest.raises(ReauthRequired):
        await kite.broker.accounts.holdings(ACCOUNT)
    with pytest.raises(ReauthRequired):
        await kite.broker.orders.place(order())
    assert kite.exchange.orders(INDIA_ACCOUNT_ID) == []


async def test_429_is_rate_limited_with_retry_after(kite: Kite) -> None:
    kite.fault("/portfolio/holdings", kind=FaultKind.STATUS, status=429, retry_after=7, times=None)
    with pytest.raises(RateLimited) as limited:
        await kite.broker.accounts.holdings(ACCOUNT)
    assert limited.value.retry_after == 7
    kite.fault("/orders/regular", kind=FaultKind.STATUS, status=429, retry_after=2, times=None)
    before = kite.sent()
    with pytest.raises(RateLimited):
        await kite.broker.orders.place(order())
    assert kite.sent() == before + 1
    assert kite.exchange.orders(INDIA_ACCOUNT_ID) == []


async def test_5xx_reads_are_unavailable_and_a_5xx_placement_is_unknown(kite: Kite) -> None:
    kite.fault("/user/margins/*", kind=FaultKind.STATUS, status=503, times=None)
    with pytest.raises(ProviderUnavailable):
        await kite.broker.accounts.balance(ACCOUNT)
    kite.fault("/orders/regular", kind=FaultKind.STATUS, status=502, times=1)
    before = kite.sent()
    with pytest.raises(OrderStateUnknown):
        await kite.broker.orders.place(order())
    assert kite.sent() == before + 1


async def test_a_failed_read_back_still_reports_the_placed_order(kite: Kite) -> None:
    kite.fault("/orders/2*", kind=FaultKind.STATUS, status=503, method="GET", times=None)
    placed = await kite.broker.orders.place(order(reference="readback"))
    assert placed.status is OrderStatus.SUBMITTED
    assert placed.provider_status == "PUT ORDER REQ RECEIVED"
    assert placed.provider_order_id == "260000000000001"


async def test_timeout_after_accept_is_unknown_then_found_by_reference(
    sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
) -> None:
    quick = HttpPolicy(connect_timeout=0.05, total_timeout=0.2)
    async for kite in _kite(sandboxes, clock, timing, http=quick):
        kite.fault("/orders/regular", kind=FaultKind.TIMEOUT_AFTER_ACCEPT, method="POST", seconds=5)
        request = order(reference="lostanswer")
        before = kite.sent()
        with pytest.raises(OrderStateUnknown):
            await kite.broker.orders.place(request)
        assert kite.sent() == before + 1
        found = await kite.broker.orders.find_by_client_reference(ACCOUNT, request)
        assert found is not None and found.status is OrderStatus.FILLED
        assert len(kite.exchange.orders(INDIA_ACCOUNT_ID)) == 1
