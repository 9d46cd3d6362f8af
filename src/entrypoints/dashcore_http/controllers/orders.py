"""``/api/v1/orders``: placing, previewing, listing, modifying and cancelling the signed-in
user's orders (issue #8; security.md ORD-1..3).

- ``POST /orders`` needs one ``Idempotency-Key`` header (1 to 255 visible ASCII characters;
  missing, repeated or malformed: 400 ``idempotency_key_required``). It answers 201 with the
  order, or 202 when the broker's answer was lost and the order is ``unknown`` (the reconciler
  settles it; poll ``GET /orders/{id}``). The same key with the same body answers again with
  the order as it is now (``Idempotent-Replayed: true``) and never places a second one; while
  the first request is still sending it is 409 ``order_in_flight``; the same key with another
  body is 422 ``idempotency_key_reused``. Above the configured order value the caller must have
  signed in recently (401 ``step_up_required``). An order above one of the user's order limits
  is 422 ``order_limit_exceeded`` (``GET /orders/limits`` lists them; ``PUT`` lowers them,
  403 ``order_limit_raise_needs_admin`` above the ones in force), as is a modification that
  takes an order above them; a preview lists the breach among its problems.
- ``DELETE /orders/{id}`` asks the broker to cancel: 200 once it is ``cancelled``, 202 while it
  is ``cancel_requested`` (the broker has not confirmed yet), 409 ``cancel_refused`` when the
  broker kept the order (it filled meanwhile).
- Another user's order is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from dashcore.application.order_limits import LowerOrderLimits, OrderLimitGate
from dashcore.application.orders import MAX_PAGE, GetOrder, ListOrders, Trader
from dashcore.application.orders_manage import CancelOrder, ModifyOrder
from dashcore.application.orders_place import PlaceOrder, PreviewOrder
from dashcore.domain.errors import BadRequest, Conflict, InvalidInput
from dashcore.domain.instruments import InstrumentKey, instrument_code
from dashcore.domain.orders import OrderChange, OrderSide, OrderStatus, OrderType, Product, Validity
from dashcore.domain.time import parse_utc
from dashcore.domain.trading import (
    IdempotencyKey,
    OrderDraft,
    OrderFilters,
    OrderPreview,
    PlacedOrder,
)
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.controllers.accounts import Cursor, instrument_view, money_view, optional_money
from dashcore_http.di import inject
from dashcore_http.openapi_problems import STEP_UP, problems
from dashcore_http.schemas.numbers import decimal_string, optional_decimal_string
from dashcore_http.schemas.order_limits import (
    OrderLimitsUpdate,
    OrderLimitsView,
    order_limits_of,
    order_limits_view,
)
from dashcore_http.schemas.orders import (
    FillView,
    OrderCreate,
    OrderPage,
    OrderUpdate,
    OrderView,
    PreviewView,
)
from dashcore_http.schemas.problem import FieldProblem
from dashcore_http.schemas.providers import ProblemSummary
from dashcore_http.schemas.transactions import decimal_inputs

__all__ = ["IDEMPOTENCY_KEY_HEADER", "REPLAYED_HEADER", "OrdersController", "order_view"]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Orders per page")]
Instant = Annotated[str | None, QueryParameter(description="ISO 8601 with an offset")]
_UNKNOWN = ResponseSpec(OrderView, description="Sent, the answer lost: ``unknown``, reconciling")
_CANCEL_REQUESTED = ResponseSpec(OrderView, description="``cancel_requested``: not confirmed yet")
_NOT_USABLE = "`connection_not_usable` (sign in at the provider again)"
_TRADING_CONNECTION = {
    403: "`connection_cannot_trade`: connect it again with trading allowed",
    404: "`connection_not_found`",
    409: _NOT_USABLE,
}
_UNCHANGEABLE = "`order_not_changeable` (final, or not at the broker yet)"
_CANNOT_TRADE = {403: _TRADING_CONNECTION[403]}


def order_view(order: PlacedOrder) -> OrderView:
    request, error = order.request, order.last_error
    return OrderView(
        id=order.id,
        connection_id=order.connection_id,
        provider=order.provider,
        account_id=order.account_id,
        instrument=instrument_view(request.instrument),
        side=request.side.value,
        type=request.type.value,
        product=request.product.value,
        validity=request.validity.value,
        quantity=decimal_string(request.quantity),
        limit_price=optional_decimal_string(request.limit_price),
        stop_price=optional_decimal_string(request.stop_price),
        status=order.status.value,
        broker_status=order.broker_status,
        broker_order_id=order.broker_order_id,
        client_reference=order.client_reference,
        filled_quantity=decimal_string(order.filled_quantity),
        average_price=optional_money(order.average_price),
        fills=[
            FillView(
                trade_id=fill.trade_id,
                quantity=decimal_string(fill.quantity),
                price=money_view(fill.price),
                executed_at=fill.executed_at,
                charges=optional_money(fill.charges),
            )
            for fill in order.fills
        ],
        status_message=order.status_message,
        last_error=None if error is None else ProblemSummary(error.code, error.message),
        created_at=order.created_at,
        updated_at=order.updated_at,
        status_changed_at=order.status_changed_at,
    )


def preview_view(preview: OrderPreview) -> PreviewView:
    return PreviewView(
        valid=preview.is_valid,
        problems=[FieldProblem(problem.field, problem.message) for problem in preview.problems],
        estimated_cost=optional_money(preview.estimated_cost),
        estimated_charges=optional_money(preview.estimated_charges),
        projected_position=optional_decimal_string(preview.projected_position),
        projected_cash=optional_money(preview.projected_cash),
    )


def idempotency_key(request: Request[Any, Any, Any]) -> IdempotencyKey:
    """The request's one ``Idempotency-Key``; 400 ``idempotency_key_required`` otherwise."""
    values = request.headers.getall(IDEMPOTENCY_KEY_HEADER, [])
    problem = "Send one Idempotency-Key header: 1 to 255 visible ASCII characters (a UUID)."
    if len(values) != 1:
        raise BadRequest(problem, code="idempotency_key_required", field=IDEMPOTENCY_KEY_HEADER)
    try:
        return IdempotencyKey(values[0])
    except InvalidInput as error:
        raise BadRequest(
            problem, code="idempotency_key_required", field=IDEMPOTENCY_KEY_HEADER
        ) from error


def _draft(data: OrderCreate) -> OrderDraft:
    numbers = decimal_inputs(
        quantity=data.quantity, limit_price=data.limit_price, stop_price=data.stop_price
    )
    quantity = numbers["quantity"]
    assert quantity is not None  # a required field
    return OrderDraft(
        account_id=data.account_id,
        instrument=InstrumentKey(instrument_code(data.symbol), instrument_code(data.exchange)),
        side=OrderSide(data.side),
        type=OrderType(data.type),
        quantity=quantity,
        product=Product(data.product),
        validity=Validity(data.validity),
        limit_price=numbers["limit_price"],
        stop_price=numbers["stop_price"],
    )


def _change(data: OrderUpdate) -> OrderChange:
    numbers = decimal_inputs(
        quantity=data.quantity, limit_price=data.limit_price, stop_price=data.stop_price
    )
    return OrderChange(**numbers)


def _statuses(texts: list[str] | None) -> frozenset[OrderStatus] | None:
    if texts is None:
        return None
    try:
        return frozenset(OrderStatus(text) for text in texts)
    except ValueError as error:
        known = ", ".join(status.value for status in OrderStatus)
        raise InvalidInput(f"A status is one of {known}.", field="status") from error


def _trader(request: Request[Any, Any, Any]) -> Trader:
    claims = principal(request)
    return Trader(claims.subject, claims.auth_time, claims.amr, caller_of(request))


def _located(request: Request[Any, Any, Any], order: PlacedOrder) -> str:
    return f"{request.url.path.rstrip('/')}/{order.id}"


class OrdersController(Controller):
    path = "/orders"
    tags = ("orders",)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Place an order (Idempotency-Key required)",
        responses={
            HTTP_202_ACCEPTED: _UNKNOWN,
            **problems(
                STEP_UP
                | _TRADING_CONNECTION
                | {
                    400: "`idempotency_key_required`, or the body cannot be read "
                    "(malformed JSON, `amount_not_string`: a JSON number for an amount)",
                    409: f"`order_in_flight` (this key's order is still being sent), {_NOT_USABLE}",
                }
            ),
        },
    )
    @inject
    async def place(
        self,
        data: JSONBody[OrderCreate],
        request: Request[Any, Any, Any],
        place: FromDishka[PlaceOrder],
    ) -> Response[OrderView]:
        """201 with the order; 202 when it is ``unknown`` (sent, answer lost: being
        reconciled). A replay answers with the order as it is now."""
        key = idempotency_key(request)
        placement = await place(_trader(request), data.connection_id, key, _draft(data))
        order = placement.order
        if placement.replayed and order.status is OrderStatus.PENDING_SUBMIT:
            raise Conflict(
                "An order with this Idempotency-Key is still being sent; ask again shortly.",
                code="order_in_flight",
            )
        headers = {"Location": _located(request, order)}
        if placement.replayed:
            headers[REPLAYED_HEADER] = "true"
        status = HTTP_202_ACCEPTED if order.status is OrderStatus.UNKNOWN else HTTP_201_CREATED
        return Response(order_view(order), status_code=status, headers=headers)

    @post(
        "/preview",
        status_code=HTTP_200_OK,
        summary="What an order would do, sent nowhere",
        responses=problems(_TRADING_CONNECTION),
    )
    @inject
    async def preview(
        self,
        data: JSONBody[OrderCreate],
        request: Request[Any, Any, Any],
        preview: FromDishka[PreviewOrder],
    ) -> PreviewView:
        return preview_view(await preview(_trader(request), data.connection_id, _draft(data)))

    @get("/limits", summary="The order limits in force for this account")
    @inject
    async def limits(
        self, request: Request[Any, Any, Any], limits: FromDishka[OrderLimitGate]
    ) -> OrderLimitsView:
        """Per currency: the most one order may be worth, its largest quantity and the most a
        UTC day's orders may be worth (``null``: no such limit); ``own`` are those an
        administrator set for this account, in place of the defaults."""
        return order_limits_view(await limits.limits_of(principal(request).subject))

    @put(
        "/limits",
        summary="Lower this account's own order limits (only an administrator raises them)",
        responses=problems(
            {403: "`order_limit_raise_needs_admin`: a limit above the one in force"}
        ),
    )
    @inject
    async def lower_limits(
        self,
        data: JSONBody[OrderLimitsUpdate],
        request: Request[Any, Any, Any],
        lower: FromDishka[LowerOrderLimits],
    ) -> OrderLimitsView:
        """Each limit given takes the place of the one in force and may not exceed it; limits
        left out stay as they are. Audited (``order_limits_lowered``)."""
        caller = caller_of(request)
        return order_limits_view(
            await lower(principal(request).subject, order_limits_of(data), caller)
        )

    @get("/", summary="This account's orders, newest first, filtered")
    @inject
    async def list_orders(
        self,
        request: Request[Any, Any, Any],
        orders: FromDishka[ListOrders],
        connection_id: Annotated[UUID | None, QueryParameter()] = None,
        account_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        status: Annotated[list[str] | None, QueryParameter(max_items=10)] = None,
        symbol: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None,
        side: Annotated[str | None, QueryParameter(pattern="^(buy|sell)$")] = None,
        since: Instant = None,
        until: Instant = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> OrderPage:
        """Filters: ``connection_id``, ``account_id`` (the provider's), ``status``
        (repeatable), ``symbol``, ``side``, and the creation time from ``since`` (inclusive) to
        ``until`` (exclusive)."""
        filters = OrderFilters(
            statuses=_statuses(status),
            connection_id=connection_id,
            account_id=account_id,
            symbol=None if symbol is None else instrument_code(symbol),
            side=None if side is None else OrderSide(side),
            created_from=None if since is None else parse_utc(since, field="since"),
            created_before=None if until is None else parse_utc(until, field="until"),
        )
        page = await orders(principal(request).subject, filters, cursor=cursor, limit=limit)
        return OrderPage(items=[order_view(o) for o in page.items], next_cursor=page.next_cursor)

    @get("/{order_id:uuid}", summary="One order")
    @inject
    async def get_order(
        self,
        order_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        orders: FromDishka[GetOrder],
    ) -> OrderView:
        return order_view(await orders(principal(request).subject, order_id))

    @patch(
        "/{order_id:uuid}",
        summary="Modify a live order's quantity or prices (step-up above the threshold)",
        responses=problems(
            STEP_UP
            | _CANNOT_TRADE
            | {
                202: "`order_state_unknown`: the broker's answer to the change was lost; the "
                "order is followed at the next poll (read it again)",
                409: f"{_UNCHANGEABLE}, {_NOT_USABLE}, or the broker's refusal",
            }
        ),
    )
    @inject
    async def modify(
        self,
        order_id: FromPath[UUID],
        data: JSONBody[OrderUpdate],
        request: Request[Any, Any, Any],
        modify: FromDishka[ModifyOrder],
    ) -> OrderView:
        return order_view(await modify(_trader(request), order_id, _change(data)))

    @delete(
        "/{order_id:uuid}",
        status_code=HTTP_200_OK,
        summary="Cancel a live order",
        responses={
            HTTP_202_ACCEPTED: _CANCEL_REQUESTED,
            **problems(
                _CANNOT_TRADE
                | {409: f"{_UNCHANGEABLE}, {_NOT_USABLE}, `cancel_refused` (it filled meanwhile)"}
            ),
        },
    )
    @inject
    async def cancel(
        self,
        order_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        cancel: FromDishka[CancelOrder],
    ) -> Response[OrderView]:
        """200 ``cancelled``; 202 ``cancel_requested`` (the broker has not confirmed yet)."""
        order = await cancel(_trader(request), order_id)
        if order.status is OrderStatus.CANCELLED:
            return Response(order_view(order), status_code=HTTP_200_OK)
        if order.status is OrderStatus.CANCEL_REQUESTED:
            return Response(order_view(order), status_code=HTTP_202_ACCEPTED)
        raise Conflict(
            f"The broker did not cancel the order: it is {order.status}.", code="cancel_refused"
        )
