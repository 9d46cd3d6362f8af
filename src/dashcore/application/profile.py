"""The signed-in user's own account: read it, rename it, move it to another address.

Reads come from a short-lived per-process snapshot (``ProfileCache``, 2 s): the profile is
read on every ``GET /auth/me`` and every plan check, and must not cost a database round trip
each time. A write in this process forgets the snapshot at once (``ForgetfulUsers``); a write
in another process shows here within the snapshot's lifetime.

An email change needs the current password; the new address is only pending until the token
mailed to it is redeemed (``VerifyEmail``), and the answer does not reveal whether the new
address already belongs to someone (nothing is sent then).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.current_password import CurrentPassword
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.users import LoginThrottle, User
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import ProfileCache, UserDirectory, UserRepository

__all__ = ["ChangeEmail", "ForgetfulUsers", "GetProfile", "UpdateProfile"]


async def _current(users: UserRepository, user_id: UUID) -> User:
    """The caller's account; a token for an account that is gone or disabled is not valid."""
    user = await users.get(user_id)
    if user is None or not user.can_log_in:
        raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
    return user


class GetProfile:
    """The caller's account, from a recent snapshot when there is one (``ProfileCache``).

    Process-wide (it needs no request's unit of work): a cache hit costs a dict look-up.
    The user it returns is a shared snapshot: read it, never change it.
    """

    def __init__(self, users: UserDirectory, cache: ProfileCache) -> None:
        self._users = users
        self._cache = cache

    async def __call__(self, user_id: UUID) -> User:
        user = self._cache.get(user_id)
        if user is None:
            user = await self._users.get(user_id)
            if user is not None:
                self._cache.put(user)
        if user is None or not user.can_log_in:
            raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
        return user


class ForgetfulUsers(UserRepository):
    """A user repository that drops the cached snapshot of every user it writes, so that
    this process never serves a profile older than its own last write."""

    def __init__(self, inner: UserRepository, cache: ProfileCache) -> None:
        self._inner = inner
        self._cache = cache

    async def add(self, user: User) -> None:
        self._cache.forget(user.id)
        await self._inner.add(user)

    async def get(self, user_id: UUID) -> User | None:
        return await self._inner.get(user_id)

    async def get_by_email_key(self, email_key: str) -> User | None:
        return await self._inner.get_by_email_key(email_key)

    async def save(self, user: User) -> None:
        self._cache.forget(user.id)
        await self._inner.save(user)

    async def lock_throttle(self, user_id: UUID) -> LoginThrottle | None:
        return await self._inner.lock_throttle(user_id)

    async def save_throttle(self, user_id: UUID, throttle: LoginThrottle) -> None:
        await self._inner.save_throttle(user_id, throttle)

    async def page(self, *, after: UUID | None, limit: int) -> Sequence[User]:
        return await self._inner.page(after=after, limit=limit)

    async def count_admins(self) -> int:
        return await self._inner.count_admins()


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


class ChangeEmail:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        current_password: CurrentPassword,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._current_password = current_password
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, user_id: UUID, *, new_email: str, current_password: str, caller: CallerContext
    ) -> User:
        email = Email.given(new_email)
        user = await _current(self._users, user_id)
        await self._current_password.check(
            user,
            current_password,
            caller,
            failure_action="user_email_change_failed",
            message="The current password is wrong.",
        )
        user = await _current(self._users, user_id)  # as stored now, not as before hashing
        user.request_email_change(email, self._clock.now())
        await self._users.save(user)
        if await self._users.get_by_email_key(email.key) is None:
            token = await self._email_tokens.issue(user, TokenPurpose.CHANGE_EMAIL)
            await self._notifications.confirm_new_email(
                email, token.secret, expires_at=token.expires_at
            )
        await self._audit.record(
            "user_email_change_requested", caller=caller, target=f"user:{user.id}"
        )
        await self._uow.commit()
        return user
