"""The example broker's adapter: the three ports over :mod:`.exchange`, normalized.

What every adapter does, in one small file:

- a **capability map**: what the broker can do; anything else is ``NotSupported`` before a
  request is sent;
- a **status table**: every status spelling of the broker maps to exactly one
  :class:`OrderStatus`; an unknown spelling is an ``IntegrityError``, never a guess;
- an **error mapping**: every broker error code maps to one domain error; a lost answer to a
  placement is ``OrderStateUnknown`` (never a second submission);
- **decoding**: numbers arrive as strings and become ``Decimal``/``Money`` exactly; times are
  parsed as UTC;
- **pagination**: the broker's offsets become opaque cursors; the last page has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    OrderStateUnknown,
    ReauthRequired,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
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
    ActivityType,
    Balance,
    Holding,
    Page,
    Position,
    Transaction,
    mask_account_number,
)
from dashcore.domain.time import parse_utc
from dashcore.ports.brokers import (
    AccountReader,
    BrokerGateway,
    BrokerSession,
    OrderGateway,
    PayloadRecorder,
    QuoteReader,
)

from .exchange import CURRENCY, EXCHANGE, ExampleExchange, ExchangeError, Wire

PROVIDER = "Example broker"

CAPABILITIES = CapabilityMap(
    operations=frozenset(Operation),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    products=frozenset({Product.DELIVERY}),
    validities=frozenset({Validity.DAY}),
    client_reference=ClientReference.ECHOED,
    max_client_reference_length=16,
)

STATUSES: dict[str, OrderStatus] = {
    "NEW": OrderStatus.OPEN,
    "PARTIAL": OrderStatus.PARTIALLY_FILLED,
    "DONE": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
}

_ACTIVITIES = {"BUY": ActivityType.BUY, "DEPOSIT": ActivityType.DEPOSIT}
_USD = Currency(CURRENCY)


def instrument(symbol: str) -> Instrument:
    return Instrument(symbol=symbol, exchange=EXCHANGE, currency=_USD)


def _money(text: str | None) -> Money | None:
    return None if text is None else Money(Decimal(text), _USD)


def _cursor(offset: int | None) -> str | None:
    return None if offset is None else str(offset)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise InvalidInput("Not a cursor of this listing.", field="cursor")
    return int(cursor)


class Connection:
    """One connection's calls to the broker, with its errors mapped to the domain's."""

    def __init__(self, exchange: ExampleExchange, credentials: ProviderCredentials) -> None:
        self._exchange = exchange
        self._token = credentials.access_token

    def call(self, operation: str, **params: Any) -> Any:
        try:
            return self._exchange.call(self._token, operation, **params)
        except ExchangeError as exc:
            raise _domain_error(exc) from exc


def _domain_error(exc: ExchangeError) -> Exception:
    match exc.code:
        case "token_invalid":
            return ReauthRequired("The example broker refused the credentials.")
        case "order_not_found":
            return NotFound(str(exc), code="order_not_found")
        case "order_final":
            return Conflict(str(exc), code="order_final")
        case "answer_lost":
            return OrderStateUnknown("The example broker's answer to a placement was lost.")
        case _:
            return InvalidInput(str(exc))


class ExampleAccounts(AccountReader):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def accounts(self) -> Sequence[Account]:
        CAPABILITIES.require(Operation.ACCOUNTS, PROVIDER)
        wire = self._connection.call("account")
        return [
            Account(
                provider_account_id=wire["id"],
                masked_number=mask_account_number(wire["number"]),
                type=AccountType.CASH,
                base_currency=CURRENCY,
            )
        ]

    async def balance(self, account_id: str) -> Balance:
        CAPABILITIES.require(Operation.BALANCES, PROVIDER)
        cash = Money(Decimal(self._connection.call("account")["cash"]), _USD)
        return Balance(account_id, cash=cash, buying_power=cash, margin_used=Money.zero(_USD))

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        CAPABILITIES.require(Operation.HOLDINGS, PROVIDER)
        wire = self._connection.call("holdings", offset=_offset(cursor))
        return Page(
            tuple(self.holding(account_id, row) for row in wire["rows"]), _cursor(wire["next"])
        )

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]:
        CAPABILITIES.require(Operation.POSITIONS, PROVIDER)
        wire = self._connection.call("positions", offset=_offset(cursor))
        return Page(
            tuple(_position(account_id, row) for row in wire["rows"]), _cursor(wire["next"])
        )

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        CAPABILITIES.require(Operation.TRANSACTIONS, PROVIDER)
        wire = self._connection.call("ledger", offset=_offset(cursor))
        return Page(
            tuple(_transaction(account_id, row) for row in wire["rows"]), _cursor(wire["next"])
        )

    def holding(self, account_id: str, row: Wire) -> Holding:
        quantity, last = Decimal(row["qty"]), Money(Decimal(row["last"]), _USD)
        return Holding(
            account_id,
            instrument(row["sym"]),
            quantity=quantity,
            average_cost=_money(row["avg"]),
            last_price=last,
            market_value=last * quantity,
        )


def _position(account_id: str, row: Wire) -> Position:
    quantity, last = Decimal(row["qty"]), Money(Decimal(row["last"]), _USD)
    return Position(
        account_id,
        instrument(row["sym"]),
        quantity=quantity,
        product=Product.INTRADAY,
        average_price=_money(row["avg"]),
        last_price=last,
        market_value=last * quantity,
    )


def _transaction(account_id: str, row: Wire) -> Transaction:
    return Transaction(
        provider_transaction_id=row["id"],
        provider_account_id=account_id,
        activity=_ACTIVITIES.get(row["kind"], ActivityType.OTHER),
        occurred_at=parse_utc(row["at"]),
        amount=Money(Decimal(row["amount"]), _USD),
        instrument=None if row["sym"] is None else instrument(row["sym"]),
        provider_type=row["kind"],
        order_ref=row["order"],
    )


class ExampleOrders(OrderGateway):
    statuses: ClassVar[Mapping[str, OrderStatus]] = STATUSES

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def place(self, request: OrderRequest) -> Order:
        CAPABILITIES.check_order(request, PROVIDER)
        wire = self._connection.call(
            "place",
            sym=request.instrument.symbol,
            kind=request.type.value.upper(),
            qty=str(request.quantity),
            limit=None if request.limit_price is None else str(request.limit_price),
            tag=request.client_reference,
        )
        return self.order(request.provider_account_id, wire)

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order:
        CAPABILITIES.require(Operation.MODIFY_ORDER, PROVIDER)
        if change.limit_price is None or change.quantity is not None:
            raise InvalidInput("The example broker changes only the limit price.", field="quantity")
        wire = self._connection.call("modify", order_id=order_id, limit=str(change.limit_price))
        return self.order(account_id, wire)

    async def cancel(self, account_id: str, order_id: str) -> Order:
        CAPABILITIES.require(Operation.CANCEL_ORDER, PROVIDER)
        return self.order(account_id, self._connection.call("cancel", order_id=order_id))

    async def get(self, account_id: str, order_id: str) -> Order:
        CAPABILITIES.require(Operation.GET_ORDER, PROVIDER)
        return self.order(account_id, self._connection.call("order", order_id=order_id))

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]:
        CAPABILITIES.require(Operation.LIST_ORDERS, PROVIDER)
        wire = self._connection.call("orders", offset=_offset(cursor))
        return Page(
            tuple(self.order(account_id, row) for row in wire["rows"]), _cursor(wire["next"])
        )

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]:
        CAPABILITIES.require(Operation.FILLS, PROVIDER)
        return self.order(account_id, self._connection.call("order", order_id=order_id)).fills

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        CAPABILITIES.require(Operation.FIND_BY_CLIENT_REFERENCE, PROVIDER)
        cursor: str | None = None
        while True:
            page = await self.list(account_id, cursor=cursor)
            for order in page.items:
                if order.client_reference == request.client_reference:
                    return order
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor

    def order(self, account_id: str, row: Wire) -> Order:
        spelling = row["status"]
        if spelling not in self.statuses:
            raise IntegrityError(
                f"The example broker reported an unknown order status {spelling!r}.",
                code="unknown_provider_status",
            )
        fills = tuple(
            Fill(
                trade_id=trade["id"],
                provider_order_id=row["id"],
                quantity=Decimal(trade["qty"]),
                price=Money(Decimal(trade["px"]), _USD),
                executed_at=parse_utc(trade["at"]),
            )
            for trade in row["trades"]
        )
        return Order(
            provider_order_id=row["id"],
            provider_account_id=account_id,
            instrument=instrument(row["sym"]),
            side=OrderSide.BUY,
            type=OrderType(row["kind"].lower()),
            quantity=Decimal(row["qty"]),
            filled_quantity=Decimal(row["filled"]),
            status=self.statuses[spelling],
            provider_status=spelling,
            placed_at=parse_utc(row["at"]),
            limit_price=None if row["limit"] is None else Decimal(row["limit"]),
            average_price=fills[0].price if fills else None,
            client_reference=row["tag"],
            fills=fills,
        )


class ExampleQuotes(QuoteReader):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        CAPABILITIES.require(Operation.QUOTES, PROVIDER)
        prices: dict[str, Money] = {}
        for item in instruments:
            if item.exchange == EXCHANGE:
                wire = self._connection.call("quote", symbol=item.symbol)
                prices[str(item.key)] = Money(Decimal(wire["last"]), _USD)
        return prices


class ExampleSession(BrokerSession):
    def __init__(self, connection: Connection) -> None:
        self._accounts: AccountReader = ExampleAccounts(connection)
        self._orders: OrderGateway = ExampleOrders(connection)
        self._quotes: QuoteReader = ExampleQuotes(connection)

    @property
    def accounts(self) -> AccountReader:
        return self._accounts

    @property
    def orders(self) -> OrderGateway:
        return self._orders

    @property
    def quotes(self) -> QuoteReader:
        return self._quotes


class ExampleGateway(BrokerGateway):
    def __init__(self, exchange: ExampleExchange) -> None:
        self._exchange = exchange

    @property
    def capabilities(self) -> CapabilityMap:
        return CAPABILITIES

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> BrokerSession:
        """The example's broker has no wire format, so nothing goes to ``recorder``; an
        adapter over HTTP hands it each successful read's raw body
        (``dashcore_brokers.http.record``)."""
        return ExampleSession(Connection(self._exchange, credentials))
