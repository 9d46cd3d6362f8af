"""The signed-in user's own account: read it, rename it."""

from __future__ import annotations

from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["GetProfile", "UpdateProfile"]


async def _current(users: UserRepository, user_id: UUID) -> User:
    """The caller's account; a token for an account that is gone or disabled is not valid."""
    user = await users.get(user_id)
    if user is None or not user.can_log_in:
        raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
    return user


class GetProfile:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def __call__(self, user_id: UUID) -> User:
        return await _current(self._users, user_id)


class UpdateProfile:
    def __init__(
        self, users: UserRepository, audit: AuditTrail, uow: UnitOfWork, clock: Clock
    ) -> None:
        self._users = users
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, user_id: UUID, *, display_name: str | None, caller: CallerContext
    ) -> User:
        user = await _current(self._users, user_id)
        user.rename(display_name, self._clock.now())
        await self._users.save(user)
        await self._audit.record("user_profile_updated", caller=caller, target=f"user:{user.id}")
        await self._uow.commit()
        return user
