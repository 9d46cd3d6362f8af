"""Orders and fills, normalized across providers (issue #6; security.md ORD-1..3).

Every provider status maps to exactly one :class:`OrderStatus`. The lifecycle:

    pending_submit ─► submitted ─► open ─► partially_filled ─► filled
          │               │          │  ╲          │
          │               │          │   ╲─► cancel_requested ─► cancelled
          │               ▼          ▼          ▼  (a fill may still land: ─► filled;
          │                                         a refused cancel: ─► open / partially_filled)
          │           rejected    expired    expired / cancelled
          ▼
       unknown  (sent, answer lost: the reconciler settles it by client reference)

``unknown`` can follow any non-final state (a lost answer) and leads to any state the provider
reports. ``filled``, ``cancelled``, ``rejected`` and ``expired`` are final. A transition the
table does not allow is a ``Conflict`` (``invalid_order_transition``): a provider reporting
"open" after "filled" is a provider bug to surface, not to follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.instruments import Instrument, is_positive_decimal
from dashcore.domain.money import ARITHMETIC, Money

__all__ = [
    "FINAL_STATUSES",
    "Fill",
    "Order",
    "OrderChange",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Product",
    "Validity",
    "can_transition",
]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"

    @property
    def needs_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class Product(StrEnum):
    DELIVERY = "delivery"
    INTRADAY = "intraday"
    MARGIN = "margin"


class Validity(StrEnum):
    DAY = "day"
    IOC = "ioc"
    GTC = "gtc"


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "pending_submit"
    SUBMITTED = "submitted"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
_LIVE = frozenset(
    {
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCEL_REQUESTED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    }
)
_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_SUBMIT: frozenset(
        {OrderStatus.SUBMITTED, OrderStatus.REJECTED, OrderStatus.UNKNOWN} | _LIVE
    ),
    OrderStatus.SUBMITTED: frozenset({OrderStatus.REJECTED, OrderStatus.UNKNOWN} | _LIVE),
    OrderStatus.OPEN: _LIVE | {OrderStatus.UNKNOWN},
    OrderStatus.PARTIALLY_FILLED: (_LIVE - {OrderStatus.OPEN}) | {OrderStatus.UNKNOWN},
    OrderStatus.CANCEL_REQUESTED: frozenset(
        {
            OrderStatus.SUBMITTED,  # the cancel was refused or never reached the broker
            OrderStatus.OPEN,
            OrderStatus.CANCELLED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.EXPIRED,
            OrderStatus.UNKNOWN,
        }
    ),
    OrderStatus.UNKNOWN: frozenset(set(OrderStatus) - {OrderStatus.PENDING_SUBMIT}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether an order may move from ``current`` to ``new`` (staying put always may)."""
    return new is current or new in _NEXT[current]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a user asks a provider to do. ``client_reference`` is the idempotency handle the
    provider echoes (Kite/Upstox ``tag``, Groww ``order_reference_id``) or that reconciliation
    matches by fields (Schwab)."""

    provider_account_id: str
    instrument: Instrument
    side: OrderSide
    type: OrderType
    quantity: Decimal
    client_reference: str
    product: Product = Product.DELIVERY
    validity: Validity = Validity.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    @property
    def priced_value(self) -> Decimal | None:
        """Quantity × limit (else stop) price; ``None`` for a market order (priced by a
        quote)."""
        price = self.limit_price or self.stop_price
        return None if price is None else ARITHMETIC.multiply(self.quantity, price)

    def __post_init__(self) -> None:
        if not self.provider_account_id:
            raise InvalidInput("An order needs the provider's account id.", field="account_id")
        if not self.instrument.is_whole_lots(self.quantity):
            raise InvalidInput(
                f"The quantity must be a positive multiple of {self.instrument.lot_size}.",
                field="quantity",
            )
        for name, needed in (
            ("limit_price", self.type.needs_limit_price),
            ("stop_price", self.type.needs_stop_price),
        ):
            price: Decimal | None = getattr(self, name)
            if needed and price is None:
                raise InvalidInput(f"A {self.type} order needs a {name}.", field=name)
            if not needed and price is not None:
                raise InvalidInput(f"A {self.type} order takes no {name}.", field=name)
            if price is not None and not self.instrument.is_on_tick(price):
                raise InvalidInput(
                    f"The {name} must be a positive multiple of {self.instrument.tick_size}.",
                    field=name,
                )
        if not self.client_reference or len(self.client_reference) > 20:
            raise InvalidInput(
                "A client reference is 1 to 20 characters.", field="client_reference"
            )


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A modification of an open order: what changes (``None``: unchanged)."""

    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.quantity is None and self.limit_price is None and self.stop_price is None:
            raise InvalidInput("Change at least one of quantity and prices.", field="quantity")
        for name in ("quantity", "limit_price", "stop_price"):
            value: Decimal | None = getattr(self, name)
            if value is not None and not is_positive_decimal(value):
                raise InvalidInput(f"The {name} must be a positive finite decimal.", field=name)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: the provider's trade id, how much, at what price, with what charges."""

    trade_id: str
    provider_order_id: str
    quantity: Decimal
    price: Money
    executed_at: datetime
    charges: Money | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the provider reports it, normalized. ``provider_status`` keeps the
    provider's own spelling next to the normalized ``status``."""

    provider_order_id: str
    provider_account_id: str
    instrument: Instrument
    side: OrderSide
    type: OrderType
    quantity: Decimal
    filled_quantity: Decimal
    status: OrderStatus
    provider_status: str
    placed_at: datetime | None
    product: Product = Product.DELIVERY
    validity: Validity = Validity.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    average_price: Money | None = None
    client_reference: str | None = None
    status_message: str | None = None
    fills: tuple[Fill, ...] = field(default=())
    replaced_by: str | None = None
    """The broker order that replaced this one (a broker that replaces on modify, as Schwab
    does), when the broker names it: this one has ended, the order lives on under that id."""

    @property
    def pending_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    def moved_to(self, status: OrderStatus, provider_status: str) -> Order:
        """The same order in ``status``; a move the lifecycle forbids is a ``Conflict``."""
        if not can_transition(self.status, status):
            raise Conflict(
                f"An order cannot go from {self.status} to {status}.",
                code="invalid_order_transition",
            )
        return replace(self, status=status, provider_status=provider_status)
