"""Groww order routes over the exchange engine (``reference/brokers.md`` §4.5, §4.7).

- ``POST /v1/order/create`` JSON ``{trading_symbol, quantity, price, trigger_price, validity,
  exchange, segment, product, order_type, transaction_type, order_reference_id}`` →
  ``{groww_order_id, order_status, order_reference_id, remark}``; an order the exchange refuses
  (funds, tick, lot, unknown symbol) is placed ``REJECTED`` with the reason in ``remark``;
- ``POST /v1/order/modify`` ``{quantity, price, trigger_price, groww_order_id, order_type,
  segment}`` and ``POST /v1/order/cancel`` ``{segment, groww_order_id}`` → ``{groww_order_id,
  order_status}`` (``MODIFICATION_REQUESTED`` / ``CANCELLATION_REQUESTED``);
- ``GET /v1/order/detail/{id}``, ``/v1/order/status/{id}``,
  ``/v1/order/status/reference/{order_reference_id}``, ``/v1/order/list?page&page_size``
  (pages from 0, ``page_size`` at most 100, oldest first), ``/v1/order/trades/{id}?page&
  page_size`` (at most 50), each with ``segment``.

Refusals (the pairing of ``GA…`` codes with HTTP statuses is UNCONFIRMED upstream; the sandbox
uses 400 for ``GA001``/``GA006``/``GA007`` and 404 for ``GA004``): a malformed body or query,
an unsupported enum or a bad ``order_reference_id`` (8-20 letters, digits, at most two hyphens)
is ``GA001``; a reused ``order_reference_id`` ``GA007``; an unknown order ``GA004``; changing
an order that is no longer open ``GA006``. Only the ``CASH`` segment holds orders; ``EOS`` and
``GTD`` validities are not simulated.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from dashcore_brokers.sandbox.exchange import (
    OrderKind,
    Side,
    SimAccount,
    SimOrder,
    SimStatus,
    Validity,
)
from dashcore_brokers.sandbox.groww.render import (
    ORDER_TYPES,
    PRODUCTS,
    SEGMENTS,
    account_of,
    engine_order_id,
    exact,
    order_id,
    order_row,
    refuse,
    status_row,
    trade_row,
)
from dashcore_brokers.sandbox.groww.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.groww.sandbox import GrowwSandbox

__all__ = ["order_router"]

ORDER_PAGE_LIMIT = 100
TRADE_PAGE_LIMIT = 50
_REFERENCE = re.compile(r"[A-Za-z0-9-]{8,20}", re.ASCII)
_EXCHANGES = frozenset({"NSE", "BSE"})
_VALIDITIES = {"DAY": Validity.DAY, "IOC": Validity.IOC, "GTC": Validity.GTC}
_PRICED = frozenset({OrderKind.LIMIT, OrderKind.STOP_LIMIT})
_TRIGGERED = frozenset({OrderKind.STOP, OrderKind.STOP_LIMIT})
_ACK = {SimStatus.REJECTED: "REJECTED", SimStatus.FILLED: "EXECUTED"}
"""A place answer's status: as Groww's doc example, ``OPEN`` for anything still working."""


class _Create(msgspec.Struct):
    trading_symbol: str
    quantity: int
    validity: str
    exchange: str
    segment: str
    product: str
    order_type: str
    transaction_type: str
    order_reference_id: str
    price: Decimal = Decimal(0)
    trigger_price: Decimal | None = None


class _Modify(msgspec.Struct):
    groww_order_id: str
    order_type: str
    segment: str
    quantity: int | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


class _Cancel(msgspec.Struct):
    groww_order_id: str
    segment: str


_create = msgspec.json.Decoder(_Create, float_hook=Decimal)
_modify = msgspec.json.Decoder(_Modify, float_hook=Decimal)
_cancel = msgspec.json.Decoder(_Cancel, float_hook=Decimal)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise fail(400, f"Invalid request: {exc}") from None


def _choice(table: dict[str, Any], value: str, field: str) -> Any:
    if value not in table:
        raise fail(400, f"{field} must be one of {', '.join(table)}")
    return table[value]


def _segment(value: str | None) -> str:
    if value not in SEGMENTS:
        raise fail(400, "segment must be one of CASH, FNO, COMMODITY, CURRENCY")
    return value


def _page(request: Request[Any, Any, Any], limit: int, default: int) -> tuple[int, int]:
    page, size = request.query_params.get("page", "0"), request.query_params.get("page_size")
    size = size or str(default)
    if not (page.isdigit() and size.isdigit()) or not 1 <= int(size) <= limit:
        raise fail(400, f"page must be 0 or more and page_size 1 to {limit}")
    return int(page), int(size)


def _own_order(sandbox: GrowwSandbox, account: SimAccount, groww_id: str, segment: str) -> SimOrder:
    engine_id = engine_order_id(groww_id)
    if engine_id is not None and segment == "CASH":
        try:
            order = sandbox.exchange.order(engine_id)
        except KeyError:
            pass
        else:
            if order.account_id == account.id:
                return order
    raise fail(404, "Order not found")


def _price(value: Decimal | None) -> Decimal | None:
    """Groww sends 0 for "no price"."""
    return value if value else None


def _place(sandbox: GrowwSandbox, account: SimAccount, body: _Create) -> SimOrder:
    kind = _choice(ORDER_TYPES, body.order_type, "order_type")
    product = _choice(PRODUCTS, body.product, "product")
    validity = _choice(_VALIDITIES, body.validity, "validity")
    side = _choice({"BUY": Side.BUY, "SELL": Side.SELL}, body.transaction_type, "transaction_type")
    if _segment(body.segment) != "CASH":
        raise fail(400, "The sandbox trades the CASH segment only")
    if body.exchange not in _EXCHANGES:
        raise fail(400, "exchange must be NSE or BSE")
    reference = body.order_reference_id
    if not _REFERENCE.fullmatch(reference) or reference.count("-") > 2:
        raise fail(400, "order_reference_id must be 8-20 letters, digits and at most 2 hyphens")
    if sandbox.exchange.find_by_tag(account.id, reference) is not None:
        raise refuse(400, "GA007", "Duplicate order reference id")
    return sandbox.exchange.place(
        account.id,
        symbol=body.trading_symbol,
        exchange=body.exchange,
        side=side,
        quantity=Decimal(body.quantity),
        kind=kind,
        price=_price(body.price) if kind in _PRICED else None,
        trigger_price=_price(body.trigger_price) if kind in _TRIGGERED else None,
        product=product,
        validity=validity,
        tag=reference,
    )


def order_router(sandbox: GrowwSandbox) -> Router:
    """Placing, changing and reading orders and their trades."""

    @post("/create", status_code=200)
    async def create(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, request)
        order = _place(sandbox, account, _decode(_create, await request.body()))
        rejected = order.status is SimStatus.REJECTED
        return exact(
            {
                "groww_order_id": order_id(order.id),
                "order_status": _ACK.get(order.status, "OPEN"),
                "order_reference_id": order.tag,
                "remark": order.status_message if rejected else "Order placed successfully",
            }
        )

    @post("/modify", status_code=200)
    async def modify(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, request)
        body: _Modify = _decode(_modify, await request.body())
        order = _own_order(sandbox, account, body.groww_order_id, _segment(body.segment))
        if ORDER_TYPES.get(body.order_type) is not order.kind:
            raise fail(400, "order_type does not match the order")
        if not order.is_open:
            raise refuse(400, "GA006", "Order cannot be modified in its current state")
        price = _price(body.price)
        trigger = _price(body.trigger_price)
        quantity = None if body.quantity is None else Decimal(body.quantity)
        try:
            sandbox.exchange.modify(
                order.id,
                quantity=None if quantity == order.quantity else quantity,
                price=None if price == order.price else price,
                trigger_price=None if trigger == order.trigger_price else trigger,
            )
        except ValueError as exc:
            raise fail(400, str(exc)) from None
        return exact(
            {"groww_order_id": order_id(order.id), "order_status": "MODIFICATION_REQUESTED"}
        )

    @post("/cancel", status_code=200)
    async def cancel(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, request)
        body: _Cancel = _decode(_cancel, await request.body())
        order = _own_order(sandbox, account, body.groww_order_id, _segment(body.segment))
        if not order.is_open:
            raise refuse(400, "GA006", "Order cannot be cancelled in its current state")
        sandbox.exchange.cancel(order.id)
        return exact(
            {"groww_order_id": order_id(order.id), "order_status": "CANCELLATION_REQUESTED"}
        )

    @get("/detail/{groww_order_id:str}")
    async def detail(
        request: Request[Any, Any, Any], groww_order_id: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = _segment(request.query_params.get("segment"))
        return exact(order_row(_own_order(sandbox, account, groww_order_id, segment)))

    @get("/status/{groww_order_id:str}")
    async def status(
        request: Request[Any, Any, Any], groww_order_id: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = _segment(request.query_params.get("segment"))
        return exact(status_row(_own_order(sandbox, account, groww_order_id, segment)))

    @get("/status/reference/{reference:str}")
    async def by_reference(
        request: Request[Any, Any, Any], reference: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = _segment(request.query_params.get("segment"))
        order = sandbox.exchange.find_by_tag(account.id, reference)
        if order is None or segment != "CASH":
            raise fail(404, "Order not found")
        return exact(status_row(order))

    @get("/list")
    async def listing(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = _segment(request.query_params.get("segment", "CASH"))
        # The SDK's default page size is 25 (UNCONFIRMED on the server side).
        page, size = _page(request, ORDER_PAGE_LIMIT, 25)
        orders = sandbox.exchange.orders(account.id) if segment == "CASH" else []
        rows = [order_row(order) for order in orders[page * size : (page + 1) * size]]
        return exact({"order_list": rows})

    @get("/trades/{groww_order_id:str}")
    async def trades(
        request: Request[Any, Any, Any], groww_order_id: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = _segment(request.query_params.get("segment"))
        order = _own_order(sandbox, account, groww_order_id, segment)
        page, size = _page(request, TRADE_PAGE_LIMIT, TRADE_PAGE_LIMIT)
        rows = [trade_row(order, fill) for fill in order.fills[page * size : (page + 1) * size]]
        return exact({"trade_list": rows})

    return Router(
        path="/v1/order",
        route_handlers=[create, modify, cancel, detail, status, by_reference, listing, trades],
    )
