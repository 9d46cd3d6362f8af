"""Kite order and trade routes over the exchange engine (``reference/brokers.md`` §2.5).

- ``POST /orders/{variety}`` (form): ``exchange, tradingsymbol, transaction_type, quantity,
  product, order_type, validity`` required; ``price``, ``trigger_price``, ``tag`` optional
  → ``{"order_id": "…"}``. As at Kite, an order the exchange refuses (unknown instrument, not
  enough funds or holdings, a price off the tick) is still accepted with an id and shows
  ``REJECTED`` with a ``status_message``; a malformed request is 400 ``InputException``.
- ``PUT /orders/{variety}/{order_id}`` (form ``quantity, price, trigger_price, order_type``)
  and ``DELETE /orders/{variety}/{order_id}`` → ``{"order_id": "…"}``; an order that is no
  longer open is 400 ``OrderException``; an unknown id 404.
- ``GET /orders`` (the day's orders), ``GET /orders/{order_id}`` (its history),
  ``GET /orders/{order_id}/trades`` and ``GET /trades`` (the day's fills).

The sandbox simulates the ``regular`` variety only (``amo``, ``co``, ``iceberg`` and
``auction`` are 400). ``TTL`` validity is not simulated (400). Kite documents ``tag`` as at
most 20 alphanumerics (UNCONFIRMED): the sandbox enforces the length only.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from litestar import Request, Response, Router, delete, get, post, put
from litestar.params import FromPath

from dashcore_brokers.sandbox._wire import single_params
from dashcore_brokers.sandbox.exchange import OrderKind, Product, Side, SimOrder, Validity
from dashcore_brokers.sandbox.zerodha.records import (
    KITE_ORDER_TYPES,
    KITE_STATUS,
    account_of,
    engine_order_id,
    kite_order_id,
    kite_success,
    order_history,
    order_row,
    todays,
    trade_row,
)
from dashcore_brokers.sandbox.zerodha.user import authorized
from dashcore_brokers.sandbox.zerodha.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = ["orders_router"]

_VARIETY: Final = "regular"
_SIDES: Final = {"BUY": Side.BUY, "SELL": Side.SELL}
_KINDS: Final = {kite: kind for kind, kite in KITE_ORDER_TYPES.items()}
_PRODUCTS: Final = {
    "CNC": Product.DELIVERY,
    "MIS": Product.INTRADAY,
    "NRML": Product.MARGIN,
    "MTF": Product.MARGIN,
}
_VALIDITIES: Final = {"DAY": Validity.DAY, "IOC": Validity.IOC}
_PRICED: Final = frozenset({OrderKind.LIMIT, OrderKind.STOP_LIMIT})
_TRIGGERED: Final = frozenset({OrderKind.STOP, OrderKind.STOP_LIMIT})
_PLACE_FIELDS: Final = (
    "exchange",
    "tradingsymbol",
    "transaction_type",
    "quantity",
    "product",
    "order_type",
    "validity",
    "price",
    "trigger_price",
    "tag",
)
_MODIFY_FIELDS: Final = ("quantity", "price", "trigger_price", "order_type", "validity")
_MAX_TAG: Final = 20


def _choice(fields: dict[str, str], name: str, table: dict[str, Any]) -> Any:
    value = fields.get(name)
    if value is None:
        raise fail(400, f"Missing or empty `{name}`.", "InputException")
    if value not in table:
        raise fail(400, f"Invalid `{name}`.", "InputException")
    return table[value]


def _decimal(fields: dict[str, str], name: str) -> Decimal | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        raise fail(400, f"Invalid `{name}`.", "InputException")
    return number


def _quantity(fields: dict[str, str], *, required: bool) -> Decimal | None:
    quantity = _decimal(fields, "quantity")
    if quantity is None:
        if required:
            raise fail(400, "Missing or empty `quantity`.", "InputException")
        return None
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise fail(400, "Invalid `quantity`.", "InputException")
    return quantity


def _price(
    fields: dict[str, str], name: str, kind: OrderKind, kinds: frozenset[OrderKind]
) -> Decimal | None:
    """A price the order type takes; a zero sent for a type that takes none means "none"."""
    value = _decimal(fields, name)
    if value is not None and value == 0 and kind not in kinds:
        return None
    return value


def _variety(variety: str) -> None:
    if variety != _VARIETY:
        raise fail(400, "Invalid `variety`.", "InputException")


def _open(order: SimOrder, action: str) -> None:
    if not order.is_open:
        status = KITE_STATUS[order.status]
        raise fail(400, f"Order cannot be {action} as it is {status}.", "OrderException")


def orders_router(sandbox: KiteSandbox) -> Router:
    """``/orders`` and ``/trades`` of the Kite sandbox."""

    @post("/orders/{key:str}", status_code=200)
    async def place(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
        grant = authorized(request, sandbox)
        account = account_of(sandbox, grant)
        _variety(key)
        fields = single_params(await request.form(), *_PLACE_FIELDS)
        for name in ("exchange", "tradingsymbol"):
            if name not in fields:
                raise fail(400, f"Missing or empty `{name}`.", "InputException")
        side = _choice(fields, "transaction_type", _SIDES)
        kind: OrderKind = _choice(fields, "order_type", _KINDS)
        product = _choice(fields, "product", _PRODUCTS)
        validity = _choice(fields, "validity", _VALIDITIES)
        quantity = _quantity(fields, required=True)
        assert quantity is not None
        tag = fields.get("tag")
        if tag is not None and len(tag) > _MAX_TAG:
            raise fail(400, "Invalid `tag`: at most 20 characters.", "InputException")
        order = sandbox.exchange.place(
            account.id,
            symbol=fields["tradingsymbol"],
            exchange=fields["exchange"],
            side=side,
            quantity=quantity,
            kind=kind,
            price=_price(fields, "price", kind, _PRICED),
            trigger_price=_price(fields, "trigger_price", kind, _TRIGGERED),
            product=product,
            validity=validity,
            tag=tag,
        )
        return kite_success({"order_id": kite_order_id(order)})

    @put("/orders/{key:str}/{order_id:str}", status_code=200)
    async def modify(
        request: Request[Any, Any, Any], key: FromPath[str], order_id: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        _variety(key)
        order = engine_order_id(sandbox, account, order_id)
        fields = single_params(await request.form(), *_MODIFY_FIELDS)
        _open(order, "modified")
        if "order_type" in fields and _KINDS.get(fields["order_type"]) is not order.kind:
            raise fail(400, "Changing the `order_type` is not simulated.", "InputException")
        if "validity" in fields and _VALIDITIES.get(fields["validity"]) is not order.validity:
            raise fail(400, "Changing the `validity` is not simulated.", "InputException")
        try:
            sandbox.exchange.modify(
                order.id,
                quantity=_quantity(fields, required=False),
                price=_price(fields, "price", order.kind, _PRICED),
                trigger_price=_price(fields, "trigger_price", order.kind, _TRIGGERED),
            )
        except ValueError as exc:
            raise fail(400, str(exc), "InputException") from None
        sandbox.modified_orders.add(order.id)
        return kite_success({"order_id": kite_order_id(order)})

    @delete("/orders/{key:str}/{order_id:str}", status_code=200)
    async def cancel(
        request: Request[Any, Any, Any], key: FromPath[str], order_id: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        _variety(key)
        order = engine_order_id(sandbox, account, order_id)
        _open(order, "cancelled")
        sandbox.exchange.cancel(order.id)
        return kite_success({"order_id": kite_order_id(order)})

    @get("/orders")
    async def list_orders(request: Request[Any, Any, Any]) -> Response[Any]:
        grant = authorized(request, sandbox)
        account = account_of(sandbox, grant)
        return kite_success(
            [
                order_row(sandbox, order, grant.user_id)
                for order in sandbox.exchange.orders(account.id)
                if todays(sandbox, order.placed_at)
            ]
        )

    @get("/orders/{key:str}")
    async def history(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
        grant = authorized(request, sandbox)
        order = engine_order_id(sandbox, account_of(sandbox, grant), key)
        return kite_success(order_history(sandbox, order, grant.user_id))

    @get("/orders/{key:str}/trades")
    async def order_trades(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
        order = engine_order_id(sandbox, account_of(sandbox, authorized(request, sandbox)), key)
        return kite_success([trade_row(order, fill) for fill in order.fills])

    @get("/trades")
    async def trades(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        exchange = sandbox.exchange
        return kite_success(
            [
                trade_row(exchange.order(fill.order_id), fill)
                for fill in exchange.fills(account.id)
                if todays(sandbox, fill.at)
            ]
        )

    return Router(
        path="/",
        route_handlers=[place, modify, cancel, list_orders, history, order_trades, trades],
    )
