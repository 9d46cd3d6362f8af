"""A user's own order limits in memory (embedded default, fast tests): one entry per user,
replaced whole, as the SQL adapter replaces the user's rows."""

from __future__ import annotations

from uuid import UUID

from dashcore.domain.order_limits import OrderLimits
from dashcore.ports.order_limits import OrderLimitRepository
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryOrderLimitRepository"]

ORDER_LIMITS = "order_limits"


class MemoryOrderLimitRepository(OrderLimitRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID) -> OrderLimits:
        limits: OrderLimits | None = self._uow.get(ORDER_LIMITS, user_id)
        return OrderLimits() if limits is None else limits

    async def replace(self, user_id: UUID, limits: OrderLimits) -> None:
        if limits.by_currency:
            self._uow.put(ORDER_LIMITS, user_id, limits)
        else:
            self._uow.delete(ORDER_LIMITS, user_id)
