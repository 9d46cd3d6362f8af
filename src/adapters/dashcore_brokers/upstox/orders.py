"""Upstox's trading side (``reference/brokers.md`` §3.5).

Business rules:
- place is ``POST /v3/order/place`` (JSON, on the order host) with ``slice=false``, so exactly
  one order id comes back in ``data.order_ids``; the client reference travels as ``tag`` and
  Upstox echoes it in the order book. It is sent once and never retried: a timeout, a lost
  connection or a 5xx after sending is ``OrderStateUnknown`` (reconcile with
  :meth:`find_by_client_reference`); only a connection that could not be opened or an open
  circuit (nothing sent: ``NOTHING_SENT``) or a 429 (refused) is not;
- Upstox takes prices as JSON numbers: a ``Decimal`` is written as an exact JSON number
  (msgspec, never through ``float``); quantities are whole numbers; market orders send price
  0, non-stop orders trigger price 0;
- modify (``PUT /v3/order/modify``) sends the whole order (Upstox requires type, validity,
  price and trigger price), the unchanged fields read from the order first; cancel is
  ``DELETE /v3/order/cancel?order_id=``. Each write answers with the order as Upstox then
  reports it (``GET /v2/order/details``); if that read fails after an accepted write, the
  order is reported ``submitted`` from what was sent;
- the order book (``/v2/order/retrieve-all``) is the day's orders, oldest first, paged by
  dashcore; fills are ``/v2/order/trades?order_id=``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import structlog

from dashcore.domain.capabilities import Operation
from dashcore.domain.errors import (
    Conflict,
    InvalidInput,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
)
from dashcore.domain.orders import Fill, Order, OrderChange, OrderRequest, OrderStatus
from dashcore.domain.portfolio import Page
from dashcore.ports.brokers import OrderGateway
from dashcore.ports.clock import Clock
from dashcore_brokers.http import NOTHING_SENT
from dashcore_brokers.upstox.calls import PROVIDER, UpstoxCalls, page_of
from dashcore_brokers.upstox.mapping import (
    ORDER_TYPES,
    PRODUCTS,
    SIDES,
    VALIDITIES,
    Instruments,
    fills_from,
    instrument_key,
    order_from,
)
from dashcore_brokers.upstox.wire import ORDER, ORDER_ID, ORDERS, PLACED, TRADES, OrderRow

__all__ = [
    "CANCEL_PATH",
    "DETAILS_PATH",
    "MODIFY_PATH",
    "ORDER_BOOK_PATH",
    "PLACE_PATH",
    "TRADES_PATH",
    "UpstoxOrderGateway",
    "wire_number",
]

PLACE_PATH = "/v3/order/place"
MODIFY_PATH = "/v3/order/modify"
CANCEL_PATH = "/v3/order/cancel"
DETAILS_PATH = "/v2/order/details"
ORDER_BOOK_PATH = "/v2/order/retrieve-all"
TRADES_PATH = "/v2/order/trades"

_log = structlog.get_logger("dashcore_brokers.upstox")


def wire_number(value: Decimal) -> Decimal | int:
    """``value`` as the JSON number Upstox reads: an int when whole (quantities), else the
    exact decimal (msgspec writes it as a number, never through ``float``)."""
    return int(value) if value == value.to_integral_value() else value


def _order_key(row: OrderRow) -> tuple[str, ...]:
    return (row.order_timestamp or "", row.order_id.rjust(32, "0"))


class UpstoxOrderGateway(OrderGateway):
    def __init__(self, calls: UpstoxCalls, clock: Clock) -> None:
        self._calls = calls
        self._clock = clock

    async def place(self, request: OrderRequest) -> Order:
        self._calls.capabilities.check_order(request, PROVIDER)
        self._calls.check(Operation.PLACE_ORDER, request.provider_account_id)
        key = instrument_key(request.instrument)
        if key is None:
            raise InvalidInput(
                "Upstox trades NSE and BSE equities by ISIN; this instrument has none.",
                field="instrument",
            )
        body = {
            "quantity": wire_number(request.quantity),
            "product": PRODUCTS[request.product],
            "validity": VALIDITIES[request.validity],
            "price": wire_number(request.limit_price or Decimal(0)),
            "tag": request.client_reference,
            "instrument_token": key,
            "order_type": ORDER_TYPES[request.type],
            "transaction_type": SIDES[request.side],
            "disclosed_quantity": 0,
            "trigger_price": wire_number(request.stop_price or Decimal(0)),
            "is_amo": False,
            "slice": False,
        }
        try:
            response = await self._calls.http.request(
                "POST", self._calls.order_base + PLACE_PATH, json=body, headers=self._calls.headers
            )
            placed = self._calls.accepted(PLACED, response, "place_order").data.order_ids
        except ProviderUnavailable as exc:
            if exc.code in NOTHING_SENT or exc.code == "provider_refused":
                raise
            _log.warning("order_state_unknown", provider="upstox", error=exc.code)
            raise OrderStateUnknown(
                "Upstox did not confirm the order; it is reconciled by its client reference.",
                code="order_state_unknown",
            ) from None
        if len(placed) != 1:
            _log.warning("order_state_unknown", provider="upstox", order_ids=len(placed))
            raise OrderStateUnknown(
                "Upstox answered without one order id; it is reconciled by its client reference."
            )
        return await self._after_write(placed[0], request)

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order:
        self._calls.check(Operation.MODIFY_ORDER, account_id)
        current = await self.get(account_id, order_id)
        if current.status.is_final:
            raise Conflict(f"The order is already {current.status}.", code="order_not_open")
        if change.limit_price is not None and not current.type.needs_limit_price:
            raise InvalidInput(f"A {current.type} order has no limit price.", field="limit_price")
        if change.stop_price is not None and not current.type.needs_stop_price:
            raise InvalidInput(f"A {current.type} order has no stop price.", field="stop_price")
        price = change.limit_price or current.limit_price or Decimal(0)
        trigger = change.stop_price or current.stop_price or Decimal(0)
        body = {
            "order_id": order_id,
            "quantity": wire_number(change.quantity or current.quantity),
            "validity": VALIDITIES[current.validity],
            "price": wire_number(price),
            "order_type": ORDER_TYPES[current.type],
            "disclosed_quantity": 0,
            "trigger_price": wire_number(trigger),
        }
        response = await self._calls.http.request(
            "PUT", self._calls.order_base + MODIFY_PATH, json=body, headers=self._calls.headers
        )
        self._calls.accepted(ORDER_ID, response, "modify_order")
        return await self.get(account_id, order_id)

    async def cancel(self, account_id: str, order_id: str) -> Order:
        self._calls.check(Operation.CANCEL_ORDER, account_id)
        response = await self._calls.http.request(
            "DELETE",
            self._calls.order_base + CANCEL_PATH,
            params={"order_id": order_id},
            headers=self._calls.headers,
        )
        self._calls.accepted(ORDER_ID, response, "cancel_order")
        return await self.get(account_id, order_id)

    async def get(self, account_id: str, order_id: str) -> Order:
        self._calls.check(Operation.GET_ORDER, account_id)
        row = (
            await self._calls.read(ORDER, DETAILS_PATH, "get_order", {"order_id": order_id})
        ).data
        return order_from(row, account_id, Instruments())

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]:
        self._calls.check(Operation.LIST_ORDERS, account_id)
        rows = (await self._calls.read(ORDERS, ORDER_BOOK_PATH, "list_orders")).data
        instruments = Instruments()
        return page_of(
            rows,
            cursor,
            _order_key,
            lambda part: [order_from(row, account_id, instruments) for row in part],
        )

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]:
        self._calls.check(Operation.FILLS, account_id)
        rows = (await self._calls.read(TRADES, TRADES_PATH, "fills", {"order_id": order_id})).data
        return fills_from(rows)

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        """The latest order of the day tagged with the request's reference for the same
        instrument and side (Upstox echoes ``tag``), or ``None``."""
        self._calls.check(Operation.FIND_BY_CLIENT_REFERENCE, account_id)
        rows = (await self._calls.read(ORDERS, ORDER_BOOK_PATH, "find_order")).data
        key = instrument_key(request.instrument)
        side = SIDES[request.side]
        matches = [
            row
            for row in rows
            if row.tag == request.client_reference
            and row.transaction_type == side
            and (key is None or row.instrument_token == key)
        ]
        if not matches:
            return None
        return order_from(max(matches, key=_order_key), account_id, Instruments())

    async def _after_write(self, order_id: str, request: OrderRequest) -> Order:
        """The order as Upstox now reports it; ``submitted`` from the request if that read
        fails (the order was accepted: the next read settles it)."""
        try:
            return await self.get(request.provider_account_id, order_id)
        except (ProviderUnavailable, RateLimited) as exc:
            _log.warning("order_read_after_place_failed", provider="upstox", error=exc.code)
        return Order(
            provider_order_id=order_id,
            provider_account_id=request.provider_account_id,
            instrument=request.instrument,
            side=request.side,
            type=request.type,
            quantity=request.quantity,
            filled_quantity=Decimal(0),
            status=OrderStatus.SUBMITTED,
            provider_status="",
            placed_at=self._clock.now(),
            product=request.product,
            validity=request.validity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_reference=request.client_reference,
        )
