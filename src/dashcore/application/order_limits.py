"""Order limits: fat-finger protection (security.md ORD-3). The rules are in
:mod:`dashcore.domain.order_limits`; here they are applied and administered.

- The limits in force for a user are the deployment's defaults (``DASHCORE_ORDER_MAX_*``)
  overridden, limit by limit and currency by currency, by the user's own.
- Placing, modifying (the order as changed) and previewing an order check them before the
  broker is called and before anything is stored: a placement refused by a limit leaves no
  idempotency record, so the same request with the same key goes through once the limit is
  raised. Placing and modifying refuse a breach (``OrderLimitExceeded``, 422
  ``order_limit_exceeded``); a preview lists it among its problems.
- The day's total is read from the user's orders in one query, under the user's lock
  (``OrderRepository.value_placed``) held until the order placed or the room a modification
  holds is committed: orders of one user placed or grown at the same instant are checked one
  after the other, and cannot pass the daily limit together.
- An administrator sets a user's own limits, any of them up or down (the entrypoint checks the
  role), audited ``admin_order_limits_set`` with the limits before and after.
- A user reads the limits in force and may *lower* them (a self-imposed cap): each limit they
  set must be at most the one in force now (``Forbidden`` ``order_limit_raise_needs_admin``
  otherwise, and nothing changes); what they leave out stays as it is. Only an administrator
  raises a limit again. Audited ``order_limits_lowered`` with the limits before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Forbidden, NotFound
from dashcore.domain.money import Currency, plain_decimal
from dashcore.domain.order_limits import (
    LimitBreach,
    LimitKind,
    OrderLimits,
    check_order,
    trading_day,
)
from dashcore.domain.trading import PlacedOrder
from dashcore.ports.clock import Clock
from dashcore.ports.order_limits import OrderLimitRepository
from dashcore.ports.trading import OrderRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "DefaultOrderLimits",
    "LowerOrderLimits",
    "ManageOrderLimits",
    "OrderLimitGate",
    "UserOrderLimits",
]


@dataclass(frozen=True, slots=True)
class DefaultOrderLimits:
    """The deployment's limits, from the settings; a user's own replace them one by one."""

    limits: OrderLimits


@dataclass(frozen=True, slots=True)
class UserOrderLimits:
    """A user's own limits and the limits in force for them."""

    own: OrderLimits
    effective: OrderLimits


class OrderLimitGate:
    """Checks an order against the limits in force for its user."""

    def __init__(
        self,
        defaults: DefaultOrderLimits,
        limits: OrderLimitRepository,
        orders: OrderRepository,
        clock: Clock,
    ) -> None:
        self._defaults = defaults
        self._limits = limits
        self._orders = orders
        self._clock = clock

    async def limits_of(self, user_id: UUID) -> UserOrderLimits:
        """The user's own limits and the limits in force for them (what they may read)."""
        own = await self._limits.get(user_id)
        return UserOrderLimits(own, self._defaults.limits.overridden_by(own))

    async def breach(
        self,
        user_id: UUID,
        currency: Currency,
        quantity: Decimal,
        value: Decimal | None,
        *,
        replacing: PlacedOrder | None = None,
    ) -> LimitBreach | None:
        """The limit an order of ``quantity`` worth ``value`` (``None``: unknown) would break,
        or ``None``. ``replacing`` is the order a modification changes: its day is the day it
        was placed, and it counts there as changed, not as it was."""
        limits = (await self.limits_of(user_id)).effective.of(currency)
        placed_today = Decimal(0)
        if limits.max_daily_value is not None and value is not None:
            day = replacing.created_at if replacing is not None else self._clock.now()
            placed_today = await self._orders.value_placed(
                user_id,
                currency,
                trading_day(day),
                leaving_out=None if replacing is None else replacing.id,
            )
        return check_order(limits, currency, quantity, value, placed_today)

    async def check(
        self,
        user_id: UUID,
        currency: Currency,
        quantity: Decimal,
        value: Decimal | None,
        *,
        replacing: PlacedOrder | None = None,
    ) -> None:
        """:meth:`breach`, raised (``OrderLimitExceeded``)."""
        found = await self.breach(user_id, currency, quantity, value, replacing=replacing)
        if found is not None:
            raise found.error()


class ManageOrderLimits:
    """An administrator reads and sets a user's own limits."""

    def __init__(
        self,
        users: UserRepository,
        limits: OrderLimitRepository,
        gate: OrderLimitGate,
        audit: AuditTrail,
        uow: UnitOfWork,
    ) -> None:
        self._users = users
        self._limits = limits
        self._gate = gate
        self._audit = audit
        self._uow = uow

    async def get(self, user_id: UUID) -> UserOrderLimits:
        await self._existing(user_id)
        return await self._gate.limits_of(user_id)

    async def set(
        self, user_id: UUID, limits: OrderLimits, caller: CallerContext
    ) -> UserOrderLimits:
        """Make ``limits`` the user's own limits (all of them: what is left out falls back to
        the default), audited with the limits before and after."""
        await self._existing(user_id)
        before = await self._limits.get(user_id)
        await self._limits.replace(user_id, limits)
        await self._audit.record(
            "admin_order_limits_set",
            caller=caller,
            target=f"user:{user_id}",
            metadata={"old": before.describe(), "new": limits.describe()},
        )
        await self._uow.commit()
        return await self._gate.limits_of(user_id)

    async def _existing(self, user_id: UUID) -> None:
        if await self._users.get(user_id) is None:
            raise NotFound("No such user.", code="user_not_found")


class LowerOrderLimits:
    """A user lowers their own limits; only an administrator raises one."""

    def __init__(
        self,
        limits: OrderLimitRepository,
        gate: OrderLimitGate,
        audit: AuditTrail,
        uow: UnitOfWork,
    ) -> None:
        self._limits = limits
        self._gate = gate
        self._audit = audit
        self._uow = uow

    async def __call__(
        self, user_id: UUID, lower: OrderLimits, caller: CallerContext
    ) -> UserOrderLimits:
        """Each limit of ``lower`` takes the place of the one in force, none above it (no
        limit in force: any value is lower); limits not in ``lower`` stay as they are."""
        current = await self._gate.limits_of(user_id)
        for currency, asked in lower.by_currency.items():
            in_force = current.effective.of(currency)
            for kind in LimitKind:
                wanted, now = asked.get(kind), in_force.get(kind)
                if wanted is not None and now is not None and wanted > now:
                    raise Forbidden(
                        f"Only an administrator raises a limit: your {kind} in {currency} is "
                        f"{plain_decimal(now)}.",
                        code="order_limit_raise_needs_admin",
                    )
        own = current.own.overridden_by(lower)
        await self._limits.replace(user_id, own)
        await self._audit.record(
            "order_limits_lowered",
            caller=caller,
            target=f"user:{user_id}",
            metadata={"old": current.own.describe(), "new": own.describe()},
        )
        await self._uow.commit()
        return await self._gate.limits_of(user_id)
