"""Charles Schwab's data and trading side: accounts, orders and quotes on the Trader API
(``reference/brokers.md`` §1.3-1.7).

Business rules:
- accounts are known by Schwab's account *hash* (``/accounts/accountNumbers``): plain numbers
  never go into a URL and show only masked;
- Schwab answers listings whole (no paging); dashcore pages them itself, 500 items a page, with
  an opaque cursor that also pins the time window of the first page, so that following
  ``next_cursor`` yields every item exactly once. Orders are listed oldest first (by order id)
  over the last year (Schwab's per-account maximum), transactions oldest first over the last
  year; Schwab returns at most 3,000 rows per call;
- an order is placed with ``POST /accounts/{hash}/orders`` (JSON, prices as decimal strings as
  schwab-py sends them); Schwab answers 201 with the new order's id only in ``Location``.
  Placing is never retried: a timeout, a lost connection or a 5xx after sending is
  ``OrderStateUnknown``, to be settled with :meth:`SchwabOrders.find_by_client_reference`;
  a connection that could not be opened (nothing sent) stays ``ProviderUnavailable``.
  When the order is accepted but cannot be read back at once, it is returned ``submitted``;
- Schwab keeps no client reference: an order is found again by matching account, symbol, side,
  type, quantity, prices and validity among the orders of the last day (the newest match wins;
  two identical orders placed the same day cannot be told apart);
- a modification is Schwab's *replace*: the old order ends ``REPLACED`` and a new order with a
  new id takes the rest (the new total quantity less what already filled). A ``REPLACED`` order
  names its replacement (``replacingOrderCollection``) as ``replaced_by``;
- fills are the ``EXECUTION`` activities of the order (Schwab has no trades endpoint); their
  trade id is ``{orderId}-{n}``, the n-th execution leg;
- unsupported asks (intraday product, an instrument class Schwab's order API does not take)
  are ``NotSupported`` before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NoReturn, TypeVar

import httpx
import msgspec
import structlog

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
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
)
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Money
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderChange,
    OrderRequest,
    OrderSide,
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
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp, decode, record, with_reason
from dashcore_brokers.schwab.errors import api_reason, raise_for_api
from dashcore_brokers.schwab.mapping import (
    ACCOUNT_TYPE,
    DURATION,
    INSTRUCTION,
    ORDER_TYPE,
    SIDE_OF,
    USD,
    VALIDITY_OF,
    InstrumentCache,
    normalize_holdings,
    normalize_positions,
    normalize_transactions,
    order_status,
    order_type,
    parse_time,
)
from dashcore_brokers.schwab.wire import (
    ACCOUNT,
    ACCOUNT_NUMBERS,
    ACCOUNTS,
    ORDER,
    ORDERS,
    QUOTES,
    WireBalances,
    WireOrder,
)

__all__ = [
    "PAGE_SIZE",
    "SCHWAB_CAPABILITIES",
    "SchwabAccounts",
    "SchwabGateway",
    "SchwabOrders",
    "SchwabQuotes",
    "SchwabSession",
]

T = TypeVar("T")

_log = structlog.get_logger("dashcore_brokers.schwab")

PROVIDER: Final = "Schwab"
PAGE_SIZE: Final = 500
TRADER: Final = "/trader/v1"
QUOTES_PATH: Final = "/marketdata/v1/quotes"
HISTORY: Final = timedelta(days=365)
MATCH_WINDOW: Final = timedelta(days=1)
TRANSACTION_TYPES: Final = ",".join(
    (
        "TRADE",
        "RECEIVE_AND_DELIVER",
        "DIVIDEND_OR_INTEREST",
        "ACH_RECEIPT",
        "ACH_DISBURSEMENT",
        "CASH_RECEIPT",
        "CASH_DISBURSEMENT",
        "ELECTRONIC_FUND",
        "WIRE_OUT",
        "WIRE_IN",
        "JOURNAL",
        "MEMORANDUM",
        "MARGIN_CALL",
        "MONEY_MARKET",
        "SMA_ADJUSTMENT",
    )
)
_MAYBE_SENT: Final = frozenset({"provider_timeout", "provider_connection_lost", "provider_error"})
_ORDER_ASSET_TYPE: Final = {
    AssetClass.EQUITY: "EQUITY",
    AssetClass.ETF: "EQUITY",
    AssetClass.MUTUAL_FUND: "MUTUAL_FUND",
}

SCHWAB_CAPABILITIES: Final = CapabilityMap(
    operations=frozenset(Operation),
    order_types=frozenset(OrderType),
    products=frozenset({Product.DELIVERY}),
    validities=frozenset(Validity),
    client_reference=ClientReference.MATCHED_BY_FIELDS,
    push_updates=False,
    positions_include_holdings=True,
)
"""Schwab takes market, limit, stop and stop-limit orders for the day, good-till-cancel or
immediate-or-cancel. It has no product: margin is a property of the account, so only
``delivery`` is declared. Its order events stream over a WebSocket dashcore does not use. Its
position lines are everything the account holds: holdings are their long side."""


class _Cursor(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    listing: str
    offset: int
    start: str = ""
    end: str = ""


_cursor = msgspec.json.Decoder(_Cursor)


def _encode_cursor(cursor: _Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def _decode_cursor(text: str, listing: str) -> _Cursor:
    try:
        cursor = _cursor.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        cursor = None
    if cursor is None or cursor.listing != listing or cursor.offset < 0:
        raise InvalidInput("This cursor does not belong to this listing.", field="cursor")
    return cursor


def _page(items: Sequence[T], cursor: _Cursor) -> Page[T]:
    """The page at ``cursor``; the next one keeps the cursor's listing and window."""
    end = cursor.offset + PAGE_SIZE
    following = None
    if end < len(items):
        following = _encode_cursor(_Cursor(cursor.listing, end, start=cursor.start, end=cursor.end))
    return Page(tuple(items[cursor.offset : end]), following)


def _schwab_time(instant: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in UTC, the form Schwab's date filters take."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _refused(response: httpx.Response, missing: str) -> NoReturn:
    if response.status_code == 404:
        _log.info("provider_not_found", provider="schwab", path=response.request.url.path)
        raise NotFound(f"Schwab has no such {missing}.", code=f"{missing}_not_found")
    raise_for_api(response)


def _normalized(
    normalize: Callable[[bytes, str], list[T]], response: httpx.Response, account_id: str
) -> list[T]:
    try:
        return normalize(response.content, account_id)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _log.warning("provider_bad_response", provider="schwab", path=response.request.url.path)
        raise ProviderUnavailable(
            "Schwab sent an answer dashcore does not understand.", code="provider_bad_response"
        ) from None


class _Api:
    """Trader API calls on one connection's access token (never shown in a ``repr``)."""

    def __init__(
        self,
        http: ProviderHttp,
        credentials: ProviderCredentials,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {credentials.access_token}"}
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"_Api(provider={self._http.provider!r})"

    async def get(
        self, path: str, missing: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        response = await self._http.request("GET", path, params=params, headers=self._headers)
        if response.status_code != 200:
            _refused(response, missing)
        record(self._recorder, response)
        return response

    async def send(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return await self._http.request(method, path, json=json, headers=self._headers)


def _account_path(account_id: str) -> str:
    if not account_id or "/" in account_id:
        raise InvalidInput("Not a Schwab account hash.", field="account_id")
    return f"{TRADER}/accounts/{account_id}"


def _order_path(account_id: str, order_id: str) -> str:
    if not order_id.isascii() or not order_id.isdigit():
        raise NotFound("Schwab has no such order.", code="order_not_found")
    return f"{_account_path(account_id)}/orders/{order_id}"


class SchwabAccounts(AccountReader):
    """Accounts, balances, holdings, positions and the ledger of one Schwab login."""

    def __init__(self, api: _Api, clock: Clock) -> None:
        self._api = api
        self._clock = clock

    async def accounts(self) -> Sequence[Account]:
        SCHWAB_CAPABILITIES.require(Operation.ACCOUNTS, PROVIDER)
        numbers_answer = await self._api.get(f"{TRADER}/accounts/accountNumbers", "account")
        numbers = decode(ACCOUNT_NUMBERS, numbers_answer, "schwab")
        details = decode(ACCOUNTS, await self._api.get(f"{TRADER}/accounts", "account"), "schwab")
        types = {d.securities_account.account_number: d.securities_account.type for d in details}
        return [
            Account(
                provider_account_id=number.hash_value,
                masked_number=mask_account_number(number.account_number),
                type=ACCOUNT_TYPE.get(types.get(number.account_number, ""), AccountType.OTHER),
                base_currency=USD.code,
            )
            for number in numbers
        ]

    async def balance(self, account_id: str) -> Balance:
        SCHWAB_CAPABILITIES.require(Operation.BALANCES, PROVIDER)
        answer = await self._api.get(_account_path(account_id), "account")
        account = decode(ACCOUNT, answer, "schwab").securities_account
        current = account.current_balances or WireBalances()
        initial = account.initial_balances or WireBalances()
        cash = _first(
            current.cash_balance, current.total_cash, initial.cash_balance, initial.total_cash
        )
        buying_power = _first(
            current.buying_power,
            current.cash_available_for_trading,
            initial.buying_power,
            initial.cash_available_for_trading,
        )
        return Balance(
            provider_account_id=account_id,
            cash=Money(cash, USD),
            buying_power=Money(buying_power, USD),
            margin_used=Money(_first(current.margin_balance), USD),
            as_of=self._clock.now(),
        )

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        SCHWAB_CAPABILITIES.require(Operation.HOLDINGS, PROVIDER)
        return await self._positions_page(account_id, cursor, "holdings", normalize_holdings)

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]:
        SCHWAB_CAPABILITIES.require(Operation.POSITIONS, PROVIDER)
        return await self._positions_page(account_id, cursor, "positions", normalize_positions)

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        SCHWAB_CAPABILITIES.require(Operation.TRANSACTIONS, PROVIDER)
        at = self._window_cursor("transactions", cursor)
        answer = await self._api.get(
            f"{_account_path(account_id)}/transactions",
            "account",
            {"startDate": at.start, "endDate": at.end, "types": TRANSACTION_TYPES},
        )
        return _page(_normalized(normalize_transactions, answer, account_id), at)

    async def _positions_page(
        self,
        account_id: str,
        cursor: str | None,
        listing: str,
        normalize: Callable[[bytes, str], list[T]],
    ) -> Page[T]:
        at = _decode_cursor(cursor, listing) if cursor else _Cursor(listing, 0)
        answer = await self._api.get(_account_path(account_id), "account", {"fields": "positions"})
        return _page(_normalized(normalize, answer, account_id), at)

    def _window_cursor(self, listing: str, cursor: str | None) -> _Cursor:
        if cursor:
            return _decode_cursor(cursor, listing)
        now = self._clock.now()
        return _Cursor(listing, 0, _schwab_time(now - HISTORY), _schwab_time(now))


def _first(*amounts: Decimal | None) -> Decimal:
    return next((amount for amount in amounts if amount is not None), Decimal(0))


def _order(wire: WireOrder, account_id: str, client_reference: str | None = None) -> Order:
    """One Schwab order, normalized (its fills included)."""
    if not wire.order_leg_collection:
        raise ProviderUnavailable(
            "Schwab sent an order without legs.", code="provider_bad_response"
        )
    leg = wire.order_leg_collection[0]
    side = SIDE_OF.get(leg.instruction)
    if side is None:
        _log.error("provider_unknown_instruction", provider="schwab", value=leg.instruction[:64])
        raise IntegrityError(
            "Schwab reported an order instruction dashcore does not know.",
            code="unknown_provider_instruction",
        )
    order_id = str(wire.order_id)
    fills = _fills(wire, order_id)
    filled = sum((fill.quantity for fill in fills), Decimal(0))
    average = None
    if filled > 0:
        spent = sum((fill.quantity * fill.price.amount for fill in fills), Decimal(0))
        average = Money(spent / filled, USD)
    return Order(
        provider_order_id=order_id,
        provider_account_id=account_id,
        instrument=InstrumentCache()(leg.instrument),
        side=side,
        type=order_type(
            wire.order_type, price=wire.price is not None, stop=wire.stop_price is not None
        ),
        quantity=wire.quantity,
        filled_quantity=wire.filled_quantity,
        status=order_status(wire.status, wire.filled_quantity),
        provider_status=wire.status,
        placed_at=parse_time(wire.entered_time) if wire.entered_time else None,
        product=Product.DELIVERY,
        validity=VALIDITY_OF.get(wire.duration, Validity.DAY),
        limit_price=wire.price,
        stop_price=wire.stop_price,
        average_price=average,
        client_reference=client_reference,
        status_message=wire.status_description,
        fills=fills,
        replaced_by=_replacement(wire),
    )


def _replacement(wire: WireOrder) -> str | None:
    """The id of the order that replaced ``wire`` (the newest, should Schwab list several)."""
    if wire.status != "REPLACED" or not wire.replacing_order_collection:
        return None
    return str(max(replacing.order_id for replacing in wire.replacing_order_collection))


def _fills(wire: WireOrder, order_id: str) -> tuple[Fill, ...]:
    fills: list[Fill] = []
    for activity in wire.order_activity_collection:
        if activity.activity_type != "EXECUTION":
            continue
        for leg in activity.execution_legs:
            fills.append(
                Fill(
                    trade_id=f"{order_id}-{len(fills) + 1}",
                    provider_order_id=order_id,
                    quantity=leg.quantity,
                    price=Money(leg.price, USD),
                    executed_at=parse_time(leg.time),
                )
            )
    return tuple(fills)


def _order_body(
    instrument: Instrument,
    side: OrderSide,
    kind: OrderType,
    quantity: Decimal,
    validity: Validity,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
) -> dict[str, Any]:
    """An ``OrderRequest`` for one equity leg, as schwab-py builds it."""
    if quantity != quantity.to_integral_value():
        raise NotSupported("Schwab takes whole shares only.", code="unsupported_quantity")
    body: dict[str, Any] = {
        "orderType": ORDER_TYPE[kind],
        "session": "NORMAL",
        "duration": DURATION[validity],
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": INSTRUCTION[side],
                "quantity": int(quantity),
                "instrument": {
                    "symbol": instrument.symbol,
                    "assetType": _ORDER_ASSET_TYPE[instrument.asset_class],
                },
            }
        ],
    }
    if limit_price is not None:
        body["price"] = str(limit_price)
    if stop_price is not None:
        body["stopPrice"] = str(stop_price)
    return body


def _new_order_id(response: httpx.Response, account_path: str) -> str | None:
    """The trailing id of ``Location: …/accounts/{hash}/orders/{orderId}``."""
    location = httpx.URL(response.headers.get("location", "")).path
    head, _, order_id = location.rstrip("/").rpartition("/")
    if not head.endswith(f"{account_path}/orders") or not order_id.isdigit():
        return None
    return order_id


_Wires = list[WireOrder]
"""Orders as Schwab sent them (a name, because ``SchwabOrders.list`` shadows the builtin)."""


class SchwabOrders(OrderGateway):
    """Placing, replacing, cancelling and reading orders of one Schwab login."""

    def __init__(self, api: _Api, clock: Clock) -> None:
        self._api = api
        self._clock = clock

    async def place(self, request: OrderRequest) -> Order:
        SCHWAB_CAPABILITIES.check_order(request, PROVIDER)
        if request.instrument.asset_class not in _ORDER_ASSET_TYPE:
            raise NotSupported(
                f"Schwab's order API takes no {request.instrument.asset_class}.",
                code="unsupported_asset_class",
            )
        path = _account_path(request.provider_account_id)
        body = _order_body(
            request.instrument,
            request.side,
            request.type,
            request.quantity,
            request.validity,
            request.limit_price,
            request.stop_price,
        )
        submitted = Order(
            provider_order_id="",
            provider_account_id=request.provider_account_id,
            instrument=request.instrument,
            side=request.side,
            type=request.type,
            quantity=request.quantity,
            filled_quantity=Decimal(0),
            status=OrderStatus.SUBMITTED,
            provider_status="",
            placed_at=None,
            validity=request.validity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_reference=request.client_reference,
        )
        return await self._submit("POST", f"{path}/orders", path, body, submitted)

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order:
        SCHWAB_CAPABILITIES.require(Operation.MODIFY_ORDER, PROVIDER)
        path = _order_path(account_id, order_id)
        current = await self.get(account_id, order_id)
        if current.status.is_final:
            raise Conflict(f"The order is already {current.status}.", code="order_not_open")
        for name, given, needed in (
            ("limit_price", change.limit_price, current.type.needs_limit_price),
            ("stop_price", change.stop_price, current.type.needs_stop_price),
        ):
            if given is not None and not needed:
                raise InvalidInput(f"A {current.type} order takes no {name}.", field=name)
        rest = (change.quantity or current.quantity) - current.filled_quantity
        if rest <= 0:
            raise InvalidInput(
                "The new quantity must exceed what has already filled.", field="quantity"
            )
        limit_price = change.limit_price or current.limit_price
        stop_price = change.stop_price or current.stop_price
        body = _order_body(
            current.instrument,
            current.side,
            current.type,
            rest,
            current.validity,
            limit_price,
            stop_price,
        )
        replacement = Order(
            provider_order_id="",
            provider_account_id=account_id,
            instrument=current.instrument,
            side=current.side,
            type=current.type,
            quantity=rest,
            filled_quantity=Decimal(0),
            status=OrderStatus.SUBMITTED,
            provider_status="",
            placed_at=None,
            validity=current.validity,
            limit_price=limit_price,
            stop_price=stop_price,
        )
        return await self._submit("PUT", path, _account_path(account_id), body, replacement)

    async def cancel(self, account_id: str, order_id: str) -> Order:
        SCHWAB_CAPABILITIES.require(Operation.CANCEL_ORDER, PROVIDER)
        response = await self._api.send("DELETE", _order_path(account_id, order_id))
        if response.status_code == 400:
            _log.info("provider_refused", provider="schwab", operation="cancel", status=400)
            raise Conflict(
                with_reason("Schwab cannot cancel this order now", api_reason(response)),
                code="order_not_cancellable",
            )
        if response.status_code != 200:
            _refused(response, "order")
        return await self.get(account_id, order_id)

    async def get(self, account_id: str, order_id: str) -> Order:
        SCHWAB_CAPABILITIES.require(Operation.GET_ORDER, PROVIDER)
        answer = await self._api.get(_order_path(account_id, order_id), "order")
        return _order(decode(ORDER, answer, "schwab"), account_id)

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]:
        SCHWAB_CAPABILITIES.require(Operation.LIST_ORDERS, PROVIDER)
        if cursor:
            at = _decode_cursor(cursor, "orders")
        else:
            now = self._clock.now()
            at = _Cursor("orders", 0, _schwab_time(now - HISTORY), _schwab_time(now))
        page: Page[WireOrder] = _page(await self._between(account_id, at.start, at.end), at)
        return Page(tuple(_order(wire, account_id) for wire in page.items), page.next_cursor)

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]:
        SCHWAB_CAPABILITIES.require(Operation.FILLS, PROVIDER)
        return (await self.get(account_id, order_id)).fills

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        SCHWAB_CAPABILITIES.require(Operation.FIND_BY_CLIENT_REFERENCE, PROVIDER)
        now = self._clock.now()
        wires = await self._between(
            account_id, _schwab_time(now - MATCH_WINDOW), _schwab_time(now + MATCH_WINDOW)
        )
        for wire in reversed(wires):
            order = _order(wire, account_id, request.client_reference)
            if _same_order(order, request):
                return order
        return None

    async def _between(self, account_id: str, start: str, end: str) -> _Wires:
        answer = await self._api.get(
            f"{_account_path(account_id)}/orders",
            "account",
            {"fromEnteredTime": start, "toEnteredTime": end},
        )
        wires = decode(ORDERS, answer, "schwab")
        wires.sort(key=lambda wire: wire.order_id)
        return wires

    async def _submit(
        self, method: str, path: str, account_path: str, body: dict[str, Any], sent: Order
    ) -> Order:
        """Send an order (never retried) and read it back by the id in ``Location``. A 404 is
        the account for a placement (``account_not_found``), the order for a replace."""
        try:
            response = await self._api.send(method, path, json=body)
        except ProviderUnavailable as exc:
            if exc.code not in _MAYBE_SENT:
                raise
            _log.warning("order_state_unknown", provider="schwab", method=method, error=exc.code)
            raise OrderStateUnknown(
                "Schwab did not confirm the order; it is looked up by its fields."
                if method == "POST"
                else "Schwab did not confirm the change; the order follows Schwab at its next "
                "status poll.",
            ) from None
        if response.status_code != 201:
            _refused(response, "account" if method == "POST" else "order")
        order_id = _new_order_id(response, account_path)
        if order_id is None:
            _log.error("order_id_missing", provider="schwab", method=method)
            raise OrderStateUnknown("Schwab accepted the order without naming it.")
        account_id = sent.provider_account_id
        try:
            placed = await self.get(account_id, order_id)
        except (ProviderUnavailable, RateLimited) as exc:
            _log.warning("order_read_back_failed", provider="schwab", error=exc.code)
            return replace(sent, provider_order_id=order_id)
        return _with_reference(placed, sent.client_reference)


def _with_reference(order: Order, reference: str | None) -> Order:
    return order if reference is None else replace(order, client_reference=reference)


def _same_order(order: Order, request: OrderRequest) -> bool:
    return (
        order.instrument.symbol == request.instrument.symbol
        and order.side is request.side
        and order.type is request.type
        and order.quantity == request.quantity
        and order.limit_price == request.limit_price
        and order.stop_price == request.stop_price
        and order.validity is request.validity
    )


class SchwabQuotes(QuoteReader):
    """Last prices from Schwab's market-data API (``quote.lastPrice``)."""

    def __init__(self, api: _Api) -> None:
        self._api = api

    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        SCHWAB_CAPABILITIES.require(Operation.QUOTES, PROVIDER)
        wanted = [i for i in instruments if i.currency == USD]
        if not wanted:
            return {}
        symbols = ",".join(sorted({i.symbol for i in wanted}))
        answer = await self._api.get(
            QUOTES_PATH,
            "symbol",
            {"symbols": symbols, "fields": "quote", "indicative": "false"},
        )
        quotes = decode(QUOTES, answer, "schwab")
        prices: dict[str, Money] = {}
        for instrument in wanted:
            entry = quotes.get(instrument.symbol)
            if entry is not None and entry.quote is not None and entry.quote.last_price is not None:
                prices[str(instrument.key)] = Money(entry.quote.last_price, USD)
        return prices


class SchwabSession(BrokerSession):
    """One Schwab connection's accounts, orders and quotes."""

    def __init__(
        self,
        http: ProviderHttp,
        credentials: ProviderCredentials,
        clock: Clock,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        api = _Api(http, credentials, recorder)
        self._accounts = SchwabAccounts(api, clock)
        self._orders = SchwabOrders(api, clock)
        self._quotes = SchwabQuotes(api)

    def __repr__(self) -> str:
        return "SchwabSession()"

    @property
    def accounts(self) -> SchwabAccounts:
        return self._accounts

    @property
    def orders(self) -> SchwabOrders:
        return self._orders

    @property
    def quotes(self) -> SchwabQuotes:
        return self._quotes


class SchwabGateway(BrokerGateway):
    """Schwab's capability map, and sessions on the provider's HTTP client."""

    def __init__(self, http: ProviderHttp, clock: Clock) -> None:
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return "SchwabGateway()"

    @property
    def capabilities(self) -> CapabilityMap:
        return SCHWAB_CAPABILITIES

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> SchwabSession:
        return SchwabSession(self._http, credentials, self._clock, recorder)
