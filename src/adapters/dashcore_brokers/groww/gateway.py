"""Groww's accounts, orders and quotes (``reference/brokers.md`` §4.3-4.7; issue #6).

Business rules:
- one account per token, no account id on the wire: the account is the user
  (``vendor_user_id`` of ``/v1/user/detail``, read once per session); another account id is
  ``NotFound``;
- every call carries ``Authorization: Bearer``, ``Accept`` and ``X-API-VERSION: 1.0``; bodies
  are JSON; answers are ``SUCCESS``/``FAILURE`` envelopes (a ``FAILURE`` is a refusal whatever
  the HTTP status);
- only the cash (equity) segment on NSE and BSE is traded (``segment=CASH``);
- Groww has no ledger API: transactions are not supported;
- holdings and positions come all at once: dashcore pages them itself, 500 per page, sorted, so
  following ``next_cursor`` yields every row once; orders are paged by Groww (``page`` from 0,
  ``page_size`` up to 100), trades 50 at a time;
- the client reference is Groww's ``order_reference_id`` (8 to 20 letters, digits and at most
  two hyphens), echoed on every order and searchable
  (``/v1/order/status/reference/{id}``);
- placing is never retried: an answer lost after sending (timeout, lost connection, 5xx,
  unreadable body) is ``OrderStateUnknown``: reconcile with :meth:`find_by_client_reference`;
  a connection that could not be opened (nothing sent) stays ``ProviderUnavailable``;
- Groww's answer to a place, modify or cancel carries a status only (no fill price, no filled
  quantity), so the order is read back (``/v1/order/detail``) after each: a market order comes
  back with its average price, a cancel the exchange confirmed at once is ``cancelled``. A
  read-back that fails leaves the order as the answer said: the write happened all the same;
- refusals: ``GA006`` ("cannot process") is ``Conflict`` on a modify or cancel (the order is
  no longer open) and ``InvalidInput`` on a place; a 404 is ``NotFound``; the rest follows
  :func:`~dashcore_brokers.groww.errors.raise_for_groww`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final, NoReturn, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec
import structlog

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.connections import IST, ProviderCredentials
from dashcore.domain.errors import (
    Conflict,
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
from dashcore_brokers.groww.auth import PROFILE_PATH
from dashcore_brokers.groww.errors import groww_reason, raise_for_groww
from dashcore_brokers.groww.mapping import (
    INR,
    ORDER_TYPES,
    SIDES,
    Refused,
    normalize_fills,
    normalize_holdings,
    normalize_order,
    normalize_orders,
    normalize_positions,
    order_status,
    payload,
)
from dashcore_brokers.groww.wire import (
    Envelope,
    WireOrder,
    failure_decoder,
    ltp_decoder,
    margins_decoder,
    order_ack_decoder,
    order_decoder,
    order_list_decoder,
    order_status_decoder,
    profile_decoder,
)
from dashcore_brokers.http import ProviderHttp, record, with_reason
from dashcore_brokers.paging import cursor_at, page_of_items, start_of

__all__ = [
    "GROWW_CAPABILITIES",
    "GrowwAccounts",
    "GrowwGateway",
    "GrowwOrders",
    "GrowwQuotes",
    "GrowwSession",
]

_log = structlog.get_logger("dashcore_brokers.groww")

PROVIDER: Final = "Groww"
SEGMENT: Final = "CASH"
EXCHANGES: Final = frozenset({"NSE", "BSE"})
PAGE_SIZE: Final = 500
ORDER_PAGE_SIZE: Final = 100
TRADE_PAGE_SIZE: Final = 50
LTP_BATCH: Final = 50

HOLDINGS_PATH: Final = "/v1/holdings/user"
POSITIONS_PATH: Final = "/v1/positions/user"
MARGINS_PATH: Final = "/v1/margins/detail/user"
CREATE_PATH: Final = "/v1/order/create"
MODIFY_PATH: Final = "/v1/order/modify"
CANCEL_PATH: Final = "/v1/order/cancel"
DETAIL_PATH: Final = "/v1/order/detail/"
LIST_PATH: Final = "/v1/order/list"
TRADES_PATH: Final = "/v1/order/trades/"
REFERENCE_PATH: Final = "/v1/order/status/reference/"
LTP_PATH: Final = "/v1/live-data/ltp"

GROWW_CAPABILITIES: Final = CapabilityMap(
    operations=frozenset(Operation) - {Operation.TRANSACTIONS},
    order_types=frozenset(OrderType),
    # NRML is Groww's F&O carry-forward product and MTF is SDK-only: equity margin is not taken.
    products=frozenset({Product.DELIVERY, Product.INTRADAY}),
    # The API docs list DAY only; the SDK's IOC/GTC constants are UNCONFIRMED for orders.
    validities=frozenset({Validity.DAY}),
    client_reference=ClientReference.ECHOED,
    # Groww pushes order updates over a NATS WebSocket feed this adapter does not consume.
    push_updates=False,
    max_client_reference_length=20,
    day_order_book=IST,  # GET /v1/order/list: the day's orders (brokers.md)
)

_REFERENCE = re.compile(r"[A-Za-z0-9-]{8,20}", re.ASCII)
_WIRE_ORDER_TYPES: Final = {value: key for key, value in ORDER_TYPES.items()}
_WIRE_SIDES: Final = {value: key for key, value in SIDES.items()}
_WIRE_PRODUCTS: Final = {Product.DELIVERY: "CNC", Product.INTRADAY: "MIS"}
_WIRE_VALIDITIES: Final = {Validity.DAY: "DAY"}
_ORDER_SENT_CODES: Final = frozenset(
    {"provider_timeout", "provider_connection_lost", "provider_error"}
)

T = TypeVar("T")


def _quantity(value: Decimal) -> int:
    if value != value.to_integral_value():
        raise NotSupported("Groww takes whole quantities only.", code="unsupported_quantity")
    return int(value)


def _refuse(response: httpx.Response, operation: str) -> NoReturn:
    """Map a refused call: ``GA006`` and bare 404s here, the rest as the login adapter does."""
    try:
        error = failure_decoder.decode(response.content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    code = error.code if error else None
    if code == "GA006":
        reason = groww_reason(response)
        if operation in ("modify", "cancel"):
            raise Conflict(
                with_reason("Groww cannot change this order any more", reason),
                code="order_not_open",
            )
        if operation == "place":
            raise InvalidInput(with_reason("Groww refused the order", reason), code="order_refused")
    if response.status_code == 404 and code is None:
        raise NotFound("Groww does not know this item.")
    raise_for_groww(response, operation)


class _Api:
    """One session's calls: the bearer header, envelope checks and error mapping."""

    def __init__(
        self,
        http: ProviderHttp,
        credentials: ProviderCredentials,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {credentials.access_token}"}
        self._account_id: str | None = None
        self._recorder = recorder

    def __repr__(self) -> str:
        return "GrowwApi()"

    async def get(
        self,
        path: str,
        read: Callable[[bytes], T],
        operation: str,
        params: Mapping[str, str] | None = None,
    ) -> T:
        response = await self._http.request("GET", path, params=params, headers=self._headers)
        if response.status_code == 200:
            record(self._recorder, response)
        return self.read(response, read, operation)

    async def post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        return await self._http.request("POST", path, json=body, headers=self._headers)

    @staticmethod
    def read(response: httpx.Response, read: Callable[[bytes], T], operation: str) -> T:
        if response.status_code != 200:
            _refuse(response, operation)
        try:
            return read(response.content)
        except Refused:
            _refuse(response, operation)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderUnavailable(
                "Groww sent an answer dashcore does not understand.",
                code="provider_bad_response",
            ) from None

    async def account_id(self, *, fresh: bool = False) -> str:
        """The session's one account (the Groww user): read once for the account checks of
        other calls, which ask Groww themselves; ``fresh`` asks Groww again (listing accounts
        must prove the credentials still work)."""
        if self._account_id is None or fresh:
            profile = await self.get(
                PROFILE_PATH, lambda body: payload(profile_decoder.decode(body)), "profile"
            )
            if not profile.vendor_user_id:
                raise ProviderUnavailable(
                    "Groww did not name the user.", code="provider_bad_response"
                )
            self._account_id = profile.vendor_user_id
        return self._account_id

    async def check_account(self, account_id: str) -> None:
        if account_id != await self.account_id():
            raise NotFound("This Groww connection has no such account.", code="account_not_found")


def _envelope(decoder: msgspec.json.Decoder[Envelope[T]]) -> Callable[[bytes], T]:
    return lambda body: payload(decoder.decode(body))


_read_margins = _envelope(margins_decoder)
_read_order = _envelope(order_decoder)
_read_orders = _envelope(order_list_decoder)
_read_ack = _envelope(order_ack_decoder)
_read_status = _envelope(order_status_decoder)
_read_ltp = _envelope(ltp_decoder)


class GrowwAccounts(AccountReader):
    def __init__(self, api: _Api) -> None:
        self._api = api

    async def accounts(self) -> Sequence[Account]:
        GROWW_CAPABILITIES.require(Operation.ACCOUNTS, PROVIDER)
        account_id = await self._api.account_id(fresh=True)
        # Groww reports no account number or type (UNCONFIRMED): the user id is masked, and an
        # Indian equity account holding delivery stock is a cash account (intraday leverage is
        # a product, not an account type).
        return [
            Account(
                provider_account_id=account_id,
                masked_number=mask_account_number(account_id),
                type=AccountType.CASH,
                base_currency=INR.code,
                name=PROVIDER,
            )
        ]

    async def balance(self, account_id: str) -> Balance:
        GROWW_CAPABILITIES.require(Operation.BALANCES, PROVIDER)
        await self._api.check_account(account_id)
        margins = await self._api.get(MARGINS_PATH, _read_margins, "balances")
        equity = margins.equity_margin_details
        buying_power = equity.cnc_balance_available if equity else margins.clear_cash
        return Balance(
            provider_account_id=account_id,
            cash=Money(margins.clear_cash, INR),
            buying_power=Money(buying_power, INR),
            margin_used=Money(margins.net_margin_used, INR),
        )

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        GROWW_CAPABILITIES.require(Operation.HOLDINGS, PROVIDER)
        start_of(cursor, "holdings")
        await self._api.check_account(account_id)
        rows = await self._api.get(
            HOLDINGS_PATH, lambda body: normalize_holdings(body, account_id), "holdings"
        )
        return page_of_items(rows, cursor, listing="holdings", size=PAGE_SIZE)

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]:
        GROWW_CAPABILITIES.require(Operation.POSITIONS, PROVIDER)
        start_of(cursor, "positions")
        await self._api.check_account(account_id)
        rows = await self._api.get(
            POSITIONS_PATH, lambda body: normalize_positions(body, account_id), "positions"
        )
        return page_of_items(rows, cursor, listing="positions", size=PAGE_SIZE)

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        """Groww publishes no ledger API: always ``NotSupported``, before any call."""
        raise NotSupported(f"{PROVIDER} does not support {Operation.TRANSACTIONS}.")


def _check_reference(reference: str) -> None:
    if not _REFERENCE.fullmatch(reference) or reference.count("-") > 2:
        raise NotSupported(
            "Groww takes client references of 8 to 20 letters, digits and at most two hyphens.",
            code="unsupported_client_reference",
        )


def _check_instrument(instrument: Instrument) -> None:
    if instrument.exchange not in EXCHANGES or instrument.currency != INR:
        raise NotSupported(
            "Groww trades rupee equities on NSE and BSE only.", code="unsupported_instrument"
        )


class GrowwOrders(OrderGateway):
    def __init__(self, api: _Api) -> None:
        self._api = api

    async def place(self, request: OrderRequest) -> Order:
        GROWW_CAPABILITIES.check_order(request, PROVIDER)
        _check_reference(request.client_reference)
        _check_instrument(request.instrument)
        body = {
            "trading_symbol": request.instrument.symbol,
            "quantity": _quantity(request.quantity),
            "price": request.limit_price or Decimal(0),
            "trigger_price": request.stop_price or Decimal(0),
            "validity": _WIRE_VALIDITIES[request.validity],
            "exchange": request.instrument.exchange,
            "segment": SEGMENT,
            "product": _WIRE_PRODUCTS[request.product],
            "order_type": _WIRE_ORDER_TYPES[request.type],
            "transaction_type": _WIRE_SIDES[request.side],
            "order_reference_id": request.client_reference,
        }
        await self._api.check_account(request.provider_account_id)
        try:
            response = await self._api.post(CREATE_PATH, body)
        except ProviderUnavailable as exc:
            if exc.code in _ORDER_SENT_CODES:
                raise self._unknown() from None
            raise
        try:
            ack = _Api.read(response, _read_ack, "place")
        except ProviderUnavailable as exc:
            if exc.code == "provider_bad_response":
                raise self._unknown() from None
            raise
        status = order_status(ack.order_status)
        answered = Order(
            provider_order_id=ack.groww_order_id,
            provider_account_id=request.provider_account_id,
            instrument=request.instrument,
            side=request.side,
            type=request.type,
            quantity=request.quantity,
            filled_quantity=request.quantity if status is OrderStatus.FILLED else Decimal(0),
            status=status,
            provider_status=ack.order_status,
            placed_at=None,
            product=request.product,
            validity=request.validity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_reference=ack.order_reference_id or request.client_reference,
            status_message=ack.remark or None,
        )
        return await self._read_back(answered)

    @staticmethod
    def _unknown() -> OrderStateUnknown:
        return OrderStateUnknown(
            "Groww's answer to the order was lost: it is looked up by its client reference."
        )

    async def _read_back(self, answered: Order) -> Order:
        """The order as Groww shows it after a write, else ``answered`` (what Groww's answer
        said) when it cannot be read now: the write was taken whatever the read gives."""
        try:
            return await self.get(answered.provider_account_id, answered.provider_order_id)
        except (ProviderUnavailable, RateLimited, NotFound, ReauthRequired):
            _log.info("provider_order_read_back_failed", provider="groww")
            return answered

    async def _detail(self, account_id: str, order_id: str, operation: str) -> WireOrder:
        await self._api.check_account(account_id)
        return await self._api.get(
            DETAIL_PATH + _path_id(order_id), _read_order, operation, {"segment": SEGMENT}
        )

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order:
        GROWW_CAPABILITIES.require(Operation.MODIFY_ORDER, PROVIDER)
        row = await self._detail(account_id, order_id, "modify")
        current = normalize_order(row, account_id)
        _check_change(current, change)
        quantity = change.quantity or current.quantity
        limit = change.limit_price or current.limit_price
        stop = change.stop_price or current.stop_price
        body = {
            "quantity": _quantity(quantity),
            "price": limit or Decimal(0),
            "trigger_price": stop or Decimal(0),
            "groww_order_id": row.groww_order_id,
            "order_type": row.order_type,
            "segment": SEGMENT,
        }
        ack = _Api.read(await self._api.post(MODIFY_PATH, body), _read_ack, "modify")
        changed = replace(current, quantity=quantity, limit_price=limit, stop_price=stop)
        return await self._read_back(
            changed.moved_to(
                order_status(ack.order_status, current.filled_quantity), ack.order_status
            )
        )

    async def cancel(self, account_id: str, order_id: str) -> Order:
        GROWW_CAPABILITIES.require(Operation.CANCEL_ORDER, PROVIDER)
        row = await self._detail(account_id, order_id, "cancel")
        current = normalize_order(row, account_id)
        if current.status.is_final:
            raise Conflict(f"The order is already {current.status}.", code="order_not_open")
        body = {"segment": SEGMENT, "groww_order_id": row.groww_order_id}
        ack = _Api.read(await self._api.post(CANCEL_PATH, body), _read_ack, "cancel")
        return await self._read_back(
            current.moved_to(
                order_status(ack.order_status, current.filled_quantity), ack.order_status
            )
        )

    async def get(self, account_id: str, order_id: str) -> Order:
        GROWW_CAPABILITIES.require(Operation.GET_ORDER, PROVIDER)
        return normalize_order(await self._detail(account_id, order_id, "get_order"), account_id)

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]:
        """The day's orders, Groww's pages of 100 (the cursor carries Groww's page number)."""
        GROWW_CAPABILITIES.require(Operation.LIST_ORDERS, PROVIDER)
        page = start_of(cursor, "orders")
        await self._api.check_account(account_id)
        params = {"segment": SEGMENT, "page": str(page), "page_size": str(ORDER_PAGE_SIZE)}
        rows = (await self._api.get(LIST_PATH, _read_orders, "list_orders", params)).order_list
        more = len(rows) >= ORDER_PAGE_SIZE
        following = cursor_at("orders", page + 1) if more else None
        return Page(tuple(normalize_orders(rows, account_id)), following)

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]:
        GROWW_CAPABILITIES.require(Operation.FILLS, PROVIDER)
        await self._api.check_account(account_id)
        fills: list[Fill] = []
        page = 0
        while True:
            params = {"segment": SEGMENT, "page": str(page), "page_size": str(TRADE_PAGE_SIZE)}
            batch = await self._api.get(
                TRADES_PATH + _path_id(order_id), normalize_fills, "fills", params
            )
            fills.extend(batch)
            if len(batch) < TRADE_PAGE_SIZE:
                return fills
            page += 1

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        """The order Groww keeps under ``order_reference_id``; ``None`` when it has none."""
        GROWW_CAPABILITIES.require(Operation.FIND_BY_CLIENT_REFERENCE, PROVIDER)
        _check_reference(request.client_reference)
        await self._api.check_account(account_id)
        try:
            found = await self._api.get(
                REFERENCE_PATH + request.client_reference,
                _read_status,
                "find_order",
                {"segment": SEGMENT},
            )
        except NotFound:
            return None
        return await self.get(account_id, found.groww_order_id)


def _path_id(order_id: str) -> str:
    """Groww order ids are letters and digits; anything else cannot name one."""
    if not (order_id.isascii() and order_id.isalnum()):
        raise NotFound("Groww does not know this order.")
    return order_id


def _check_change(current: Order, change: OrderChange) -> None:
    if current.status.is_final:
        raise Conflict(f"The order is already {current.status}.", code="order_not_open")
    if change.limit_price is not None and not current.type.needs_limit_price:
        raise InvalidInput(f"A {current.type} order has no limit price.", field="limit_price")
    if change.stop_price is not None and not current.type.needs_stop_price:
        raise InvalidInput(f"A {current.type} order has no stop price.", field="stop_price")
    if change.quantity is not None and change.quantity < current.filled_quantity:
        raise InvalidInput("The quantity cannot go below what has filled.", field="quantity")


class GrowwQuotes(QuoteReader):
    def __init__(self, api: _Api) -> None:
        self._api = api

    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        """Groww's LTP by ``EXCHANGE_SYMBOL`` key, 50 per call; listings outside NSE/BSE and
        ones Groww does not price are absent."""
        GROWW_CAPABILITIES.require(Operation.QUOTES, PROVIDER)
        wanted = {
            f"{item.exchange}_{item.symbol}": str(item.key)
            for item in instruments
            if item.exchange in EXCHANGES
        }
        keys = sorted(wanted)
        prices: dict[str, Money] = {}
        for start in range(0, len(keys), LTP_BATCH):
            query = urlencode(
                [("segment", SEGMENT)]
                + [("exchange_symbols", key) for key in keys[start : start + LTP_BATCH]]
            )
            answer = await self._api.get(f"{LTP_PATH}?{query}", _read_ltp, "quotes")
            for key, price in answer.items():
                if price is not None and key in wanted:
                    prices[wanted[key]] = Money(price, INR)
        return prices


class GrowwSession(BrokerSession):
    """One Groww connection: accounts, orders and quotes on the same token."""

    def __init__(
        self,
        http: ProviderHttp,
        credentials: ProviderCredentials,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        api = _Api(http, credentials, recorder)
        self._accounts = GrowwAccounts(api)
        self._orders = GrowwOrders(api)
        self._quotes = GrowwQuotes(api)

    def __repr__(self) -> str:
        return "GrowwSession()"

    @property
    def accounts(self) -> AccountReader:
        return self._accounts

    @property
    def orders(self) -> OrderGateway:
        return self._orders

    @property
    def quotes(self) -> QuoteReader:
        return self._quotes


class GrowwGateway(BrokerGateway):
    """Groww's data and trading side on the provider's HTTP client."""

    def __init__(self, http: ProviderHttp) -> None:
        self._http = http

    def __repr__(self) -> str:
        return "GrowwGateway()"

    @property
    def capabilities(self) -> CapabilityMap:
        return GROWW_CAPABILITIES

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> BrokerSession:
        return GrowwSession(self._http, credentials, recorder)
