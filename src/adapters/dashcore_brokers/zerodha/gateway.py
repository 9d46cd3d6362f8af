"""Zerodha Kite Connect v3 gateway: accounts, portfolio, orders and quotes (issue #6;
``reference/brokers.md`` §2.3-2.7).

Business rules:
- one Kite login is one account, named by its ``user_id`` (the credentials' ``account_ref``);
  another account id is ``NotFound`` before any call;
- calls carry ``Authorization: token <api_key>:<access_token>`` and ``X-Kite-Version: 3``;
  orders go form-encoded to ``POST /orders/regular``, ``PUT``/``DELETE
  /orders/{variety}/{order_id}``; the client reference travels as Kite's ``tag`` and comes
  back on the order, so an order is found again by it (``ClientReference.ECHOED``);
- placing is sent once: a timeout, a lost connection, a 5xx or an unreadable answer after
  sending is ``OrderStateUnknown`` (the caller reconciles with
  :meth:`KiteOrders.find_by_client_reference`); a connection that could not be opened or an
  open circuit (nothing sent) stays ``ProviderUnavailable`` and a 429 ``RateLimited``. Kite
  answers a placement with the order id only: the order is then read back; if that read
  fails the order is reported ``submitted`` (Kite's ``PUT ORDER REQ RECEIVED``), which is
  what the answer established;
- Kite returns whole listings (the day's orders, every holding): they are paged here, in
  Kite's order, ``page_size`` at a time, behind an opaque cursor, so that following
  ``next_cursor`` yields every item exactly once;
- the ledger is the day's trades (Kite Connect has no statement API, see
  :mod:`dashcore_brokers.zerodha.mapping`);
- an order type, product, validity or operation outside :data:`KITE_CAPABILITIES` is
  ``NotSupported`` before any call.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final, TypeVar
from urllib.parse import urlencode

import httpx
import structlog

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.connections import IST, ProviderCredentials
from dashcore.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderChange,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.portfolio import (
    Account,
    AccountType,
    Balance,
    Holding,
    Page,
    Position,
    Transaction,
    mask_account_number,
)
from dashcore.ports.brokers import (
    AccountReader,
    BrokerGateway,
    BrokerSession,
    OrderGateway,
    PayloadRecorder,
    QuoteReader,
)
from dashcore_brokers.http import ProviderHttp, record
from dashcore_brokers.paging import page_of_items
from dashcore_brokers.plugin import ProviderConfig
from dashcore_brokers.zerodha import wire
from dashcore_brokers.zerodha.mapping import (
    INR,
    ORDER_TYPES,
    PRODUCTS,
    SIDES,
    VALIDITIES,
    Instruments,
    latest_snapshot,
    normalize_fills,
    normalize_holdings,
    normalize_order,
    normalize_order_id,
    normalize_orders,
    normalize_positions,
    normalize_transactions,
    unwrap,
)
from dashcore_brokers.zerodha.refusals import raise_refusal

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "KITE_CAPABILITIES",
    "KiteAccounts",
    "KiteGateway",
    "KiteOrders",
    "KiteQuotes",
    "KiteSession",
    "decimal_text",
]

T = TypeVar("T")

PROVIDER: Final = "Zerodha Kite"
DEFAULT_PAGE_SIZE: Final = 500
PLACE_VARIETY: Final = "regular"
"""dashcore places regular orders (not after-market, cover or iceberg ones)."""

KITE_CAPABILITIES: Final = CapabilityMap(
    operations=frozenset(Operation),
    order_types=frozenset(OrderType),
    products=frozenset({Product.DELIVERY, Product.INTRADAY, Product.MARGIN}),
    validities=frozenset({Validity.DAY, Validity.IOC}),
    client_reference=ClientReference.ECHOED,
    # Kite pushes order updates (postbacks, and the ticker WebSocket's order updates).
    push_updates=True,
    # brokers.md §2.5: ``tag`` is at most 20 alphanumerics per the docs (UNCONFIRMED).
    max_client_reference_length=20,
    day_order_book=IST,  # GET /orders: all orders for the day (brokers.md)
)

_SENT_UNCONFIRMED: Final = frozenset(
    {"provider_timeout", "provider_connection_lost", "provider_error", "provider_bad_response"}
)
"""Failures after a placement left: the order may or may not exist at Kite."""

_log = structlog.get_logger("dashcore_brokers.zerodha")


def decimal_text(value: Decimal) -> str:
    """A Decimal as Kite's form wants it: plain notation, never an exponent."""
    return format(value, "f")


def _quantity_text(value: Decimal) -> str:
    text = decimal_text(value)
    whole, _, fraction = text.partition(".")
    if fraction.strip("0"):
        raise InvalidInput("Kite trades whole quantities.", field="quantity")
    return whole


def _order_id(order_id: str) -> str:
    """Kite order ids are numeric strings; anything else cannot name a Kite order."""
    if not (order_id.isascii() and order_id.isdigit()):
        raise NotFound("Kite has no such order.", code="order_not_found")
    return order_id


class _KiteApi:
    """One session's calls: Kite's authorization header, refusals translated."""

    def __init__(
        self,
        http: ProviderHttp,
        config: ProviderConfig,
        credentials: ProviderCredentials,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        self.http = http
        self.account_ref = credentials.account_ref
        self.headers = {"Authorization": f"token {config.client_id}:{credentials.access_token}"}
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"_KiteApi(account={self.account_ref!r})"

    def account(self, account_id: str) -> str:
        """The one account of this login; any other id is unknown here."""
        if self.account_ref is not None and account_id != self.account_ref:
            raise NotFound("Kite has no such account for this login.", code="account_not_found")
        return account_id

    async def read(self, path: str, operation: str) -> bytes:
        response = await self.http.request("GET", path, headers=self.headers)
        body = self.answer(response, operation)
        record(self._recorder, response)
        return body

    async def send(self, method: str, path: str, form: dict[str, str], operation: str) -> bytes:
        response = await self.http.request(method, path, data=form, headers=self.headers)
        return self.answer(response, operation)

    @staticmethod
    def answer(response: httpx.Response, operation: str) -> bytes:
        if response.status_code != 200:
            raise_refusal(response, operation)
        return response.content


class KiteAccounts(AccountReader):
    """The login's one account, its equity funds, holdings, positions and the day's trades."""

    def __init__(self, api: _KiteApi, capabilities: CapabilityMap, page_size: int) -> None:
        self._api = api
        self._caps = capabilities
        self._page_size = page_size

    async def accounts(self) -> Sequence[Account]:
        self._caps.require(Operation.ACCOUNTS, PROVIDER)
        body = await self._api.read("/user/profile", "accounts")
        profile = unwrap(wire.profile_decoder, body)
        return (
            Account(
                provider_account_id=profile.user_id,
                masked_number=mask_account_number(profile.user_id),
                type=AccountType.MARGIN,
                base_currency=INR.code,
                name=profile.user_name or None,
            ),
        )

    async def balance(self, account_id: str) -> Balance:
        """Equity segment: cash is ``available.cash``, buying power ``net`` (what can be used
        now), margin used ``utilised.debits``."""
        self._caps.require(Operation.BALANCES, PROVIDER)
        account_id = self._api.account(account_id)
        margins = unwrap(
            wire.margins_decoder, await self._api.read("/user/margins/equity", "balance")
        )
        return Balance(
            provider_account_id=account_id,
            cash=Money(margins.available.cash, INR),
            buying_power=Money(margins.net, INR),
            margin_used=Money(margins.utilised.debits, INR),
        )

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        self._caps.require(Operation.HOLDINGS, PROVIDER)
        account_id = self._api.account(account_id)
        body = await self._api.read("/portfolio/holdings", "holdings")
        return page_of_items(
            normalize_holdings(body, account_id), cursor, listing="holdings", size=self._page_size
        )

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]:
        self._caps.require(Operation.POSITIONS, PROVIDER)
        account_id = self._api.account(account_id)
        body = await self._api.read("/portfolio/positions", "positions")
        return page_of_items(
            normalize_positions(body, account_id), cursor, listing="positions", size=self._page_size
        )

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        self._caps.require(Operation.TRANSACTIONS, PROVIDER)
        account_id = self._api.account(account_id)
        body = await self._api.read("/trades", "transactions")
        return page_of_items(
            normalize_transactions(body, account_id), cursor, listing="trades", size=self._page_size
        )


class KiteOrders(OrderGateway):
    """Regular orders: place (form, ``tag`` = client reference), modify, cancel, read, fills."""

    def __init__(self, api: _KiteApi, capabilities: CapabilityMap, page_size: int) -> None:
        self._api = api
        self._caps = capabilities
        self._page_size = page_size

    async def place(self, request: OrderRequest) -> Order:
        self._caps.check_order(request, PROVIDER)
        account_id = self._api.account(request.provider_account_id)
        form = _place_form(request)
        try:
            response = await self._api.http.request(
                "POST", f"/orders/{PLACE_VARIETY}", data=form, headers=self._api.headers
            )
            order_id = normalize_order_id(_KiteApi.answer(response, "place_order"))
        except ProviderUnavailable as exc:
            if exc.code not in _SENT_UNCONFIRMED:
                raise
            _log.warning("provider_order_state_unknown", provider="zerodha", error=exc.code)
            raise OrderStateUnknown(
                "Kite did not confirm the order; reconcile it by its client reference.",
            ) from None
        try:
            return await self.get(account_id, order_id)
        except (ProviderUnavailable, RateLimited, NotFound):
            _log.info("provider_order_read_back_failed", provider="zerodha")
            return _submitted(request, order_id)

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order:
        self._caps.require(Operation.MODIFY_ORDER, PROVIDER)
        account_id = self._api.account(account_id)
        current = await self._snapshot(order_id)
        normalized = normalize_order(current, account_id, Instruments())
        if normalized.status.is_final:
            # Found by QA: Kite answers its OrderException (422 order_refused) instead.
            raise Conflict(f"The order is already {normalized.status}.", code="order_not_open")
        kind = normalized.type
        form = {"order_type": current.order_type}
        if change.quantity is not None:
            form["quantity"] = _quantity_text(change.quantity)
        if change.limit_price is not None:
            if not kind.needs_limit_price:
                raise InvalidInput(f"A {kind} order has no limit price.", field="limit_price")
            form["price"] = decimal_text(change.limit_price)
        if change.stop_price is not None:
            if not kind.needs_stop_price:
                raise InvalidInput(f"A {kind} order has no stop price.", field="stop_price")
            form["trigger_price"] = decimal_text(change.stop_price)
        path = f"/orders/{current.variety}/{current.order_id}"
        await self._api.send("PUT", path, form, "modify_order")
        return await self.get(account_id, order_id)

    async def cancel(self, account_id: str, order_id: str) -> Order:
        self._caps.require(Operation.CANCEL_ORDER, PROVIDER)
        account_id = self._api.account(account_id)
        current = await self._snapshot(order_id)
        path = f"/orders/{current.variety}/{current.order_id}"
        response = await self._api.http.request("DELETE", path, headers=self._api.headers)
        _KiteApi.answer(response, "cancel_order")
        return await self.get(account_id, order_id)

    async def get(self, account_id: str, order_id: str) -> Order:
        self._caps.require(Operation.GET_ORDER, PROVIDER)
        account_id = self._api.account(account_id)
        return normalize_order(await self._snapshot(order_id), account_id, Instruments())

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]:
        """The day's orders (Kite keeps no older ones), oldest first."""
        self._caps.require(Operation.LIST_ORDERS, PROVIDER)
        account_id = self._api.account(account_id)
        body = await self._api.read("/orders", "list_orders")
        return page_of_items(
            normalize_orders(body, account_id), cursor, listing="orders", size=self._page_size
        )

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]:
        self._caps.require(Operation.FILLS, PROVIDER)
        self._api.account(account_id)
        body = await self._api.read(f"/orders/{_order_id(order_id)}/trades", "fills")
        return normalize_fills(body)

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        """The first of the day's orders tagged with the request's reference on the same
        instrument and side (Kite keeps the day's orders only)."""
        self._caps.require(Operation.FIND_BY_CLIENT_REFERENCE, PROVIDER)
        account_id = self._api.account(account_id)
        rows = unwrap(wire.orders_decoder, await self._api.read("/orders", "find_order"))
        instrument, side = request.instrument, SIDES[request.side]
        for row in rows:
            if (
                row.tag == request.client_reference
                and row.tradingsymbol == instrument.symbol
                and row.exchange == instrument.exchange
                and row.transaction_type == side
            ):
                return normalize_order(row, account_id, Instruments())
        return None

    async def _snapshot(self, order_id: str) -> wire.KiteOrder:
        body = await self._api.read(f"/orders/{_order_id(order_id)}", "get_order")
        return latest_snapshot(body)


class KiteQuotes(QuoteReader):
    """Last traded prices from ``GET /quote/ltp?i=EXCHANGE:SYMBOL&i=…``."""

    def __init__(self, api: _KiteApi, capabilities: CapabilityMap) -> None:
        self._api = api
        self._caps = capabilities

    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        self._caps.require(Operation.QUOTES, PROVIDER)
        keys = list(dict.fromkeys(str(instrument.key) for instrument in instruments))
        if not keys:
            return {}
        query = urlencode([("i", key) for key in keys])
        prices = unwrap(wire.ltp_decoder, await self._api.read(f"/quote/ltp?{query}", "quotes"))
        return {key: Money(prices[key].last_price, INR) for key in keys if key in prices}


class KiteSession(BrokerSession):
    """One Kite login's accounts, orders and quotes on the provider's HTTP client."""

    def __init__(
        self,
        http: ProviderHttp,
        config: ProviderConfig,
        credentials: ProviderCredentials,
        capabilities: CapabilityMap,
        page_size: int,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        api = _KiteApi(http, config, credentials, recorder)
        self._accounts = KiteAccounts(api, capabilities, page_size)
        self._orders = KiteOrders(api, capabilities, page_size)
        self._quotes = KiteQuotes(api, capabilities)

    def __repr__(self) -> str:
        return "KiteSession()"

    @property
    def accounts(self) -> AccountReader:
        return self._accounts

    @property
    def orders(self) -> OrderGateway:
        return self._orders

    @property
    def quotes(self) -> QuoteReader:
        return self._quotes


class KiteGateway(BrokerGateway):
    """Kite's data and trading side; ``page_size`` bounds the pages of whole listings."""

    def __init__(
        self,
        config: ProviderConfig,
        http: ProviderHttp,
        *,
        capabilities: CapabilityMap = KITE_CAPABILITIES,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._config = config
        self._http = http
        self._capabilities = capabilities
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"KiteGateway(page_size={self._page_size})"

    @property
    def capabilities(self) -> CapabilityMap:
        return self._capabilities

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> BrokerSession:
        return KiteSession(
            self._http, self._config, credentials, self._capabilities, self._page_size, recorder
        )


def _place_form(request: OrderRequest) -> dict[str, str]:
    form = {
        "exchange": request.instrument.exchange,
        "tradingsymbol": request.instrument.symbol,
        "transaction_type": SIDES[request.side],
        "quantity": _quantity_text(request.quantity),
        "product": PRODUCTS[request.product],
        "order_type": ORDER_TYPES[request.type],
        "validity": VALIDITIES[request.validity],
        "tag": request.client_reference,
    }
    if request.limit_price is not None:
        form["price"] = decimal_text(request.limit_price)
    if request.stop_price is not None:
        form["trigger_price"] = decimal_text(request.stop_price)
    return form


def _submitted(request: OrderRequest, order_id: str) -> Order:
    """What a success answer alone establishes: Kite received the order."""
    return Order(
        provider_order_id=order_id,
        provider_account_id=request.provider_account_id,
        instrument=request.instrument,
        side=request.side,
        type=request.type,
        quantity=request.quantity,
        filled_quantity=Decimal(0),
        status=OrderStatus.SUBMITTED,
        provider_status="PUT ORDER REQ RECEIVED",
        placed_at=None,
        product=request.product,
        validity=request.validity,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        client_reference=request.client_reference,
    )
