"""The signed-in user's own account: read it, rename it, move it to another address.

An email change needs the current password; the new address is only pending until the token
mailed to it is redeemed (``VerifyEmail``), and the answer does not reveal whether the new
address already belongs to someone (nothing is sent then).
"""

from __future__ import annotations

from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import AuthenticationFailed, Forbidden
from dashcore.domain.passwords import normalise_password
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["ChangeEmail", "GetProfile", "UpdateProfile"]


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


class ChangeEmail:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        hasher: PasswordHasher,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._hasher = hasher
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, user_id: UUID, *, new_email: str, current_password: str, caller: CallerContext
    ) -> User:
        email = Email(new_email)
        user = await _current(self._users, user_id)
        check = await self._hasher.verify(normalise_password(current_password), user.password_hash)
        if not check.valid:
            raise Forbidden("The current password is wrong.", code="wrong_password")
        user.request_email_change(email, self._clock.now())
        await self._users.save(user)
        if await self._users.get_by_email_key(email.key) is None:
            secret = await self._email_tokens.issue(user, TokenPurpose.CHANGE_EMAIL)
            await self._notifications.verification(email, secret)
        await self._audit.record(
            "user_email_change_requested", caller=caller, target=f"user:{user.id}"
        )
        await self._uow.commit()
        return user
