"""Business limits on orders: fat-finger protection (security.md ORD-3).

Per currency there are three limits, each optional: a limit absent in a currency means no limit
of that kind there.

- ``max_order_value``: the value of one order, its quantity times its limit (else stop) price,
  else times the broker's last price (the value the step-up rule uses);
- ``max_order_quantity``: the quantity of one order (the whole order's, lots included);
- ``max_daily_value``: the value of the orders a user places in one day, the order being
  placed included.

**The day** is the UTC calendar day, ``[00:00, 24:00)`` UTC. Each market the platform trades
holds its whole session inside one UTC day (India 09:15-15:30 IST is 03:45-10:00 UTC; the US
09:30-16:00 New York time is 13:30-21:00 UTC), so a UTC day never splits a session and the rule
needs no exchange calendar.

**What counts towards the day**: every order of the user created that UTC day in that currency,
whatever its connection, except those ``rejected`` (the broker refused them, or they never
reached it: ``not_received_by_broker``, ``submit_deadline_passed``). Orders still
``pending_submit`` or ``unknown`` count (they may be at the broker); ``cancelled`` and ``expired``
orders count too: they were placed, and placing then cancelling must not reset the cap. An order
counts at the value it was checked at when placed or last modified through dashcore
(``PlacedOrder.estimated_value``); an order stored before that was recorded counts at its
quantity times its limit (else stop) price, or nothing when it had neither.

**A modification holds its room while the broker answers**: from the check until the broker's
answer is saved, the order counts at the larger of its value and the changed value
(:func:`holding_room`), so an order placed meanwhile cannot take the room the modification may
use. A broker that refuses the change gives the room back (:func:`room_released`); one whose
answer was lost keeps it held (fails closed) until the order is next modified.

**Unknown value fails closed**: an order whose value cannot be known (a market order without a
quote) is refused wherever a value limit applies to its currency.

The limits in force for a user are the deployment's defaults overridden, limit by limit and
currency by currency, by the user's own (set by an administrator).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from dashcore.domain.errors import FieldError, InvalidInput, OrderLimitExceeded
from dashcore.domain.money import ARITHMETIC, Currency, plain_decimal
from dashcore.domain.orders import OrderStatus
from dashcore.domain.time import ensure_utc
from dashcore.domain.trading import PlacedOrder

__all__ = [
    "CurrencyLimits",
    "LimitBreach",
    "LimitKind",
    "OrderLimits",
    "check_order",
    "counted_value",
    "holding_room",
    "placed_value",
    "room_released",
    "trading_day",
]


class LimitKind(StrEnum):
    MAX_ORDER_VALUE = "max_order_value"
    MAX_ORDER_QUANTITY = "max_order_quantity"
    MAX_DAILY_VALUE = "max_daily_value"


@dataclass(frozen=True, slots=True)
class CurrencyLimits:
    """The limits of one currency; ``None`` is no limit of that kind."""

    max_order_value: Decimal | None = None
    max_order_quantity: Decimal | None = None
    max_daily_value: Decimal | None = None

    def __post_init__(self) -> None:
        for kind in LimitKind:
            limit = getattr(self, kind.value)
            if limit is not None and not (
                isinstance(limit, Decimal) and limit.is_finite() and limit >= 0
            ):
                raise InvalidInput("A limit is a non-negative decimal.", field=kind.value)

    def get(self, kind: LimitKind) -> Decimal | None:
        limit: Decimal | None = getattr(self, kind.value)
        return limit

    @property
    def is_empty(self) -> bool:
        return all(self.get(kind) is None for kind in LimitKind)

    def overridden_by(self, other: CurrencyLimits) -> CurrencyLimits:
        """Each limit ``other`` sets, else this one's."""
        return CurrencyLimits(
            *(self.get(kind) if other.get(kind) is None else other.get(kind) for kind in LimitKind)
        )


NO_LIMITS = CurrencyLimits()


@dataclass(frozen=True, slots=True)
class OrderLimits:
    """Limits by currency; a currency not listed has none."""

    by_currency: Mapping[Currency, CurrencyLimits] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = self.by_currency
        kept = {c: given[c] for c in sorted(given, key=str) if not given[c].is_empty}
        object.__setattr__(self, "by_currency", kept)

    def of(self, currency: Currency) -> CurrencyLimits:
        return self.by_currency.get(currency, NO_LIMITS)

    def overridden_by(self, other: OrderLimits) -> OrderLimits:
        """These limits with ``other``'s in their place, currency by currency, limit by limit."""
        currencies = set(self.by_currency) | set(other.by_currency)
        return OrderLimits(
            {
                currency: self.of(currency).overridden_by(other.of(currency))
                for currency in currencies
            }
        )

    def describe(self) -> str:
        """``INR:max_order_value=1000000,max_daily_value=5000000;USD:…``, or ``none`` (audit)."""
        parts = [
            f"{currency}:"
            + ",".join(
                f"{kind}={limit}" for kind in LimitKind if (limit := limits.get(kind)) is not None
            )
            for currency, limits in self.by_currency.items()
        ]
        return ";".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """Which limit an order breaks, the limit, and what the order asked (``None``: its value
    cannot be known)."""

    kind: LimitKind
    currency: Currency
    limit: Decimal
    requested: Decimal | None

    @property
    def message(self) -> str:
        limit, currency = plain_decimal(self.limit), self.currency
        if self.requested is None:
            return (
                f"The order's value cannot be known now (no price), and your orders in "
                f"{currency} are limited by value ({self.kind}); give a limit price."
            )
        asked = plain_decimal(self.requested)
        if self.kind is LimitKind.MAX_ORDER_QUANTITY:
            return f"The quantity {asked} is above your limit of {limit} per order ({self.kind})."
        if self.kind is LimitKind.MAX_ORDER_VALUE:
            return (
                f"The order is worth {asked} {currency}, above your limit of {limit} {currency} "
                f"per order ({self.kind})."
            )
        return (
            f"With this order, your orders of the day are worth {asked} {currency}, above your "
            f"limit of {limit} {currency} a day ({self.kind})."
        )

    @property
    def field_error(self) -> FieldError:
        """The breach as a problem of the order's ``quantity`` (what brings it back within)."""
        return FieldError("quantity", self.message)

    def error(self) -> OrderLimitExceeded:
        return OrderLimitExceeded(
            self.message,
            limit=self.kind.value,
            currency=self.currency.code,
            maximum=self.limit,
            requested=self.requested,
            field="quantity",
        )


def check_order(
    limits: CurrencyLimits,
    currency: Currency,
    quantity: Decimal,
    value: Decimal | None,
    placed_today: Decimal,
) -> LimitBreach | None:
    """The first limit an order of ``quantity`` worth ``value`` breaks (quantity, then value,
    then the day: ``placed_today`` plus ``value``), or ``None``. An order exactly at a limit is
    within it; an order whose value is unknown breaks the first value limit that applies."""
    most = limits.max_order_quantity
    if most is not None and quantity > most:
        return LimitBreach(LimitKind.MAX_ORDER_QUANTITY, currency, most, quantity)
    for kind in (LimitKind.MAX_ORDER_VALUE, LimitKind.MAX_DAILY_VALUE):
        limit = limits.get(kind)
        if limit is None:
            continue
        if value is None:
            return LimitBreach(kind, currency, limit, None)
        asked = value if kind is LimitKind.MAX_ORDER_VALUE else placed_today + value
        if asked > limit:
            return LimitBreach(kind, currency, limit, asked)
    return None


def trading_day(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day holding ``now``: its first instant and the first of the next day."""
    start = ensure_utc(now, field="now").replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def placed_value(
    orders: Iterable[PlacedOrder], currency: Currency, *, leaving_out: UUID | None = None
) -> Decimal:
    """What ``orders`` (a user's orders of one day) count towards that day's limit in
    ``currency``: all but the ``rejected`` ones, each at its checked value, else quantity times
    its limit (else stop) price, else nothing. ``leaving_out`` is an order being modified: it
    counts as changed, not as it was."""
    return functools.reduce(
        ARITHMETIC.add,
        (
            counted_value(order.estimated_value, order.order_value)
            for order in orders
            if order.id != leaving_out
            and order.status is not OrderStatus.REJECTED
            and order.instrument.currency == currency
        ),
        Decimal(0),
    )


def counted_value(estimated_value: Decimal | None, priced_value: Decimal | None) -> Decimal:
    """What one counted order adds to its day: the value it was checked at, else
    ``priced_value`` (its quantity times its limit, else stop, price:
    ``PlacedOrder.order_value``), else nothing (a market order stored before values were
    recorded)."""
    if estimated_value is not None:
        return estimated_value
    return priced_value or Decimal(0)


def holding_room(order: PlacedOrder, value: Decimal | None) -> PlacedOrder:
    """``order`` while a modification worth ``value`` is at the broker: counted at ``value``
    when that is more than it counts now, so its day's total cannot be spent twice; unchanged
    when ``value`` is unknown or no larger."""
    if value is None or value <= counted_value(order.estimated_value, order.order_value):
        return order
    return replace(order, estimated_value=value)


def room_released(order: PlacedOrder, held: Decimal, before: Decimal | None) -> PlacedOrder:
    """``order`` once the broker refused the modification that held ``held``: counted at
    ``before`` again, unless something saved since (another modification) counts it otherwise."""
    if order.estimated_value != held or before == held:
        return order
    return replace(order, estimated_value=before)
