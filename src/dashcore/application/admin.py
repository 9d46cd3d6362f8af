"""Administration of accounts: list users, disable/enable, subscription plans, the first admin.

Rules:
- Only admins call these (the entrypoint checks the role; the use cases trust their caller).
- Disabling an account ends every session at once (its access tokens stop within a second
  on every API process), voids every link mailed to it (password reset, verification, email
  change: none works again after the account is enabled) and tells the owner; an admin
  cannot disable their own account, so the last admin cannot lock everyone out by mistake.
- Plans are free-form names (``pro``, ``premium``) that entitlement checks compare against.
- Every change is audited with the admin as the actor.
- ``CreateAdmin`` (the ``dashcore users create-admin`` command) creates a verified admin
  account, or promotes an existing account, with a password checked like any new one (local
  policy, then the breach check). Promoting sets the password as a reset would: every session of
  the account ends (a holder of an old session must not become an administrator at its next
  refresh), mailed reset links die, and the owner is told the password changed. It is the
  operator's way in, so a disabled account it names is enabled again.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.application.passwords import set_password
from dashcore.application.sessions import Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.passwords import PasswordPolicy
from dashcore.domain.sessions import RevocationReason
from dashcore.domain.users import User, UserStatus
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["CreateAdmin", "ListUsers", "ManageUser"]

MAX_PAGE = 200


class ListUsers:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def __call__(self, *, after: UUID | None, limit: int) -> Sequence[User]:
        return await self._users.page(after=after, limit=max(1, min(limit, MAX_PAGE)))


class ManageUser:
    def __init__(
        self,
        users: UserRepository,
        sessions: Sessions,
        email_tokens: EmailTokens,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._email_tokens = email_tokens
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def _load(self, user_id: UUID) -> User:
        user = await self._users.get(user_id)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        return user

    async def get(self, user_id: UUID) -> User:
        return await self._load(user_id)

    async def disable(self, user_id: UUID, caller: CallerContext) -> User:
        user = await self._load(user_id)
        if caller.actor == f"user:{user.id}":
            raise Conflict("Administrators cannot disable themselves.", code="cannot_disable_self")
        now = self._clock.now()
        if user.status is not UserStatus.DISABLED:
            user.disable(now)
            await self._users.save(user)
            await self._sessions.end_all(
                user.id, reason=RevocationReason.ACCOUNT_DISABLED, caller=caller
            )
            for purpose in TokenPurpose:
                await self._email_tokens.void(user, purpose)
            await self._notifications.account_disabled(user.email, at=now)
            await self._audit.record("admin_user_disabled", caller=caller, target=f"user:{user.id}")
            await self._uow.commit()
        return user

    async def enable(self, user_id: UUID, caller: CallerContext) -> User:
        user = await self._load(user_id)
        if user.status is not UserStatus.ACTIVE:
            user.enable(self._clock.now())
            await self._users.save(user)
            await self._audit.record("admin_user_enabled", caller=caller, target=f"user:{user.id}")
            await self._uow.commit()
        return user

    async def grant_plan(self, user_id: UUID, plan: str, caller: CallerContext) -> User:
        user = await self._load(user_id)
        user.grant_plan(plan, self._clock.now())
        await self._users.save(user)
        await self._audit.record(
            "admin_plan_granted", caller=caller, target=f"user:{user.id}", metadata={"plan": plan}
        )
        await self._uow.commit()
        return user

    async def revoke_plan(self, user_id: UUID, caller: CallerContext) -> User:
        user = await self._load(user_id)
        previous = user.plan
        if previous is None:  # nothing to revoke: nothing changes, nothing is audited
            return user
        user.revoke_plan(self._clock.now())
        await self._users.save(user)
        await self._audit.record(
            "admin_plan_revoked",
            caller=caller,
            target=f"user:{user.id}",
            metadata={"plan": previous},
        )
        await self._uow.commit()
        return user


class CreateAdmin:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        breaches: BreachedPasswordCheck,
        sessions: Sessions,
        email_tokens: EmailTokens,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._policy = policy
        self._breaches = breaches
        self._sessions = sessions
        self._email_tokens = email_tokens
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def __call__(self, address: str, password: str, caller: CallerContext) -> User:
        """A verified admin with this address and password; an existing account with the
        address is promoted and gets the new password."""
        email = Email.given(address)
        new_password = self._policy.check(password)
        await self._breaches.refuse_breached(new_password, caller, purpose="admin_creation")
        password_hash = await self._hasher.hash(new_password)
        now = self._clock.now()
        user = await self._users.get_by_email_key(email.key)
        if user is None:
            user = User(
                id=self._ids.new_id(),
                email=email,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
                verified=True,
            )
            user.promote_to_admin(now)
            await self._users.add(user)
        else:
            await self._promote(user, password_hash, caller)
        await self._audit.record("admin_created", caller=caller, target=f"user:{user.id}")
        await self._uow.commit()
        return user

    async def _promote(self, user: User, password_hash: str, caller: CallerContext) -> None:
        now = self._clock.now()
        user.mark_verified(now)
        user.promote_to_admin(now)
        if user.status is UserStatus.DISABLED:
            user.enable(now)
            await self._audit.record("admin_user_enabled", caller=caller, target=f"user:{user.id}")
        await set_password(user, password_hash, self._users, self._email_tokens, self._clock)
        await self._sessions.end_all(
            user.id, reason=RevocationReason.PASSWORD_CHANGED, caller=caller
        )
        await self._notifications.password_changed(user.email, at=now)
