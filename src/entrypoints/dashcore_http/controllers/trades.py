"""``/api/v1/trades``: the signed-in user's trades — records of trades made outside connected
brokers, and the fills of orders placed here (read-only: 409 ``broker_trade_read_only``).

Every route is owner-checked: another user's trade is a 404 ``trade_not_found``, as an unknown
one is. ``GET /trades`` lists newest first (``executed_at`` then id) by keyset, with filters
``account``, ``symbol`` + ``exchange``, ``side``, ``from`` (inclusive) and ``before``
(exclusive) as ISO 8601 instants with an offset.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from dishka import FromDishka
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from dashcore.application.trades import (
    KEEP,
    MAX_PAGE,
    Keep,
    TradeChanges,
    TradeDetails,
    Trades,
)
from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import InstrumentKey, instrument_code
from dashcore.domain.orders import OrderSide
from dashcore.domain.time import parse_utc
from dashcore.domain.trades import MANUAL_ACCOUNT, Trade, TradeSource, TradeType
from dashcore.ports.trades import TradeFilter
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.controllers.accounts import Cursor
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.numbers import decimal_string
from dashcore_http.schemas.trades import TradeCreate, TradePage, TradeUpdate, TradeView
from dashcore_http.schemas.transactions import decimal_inputs

__all__ = ["TradesController", "trade_view"]

_READ_ONLY = problems({409: "`broker_trade_read_only`: a trade synced from a broker stays"})

T = TypeVar("T")
_DECIMAL_FIELDS = ("quantity", "price", "brokerage_charge", "mtf_charge", "capital_used")
Instant = Annotated[str | None, QueryParameter(description="ISO 8601 with an offset")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Trades per page")]
Text = Annotated[str | None, QueryParameter(max_length=64)]


def trade_view(trade: Trade) -> TradeView:
    return TradeView(
        id=trade.id,
        account=trade.account,
        symbol=trade.instrument.symbol,
        exchange=trade.instrument.exchange,
        side=trade.side.value,
        type=trade.type.value,
        quantity=decimal_string(trade.quantity),
        price=decimal_string(trade.price.amount),
        currency=trade.price.currency.code,
        brokerage_charge=decimal_string(trade.charges.amount),
        mtf_charge=None if trade.mtf_charge is None else decimal_string(trade.mtf_charge.amount),
        capital_used=(
            None if trade.capital_used is None else decimal_string(trade.capital_used.amount)
        ),
        executed_at=trade.executed_at,
        order_id=trade.order_id,
        source=trade.source.value,
        broker_trade_id=trade.broker_trade_id,
        read_only=trade.source is TradeSource.BROKER_FILL,
    )


def _details(data: TradeCreate) -> TradeDetails:
    numbers = decimal_inputs(**{name: getattr(data, name) for name in _DECIMAL_FIELDS})
    quantity, price, charge = numbers["quantity"], numbers["price"], numbers["brokerage_charge"]
    assert quantity is not None and price is not None and charge is not None  # required
    return TradeDetails(
        symbol=data.symbol,
        exchange=data.exchange,
        side=OrderSide(data.side),
        quantity=quantity,
        price=price,
        currency=data.currency,
        executed_at=data.executed_at,
        type=TradeType(data.type),
        brokerage_charge=charge,
        mtf_charge=numbers["mtf_charge"],
        capital_used=numbers["capital_used"],
        order_id=data.order_id,
        account=MANUAL_ACCOUNT if data.account is None else data.account,
    )


def _kept(value: T | msgspec.UnsetType) -> T | Keep:
    return KEEP if isinstance(value, msgspec.UnsetType) else value


def _changes(data: TradeUpdate) -> TradeChanges:
    side, kind = _kept(data.side), _kept(data.type)
    given = {
        name: value
        for name in _DECIMAL_FIELDS
        if not isinstance(value := getattr(data, name), msgspec.UnsetType)
    }
    numbers: dict[str, Any] = {**dict.fromkeys(_DECIMAL_FIELDS, KEEP), **decimal_inputs(**given)}
    return TradeChanges(
        symbol=_kept(data.symbol),
        exchange=_kept(data.exchange),
        side=side if isinstance(side, Keep) else OrderSide(side),
        quantity=numbers["quantity"],
        price=numbers["price"],
        currency=_kept(data.currency),
        executed_at=_kept(data.executed_at),
        type=kind if isinstance(kind, Keep) else TradeType(kind),
        brokerage_charge=numbers["brokerage_charge"],
        mtf_charge=numbers["mtf_charge"],
        capital_used=numbers["capital_used"],
        order_id=_kept(data.order_id),
        account=_kept(data.account),
    )


def _filter(
    account: str | None,
    symbol: str | None,
    exchange: str | None,
    side: str | None,
    executed_from: str | None,
    before: str | None,
) -> TradeFilter:
    if (symbol is None) != (exchange is None):
        raise InvalidInput("Filter by symbol and exchange together.", field="symbol")
    for name, text in (("account", account), ("symbol", symbol), ("exchange", exchange)):
        if text is not None and not text.strip():
            raise InvalidInput(f"An empty {name} matches nothing: leave it out.", field=name)
    if side is not None and side not in ("buy", "sell"):
        raise InvalidInput("A side is buy or sell.", field="side")
    return TradeFilter(
        account=account,
        instrument=None
        if symbol is None or exchange is None
        else InstrumentKey(instrument_code(symbol), instrument_code(exchange)),
        side=None if side is None else OrderSide(side),
        executed_from=None if executed_from is None else parse_utc(executed_from, field="from"),
        executed_before=None if before is None else parse_utc(before, field="before"),
    )


class TradesController(Controller):
    path = "/trades"
    tags = ("trades",)

    @post("/", status_code=HTTP_201_CREATED, summary="Record a trade made outside dashcore")
    @inject
    async def record(
        self,
        data: JSONBody[TradeCreate],
        request: Request[Any, Any, Any],
        trades: FromDishka[Trades],
    ) -> TradeView:
        user_id = principal(request).subject
        return trade_view(await trades.record(user_id, _details(data), caller_of(request)))

    @get("/", summary="This account's trades, newest first")
    @inject
    async def list_trades(
        self,
        request: Request[Any, Any, Any],
        trades: FromDishka[Trades],
        cursor: Cursor = None,
        limit: Limit = 50,
        account: Text = None,
        symbol: Text = None,
        exchange: Text = None,
        side: Text = None,
        executed_from: Annotated[str | None, QueryParameter(name="from")] = None,
        before: Instant = None,
    ) -> TradePage:
        filters = _filter(account, symbol, exchange, side, executed_from, before)
        page = await trades.list(principal(request).subject, filters, cursor=cursor, limit=limit)
        return TradePage(items=[trade_view(t) for t in page.items], next_cursor=page.next_cursor)

    @get("/{trade_id:uuid}", summary="One trade")
    @inject
    async def get_trade(
        self, trade_id: FromPath[UUID], request: Request[Any, Any, Any], trades: FromDishka[Trades]
    ) -> TradeView:
        return trade_view(await trades.get(principal(request).subject, trade_id))

    @put("/{trade_id:uuid}", summary="Replace a manual trade", responses=_READ_ONLY)
    @inject
    async def replace_trade(
        self,
        trade_id: FromPath[UUID],
        data: JSONBody[TradeCreate],
        request: Request[Any, Any, Any],
        trades: FromDishka[Trades],
    ) -> TradeView:
        user_id, caller = principal(request).subject, caller_of(request)
        return trade_view(await trades.replace(user_id, trade_id, _details(data), caller))

    @patch("/{trade_id:uuid}", summary="Change fields of a manual trade", responses=_READ_ONLY)
    @inject
    async def update_trade(
        self,
        trade_id: FromPath[UUID],
        data: JSONBody[TradeUpdate],
        request: Request[Any, Any, Any],
        trades: FromDishka[Trades],
    ) -> TradeView:
        user_id, caller = principal(request).subject, caller_of(request)
        return trade_view(await trades.update(user_id, trade_id, _changes(data), caller))

    @delete(
        "/{trade_id:uuid}", status_code=204, summary="Delete a manual trade", responses=_READ_ONLY
    )
    @inject
    async def delete_trade(
        self, trade_id: FromPath[UUID], request: Request[Any, Any, Any], trades: FromDishka[Trades]
    ) -> None:
        await trades.delete(principal(request).subject, trade_id, caller_of(request))
