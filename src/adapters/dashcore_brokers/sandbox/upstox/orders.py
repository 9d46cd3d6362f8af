"""Upstox's orders over the sandbox's exchange (``reference/brokers.md`` §3.5).

- ``POST /v3/order/place`` (JSON): ``quantity``, ``product`` (``D``/``I``/``MTF``),
  ``validity`` (``DAY``/``IOC``), ``price`` (0 for market), ``tag``, ``instrument_token``,
  ``order_type`` (``MARKET``/``LIMIT``/``SL``/``SL-M``), ``transaction_type``,
  ``disclosed_quantity``, ``trigger_price``, ``is_amo``, ``slice`` → ``data.order_ids`` (one
  id: the sandbox never slices) and ``metadata.latency``. An order the exchange refuses
  (funds, lot, tick) is still placed and reads back ``rejected`` with its reason, as on Upstox;
  a malformed request is a 400 (``UDAPI1004``/``UDAPI1007`` missing type/validity,
  ``UDAPI1056``/``UDAPI1055`` invalid type/validity, ``UDAPI100038`` other input, and
  ``UDAPI1087`` for an unknown instrument key — that code is documented for quotes; which code
  the place call uses is UNCONFIRMED);
- ``PUT /v3/order/modify`` (JSON): ``order_id``, ``validity``, ``price``, ``order_type``,
  ``trigger_price`` required, ``quantity`` optional; type and validity cannot change here;
- ``DELETE /v3/order/cancel?order_id=``; an order already cancelled, rejected or complete is
  400 ``UDAPI100040`` (documented for cancel; the sandbox answers modify the same way —
  UNCONFIRMED); an unknown order is 400 ``UDAPI100010`` (the status code is UNCONFIRMED);
- ``GET /v2/order/retrieve-all``, ``/v2/order/details?order_id=``,
  ``/v2/order/history?order_id=``, ``/v2/order/trades?order_id=``,
  ``/v2/order/trades/get-trades-for-day``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post, put

from dashcore_brokers.sandbox.exchange import OrderKind, Side, SimOrder, Validity
from dashcore_brokers.sandbox.upstox.render import (
    KINDS,
    PRODUCTS,
    engine_order_id,
    history_rows,
    order_id,
    order_row,
    respond,
    trade_row,
)
from dashcore_brokers.sandbox.upstox.user import authorized
from dashcore_brokers.sandbox.upstox.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.upstox.sandbox import UpstoxSandbox

__all__ = ["orders_router"]

_ZERO = Decimal(0)
_VALIDITIES = {"DAY": Validity.DAY, "IOC": Validity.IOC}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_LATENCY = {"latency": 40}


class _Place(msgspec.Struct):
    quantity: int
    product: str
    instrument_token: str
    transaction_type: str
    order_type: str | None = None
    validity: str | None = None
    price: Decimal = _ZERO
    trigger_price: Decimal = _ZERO
    tag: str | None = None
    disclosed_quantity: int = 0
    is_amo: bool = False
    slice: bool = False


class _Modify(msgspec.Struct):
    order_id: str
    order_type: str | None = None
    validity: str | None = None
    price: Decimal = _ZERO
    trigger_price: Decimal = _ZERO
    quantity: int | None = None
    disclosed_quantity: int = 0


_place_body = msgspec.json.Decoder(_Place)
_modify_body = msgspec.json.Decoder(_Modify)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise fail(400, "UDAPI100038", f"Invalid input passed to the API: {exc}") from None


def _kind_and_validity(order_type: str | None, validity: str | None) -> tuple[OrderKind, Validity]:
    if order_type is None:
        raise fail(400, "UDAPI1004", "Valid order type is required", "order_type")
    if validity is None:
        raise fail(400, "UDAPI1007", "Validity is required", "validity")
    if order_type not in KINDS:
        raise fail(400, "UDAPI1056", "The 'order_type' is invalid", "order_type")
    if validity not in _VALIDITIES:
        raise fail(400, "UDAPI1055", "The 'validity' is invalid", "validity")
    return KINDS[order_type], _VALIDITIES[validity]


def _prices(
    kind: OrderKind, price: Decimal, trigger: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """Upstox sends 0 for a price an order type does not use."""
    limit = price if kind in (OrderKind.LIMIT, OrderKind.STOP_LIMIT) else None
    stop = trigger if kind in (OrderKind.STOP, OrderKind.STOP_LIMIT) else None
    return limit, stop


def orders_router(sandbox: UpstoxSandbox) -> list[Router]:
    """The v3 order writes and v2 order reads of the sandbox's one account."""
    exchange = sandbox.exchange

    def lookup(request: Request[Any, Any, Any]) -> SimOrder:
        wire = request.query_params.get("order_id")
        if not wire:
            raise fail(400, "UDAPI1023", "Order id is required", "order_id")
        return find(wire)

    def find(wire: str) -> SimOrder:
        found = engine_order_id(wire)
        try:
            order = exchange.order(found) if found is not None else None
        except KeyError:
            order = None
        if order is None or order.account_id != sandbox.account_id:
            raise fail(400, "UDAPI100010", "Order not found", "order_id")
        return order

    def instrument_of(key: str) -> tuple[str, str]:
        segment, _, code = key.partition("|")
        venue = segment.removesuffix("_EQ")
        for listing in exchange.list_instruments():
            if listing.exchange == venue and code in (listing.isin, str(listing.instrument_token)):
                return listing.symbol, listing.exchange
        raise fail(400, "UDAPI1087", "Invalid Instrument key", "instrument_token")

    @post("/order/place", status_code=200)
    async def place(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        body: _Place = _decode(_place_body, await request.body())
        kind, validity = _kind_and_validity(body.order_type, body.validity)
        if body.product not in PRODUCTS:
            raise fail(400, "UDAPI100038", "Invalid input passed to the API: product", "product")
        if body.transaction_type not in _SIDES:
            raise fail(400, "UDAPI100038", "Invalid transaction_type", "transaction_type")
        symbol, venue = instrument_of(body.instrument_token)
        limit, stop = _prices(kind, body.price, body.trigger_price)
        order = exchange.place(
            sandbox.account_id,
            symbol=symbol,
            exchange=venue,
            side=_SIDES[body.transaction_type],
            quantity=Decimal(body.quantity),
            kind=kind,
            price=limit,
            trigger_price=stop,
            product=PRODUCTS[body.product],
            validity=validity,
            tag=body.tag,
        )
        return respond(
            200,
            {"status": "success", "data": {"order_ids": [order_id(order)]}, "metadata": _LATENCY},
        )

    @put("/order/modify")
    async def modify(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        body: _Modify = _decode(_modify_body, await request.body())
        kind, validity = _kind_and_validity(body.order_type, body.validity)
        order = find(body.order_id)
        if not order.is_open:
            raise fail(400, "UDAPI100040", "Modify of a closed order is not allowed", "order_id")
        if kind is not order.kind or validity is not order.validity:
            raise fail(400, "UDAPI100038", "order_type and validity cannot change", "order_type")
        limit, stop = _prices(kind, body.price, body.trigger_price)
        try:
            exchange.modify(
                order.id,
                quantity=None if body.quantity is None else Decimal(body.quantity),
                price=limit if limit != order.price else None,
                trigger_price=stop if stop != order.trigger_price else None,
            )
        except ValueError as exc:
            raise fail(400, "UDAPI100038", str(exc)) from None
        return respond(
            200, {"status": "success", "data": {"order_id": body.order_id}, "metadata": _LATENCY}
        )

    @delete("/order/cancel", status_code=200)
    async def cancel(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        order = lookup(request)
        if not order.is_open:
            raise fail(
                400,
                "UDAPI100040",
                "Cancel of already cancelled/rejected/completed order is not allowed",
                "order_id",
            )
        exchange.cancel(order.id)
        return respond(
            200, {"status": "success", "data": {"order_id": order_id(order)}, "metadata": _LATENCY}
        )

    @get("/order/retrieve-all")
    async def order_book(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        rows = [order_row(order) for order in exchange.orders(sandbox.account_id)]
        return respond(200, {"status": "success", "data": rows})

    @get("/order/details")
    async def details(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        return respond(200, {"status": "success", "data": order_row(lookup(request))})

    @get("/order/history")
    async def history(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        return respond(200, {"status": "success", "data": history_rows(lookup(request))})

    @get("/order/trades")
    async def order_trades(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        order = lookup(request)
        rows = [trade_row(order, fill) for fill in order.fills]
        return respond(200, {"status": "success", "data": rows})

    @get("/order/trades/get-trades-for-day")
    async def day_trades(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        rows = [
            trade_row(exchange.order(fill.order_id), fill)
            for fill in exchange.fills(sandbox.account_id)
        ]
        return respond(200, {"status": "success", "data": rows})

    return [
        Router(path="/v3", route_handlers=[place, modify, cancel]),
        Router(path="/v2", route_handlers=[order_book, details, history, order_trades, day_trades]),
    ]
