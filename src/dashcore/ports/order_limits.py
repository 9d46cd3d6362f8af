"""Port of a user's own order limits (security.md ORD-3): the limits an administrator set for
one user, which replace the deployment's defaults limit by limit."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from dashcore.domain.order_limits import OrderLimits

__all__ = ["OrderLimitRepository"]


class OrderLimitRepository(Protocol):
    async def get(self, user_id: UUID) -> OrderLimits:
        """The user's own limits; empty when none were set."""
        ...

    async def replace(self, user_id: UUID, limits: OrderLimits) -> None:
        """Make ``limits`` the user's own limits, all of them: a currency or a limit not in
        ``limits`` falls back to the default. Written in the current unit of work."""
        ...
