"""A user's own order limits in SQL (security.md ORD-3): one row per user and currency, each
limit a nullable exact decimal (NULL: the deployment's default holds). ``replace`` deletes the
user's rows and inserts the new set in the current unit of work."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, insert, select

from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits, OrderLimits
from dashcore.ports.order_limits import OrderLimitRepository
from dashcore_sql.tables import order_limits
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlOrderLimitRepository"]

_limits = order_limits.c


class SqlOrderLimitRepository(OrderLimitRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID) -> OrderLimits:
        rows = await self._uow.execute(select(order_limits).where(_limits.user_id == user_id))
        return OrderLimits(
            {
                Currency(row.currency): CurrencyLimits(
                    row.max_order_value, row.max_order_quantity, row.max_daily_value
                )
                for row in rows
            }
        )

    async def replace(self, user_id: UUID, limits: OrderLimits) -> None:
        await self._uow.execute(delete(order_limits).where(_limits.user_id == user_id))
        if limits.by_currency:
            await self._uow.execute(
                insert(order_limits),
                [
                    {
                        "user_id": user_id,
                        "currency": currency.code,
                        "max_order_value": each.max_order_value,
                        "max_order_quantity": each.max_order_quantity,
                        "max_daily_value": each.max_daily_value,
                    }
                    for currency, each in limits.by_currency.items()
                ],
            )
