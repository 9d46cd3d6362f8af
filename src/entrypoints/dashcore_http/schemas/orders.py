"""Bodies of the order endpoints (``/orders``).

Quantities and prices travel as JSON strings (``"10"``, ``"1500.05"``); a JSON number is refused
with 400 ``amount_not_string`` naming the field (see :func:`~dashcore_http.schemas.transactions.
decimal_input`). An order is asked for by instrument (``symbol`` on ``exchange``) in one of the
connection's provider accounts; everything the server decides (ids, status, broker ids, fills)
is never accepted from the client (unknown fields are refused, ORD-3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from dashcore_http.schemas.accounts import InstrumentView, MoneyView
from dashcore_http.schemas.numbers import DecimalString
from dashcore_http.schemas.problem import FieldProblem
from dashcore_http.schemas.providers import ProblemSummary
from dashcore_http.schemas.transactions import DecimalInput

__all__ = [
    "FillView",
    "OrderCreate",
    "OrderPage",
    "OrderUpdate",
    "OrderView",
    "PreviewView",
]

SideText = Literal["buy", "sell"]
TypeText = Literal["market", "limit", "stop", "stop_limit"]
ProductText = Literal["delivery", "intraday", "margin"]
ValidityText = Literal["day", "ioc", "gtc"]
AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class OrderCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An order to place (``POST /orders``, with an ``Idempotency-Key`` header) or to preview
    (``POST /orders/preview``). ``account_id`` is the provider's account id (as the
    connection's accounts list it); ``limit_price`` goes with ``limit`` and ``stop_limit``
    orders, ``stop_price`` with ``stop`` and ``stop_limit``."""

    connection_id: UUID
    account_id: AccountId
    symbol: Symbol
    exchange: Symbol
    side: SideText
    type: TypeText
    quantity: DecimalInput
    product: ProductText = "delivery"
    validity: ValidityText = "day"
    limit_price: DecimalInput | None = None
    stop_price: DecimalInput | None = None


class OrderUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A modification of a live order: what changes (left out: unchanged)."""

    quantity: DecimalInput | None = None
    limit_price: DecimalInput | None = None
    stop_price: DecimalInput | None = None


class FillView(msgspec.Struct, frozen=True, kw_only=True):
    trade_id: str
    quantity: DecimalString
    price: MoneyView
    executed_at: datetime
    charges: MoneyView | None


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """An order as dashcore tracks it. ``status`` is the normalized lifecycle state
    (``pending_submit``, ``submitted``, ``open``, ``partially_filled``, ``filled``,
    ``cancel_requested``, ``cancelled``, ``rejected``, ``expired``, ``unknown``: sent, answer
    lost, being reconciled); ``broker_status`` is the broker's own word. ``client_reference``
    is what the order is known by at the broker before it has a broker id."""

    id: UUID
    connection_id: UUID
    provider: str
    account_id: str
    instrument: InstrumentView
    side: str
    type: str
    product: str
    validity: str
    quantity: DecimalString
    limit_price: DecimalString | None
    stop_price: DecimalString | None
    status: str
    broker_status: str | None
    broker_order_id: str | None
    client_reference: str
    filled_quantity: DecimalString
    average_price: MoneyView | None
    fills: list[FillView]
    status_message: str | None
    last_error: ProblemSummary | None
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime


class OrderPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OrderView]
    next_cursor: str | None


class PreviewView(msgspec.Struct, frozen=True, kw_only=True):
    """What the order would do, sent nowhere. ``valid`` is false when ``problems`` names
    fields to fix. Amounts are estimates (``null`` where unknown): cost at the limit price
    (else the last price), charges from the provider's usual schedule, and the position and
    cash of the account after the order."""

    valid: bool
    problems: list[FieldProblem]
    estimated_cost: MoneyView | None
    estimated_charges: MoneyView | None
    projected_position: DecimalString | None
    projected_cash: MoneyView | None
