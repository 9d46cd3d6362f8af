"""Schwab's order routes over the exchange engine (``reference/brokers.md`` §1.5):

- ``POST /trader/v1/accounts/{hash}/orders`` (JSON ``OrderRequest``) → **201**, empty body,
  ``Location: …/accounts/{hash}/orders/{orderId}``. An order the engine refuses (unknown
  symbol, funds, tick) is still created, ``REJECTED`` with a ``statusDescription``;
- ``PUT …/orders/{orderId}`` replaces a working order: the old one ends ``REPLACED`` (its
  ``replacingOrderCollection`` holds the new one), a new one is created for the body given →
  **201** with the *new* order's ``Location``;
- ``DELETE …/orders/{orderId}`` → **200**, empty body; an order no longer working is 400;
- ``GET …/orders/{orderId}`` → the ``Order``; ``GET …/orders?fromEnteredTime=&toEnteredTime=``
  (both required; ``maxResults`` default 3000; optional ``status``) → newest first.

The sandbox takes what dashcore and schwab-py send for equities: a ``SINGLE`` strategy of one
``BUY``/``SELL`` leg on an ``EQUITY``, ``MARKET``/``LIMIT``/``STOP``/``STOP_LIMIT``, duration
``DAY``/``GOOD_TILL_CANCEL``/``IMMEDIATE_OR_CANCEL``, session ``NORMAL``; prices as JSON numbers
or decimal strings (schwab-py sends strings). Anything else is a 400 ``{"message", "errors"}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.params import FromPath

from dashcore_brokers.sandbox.exchange import Side, SimAccount, SimOrder
from dashcore_brokers.sandbox.schwab.accounts import find_account, schwab_error
from dashcore_brokers.sandbox.schwab.render import (
    DURATIONS,
    ORDER_TYPES,
    order_body,
    parse_time,
    schwab_json,
)
from dashcore_brokers.sandbox.schwab.trader import authorized, correl_headers

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.schwab.sandbox import SchwabSandbox

__all__ = ["orders_router"]

_MAX_RESULTS = 3000
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}


class _Instrument(msgspec.Struct, rename="camel"):
    symbol: str
    asset_type: str


class _Leg(msgspec.Struct, rename="camel"):
    instruction: str
    quantity: Decimal
    instrument: _Instrument


class _OrderRequest(msgspec.Struct, rename="camel"):
    order_type: str
    order_leg_collection: list[_Leg]
    session: str = "NORMAL"
    duration: str = "DAY"
    order_strategy_type: str = "SINGLE"
    price: Decimal | None = None
    stop_price: Decimal | None = None


_order_request = msgspec.json.Decoder(_OrderRequest, float_hook=Decimal)


def _bad(*details: str) -> Exception:
    return schwab_error(400, "Bad request", *details)


def _read_request(request: Request[Any, Any, Any], body: bytes) -> tuple[_OrderRequest, _Leg]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _bad("Content-Type must be application/json")
    try:
        order = _order_request.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _bad(f"Invalid order: {exc}") from None
    if order.order_strategy_type != "SINGLE" or len(order.order_leg_collection) != 1:
        raise _bad("The sandbox takes SINGLE orders of one leg")
    leg = order.order_leg_collection[0]
    if leg.instruction not in _SIDES or leg.instrument.asset_type != "EQUITY":
        raise _bad("The sandbox takes BUY or SELL of an EQUITY")
    if order.order_type not in ORDER_TYPES or order.duration not in DURATIONS:
        raise _bad("Unsupported orderType or duration")
    if order.session != "NORMAL":
        raise _bad("The sandbox trades the NORMAL session only")
    return order, leg


def _place(
    sandbox: SchwabSandbox, account: SimAccount, order: _OrderRequest, leg: _Leg
) -> SimOrder:
    return sandbox.exchange.place(
        account.id,
        symbol=leg.instrument.symbol,
        side=_SIDES[leg.instruction],
        quantity=leg.quantity,
        kind=ORDER_TYPES[order.order_type],
        price=order.price,
        trigger_price=order.stop_price,
        validity=DURATIONS[order.duration],
    )


def orders_router(sandbox: SchwabSandbox) -> Router:
    """The order routes of the Schwab sandbox. ``replaced`` remembers which orders a replace
    ended (old id → new id)."""
    replaced: dict[str, str] = {}

    def owned(account: SimAccount, order_id: str) -> SimOrder:
        try:
            order = sandbox.exchange.order(order_id)
        except KeyError:
            order = None
        if order is None or order.account_id != account.id:
            raise schwab_error(404, "Order not found", f"No order {order_id} in this account")
        return order

    def view(order: SimOrder, account: SimAccount) -> dict[str, Any]:
        successor = replaced.get(order.id)
        replacing = None if successor is None else view(sandbox.exchange.order(successor), account)
        return order_body(order, account.number, replacing=replacing)

    def created(collection: str, order: SimOrder) -> Response[Any]:
        headers = correl_headers()
        headers["Location"] = f"{collection}/{order.id}"
        return Response(content=b"", status_code=201, headers=headers)

    @post("/accounts/{account_hash_value:str}/orders", status_code=201)
    async def place(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str]
    ) -> Response[Any]:
        authorized(request, sandbox)
        account = find_account(sandbox, account_hash_value)
        order, leg = _read_request(request, await request.body())
        placed = _place(sandbox, account, order, leg)
        return created(str(request.url).split("?")[0].rstrip("/"), placed)

    @put("/accounts/{account_hash_value:str}/orders/{order_id:str}", status_code=201)
    async def replace(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str], order_id: FromPath[str]
    ) -> Response[Any]:
        authorized(request, sandbox)
        account = find_account(sandbox, account_hash_value)
        old = owned(account, order_id)
        order, leg = _read_request(request, await request.body())
        if not old.is_open:
            raise _bad(f"Order {order_id} is not working and cannot be replaced")
        if leg.instrument.symbol != old.instrument.symbol or _SIDES[leg.instruction] != old.side:
            raise _bad("A replacement keeps the instrument and the instruction")
        sandbox.exchange.cancel(old.id)
        new = _place(sandbox, account, order, leg)
        replaced[old.id] = new.id
        collection = str(request.url).split("?")[0].rstrip("/").rpartition("/")[0]
        return created(collection, new)

    @delete("/accounts/{account_hash_value:str}/orders/{order_id:str}", status_code=200)
    async def cancel(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str], order_id: FromPath[str]
    ) -> Response[Any]:
        authorized(request, sandbox)
        order = owned(find_account(sandbox, account_hash_value), order_id)
        if not order.is_open:
            raise _bad(f"Order {order_id} is not working and cannot be canceled")
        sandbox.exchange.cancel(order.id)
        return Response(content=b"", status_code=200, headers=correl_headers())

    @get("/accounts/{account_hash_value:str}/orders/{order_id:str}")
    async def one(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str], order_id: FromPath[str]
    ) -> Response[bytes]:
        authorized(request, sandbox)
        account = find_account(sandbox, account_hash_value)
        return schwab_json(200, view(owned(account, order_id), account), correl_headers())

    @get("/accounts/{account_hash_value:str}/orders")
    async def listing(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str]
    ) -> Response[bytes]:
        authorized(request, sandbox)
        account = find_account(sandbox, account_hash_value)
        query = request.query_params
        start = parse_time(query.get("fromEnteredTime") or "")
        end = parse_time(query.get("toEnteredTime") or "")
        if start is None or end is None or end < start:
            raise _bad("fromEnteredTime and toEnteredTime are required, ISO-8601, in order")
        limit = query.get("maxResults") or str(_MAX_RESULTS)
        if not limit.isdigit() or int(limit) < 1:
            raise _bad("maxResults must be a positive integer")
        status = query.get("status")
        views = (
            view(order, account)
            for order in sandbox.exchange.orders(account.id)
            if start <= order.placed_at <= end
        )
        rows = [row for row in views if status is None or row["status"] == status]
        return schwab_json(200, rows[::-1][: int(limit)], correl_headers())

    return Router(path="/trader/v1", route_handlers=[place, replace, cancel, one, listing])
