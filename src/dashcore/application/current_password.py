"""Checking a signed-in account's password before a sensitive step (security.md LOCK-1, AUD-1).

Rules, the same for a step-up, a password change and an email change:
- No transaction is open while the password is hashed (hundreds of milliseconds).
- A locked account fails without checking the password (a dummy verification keeps the
  timing), and even the right password fails until the lock ends, as at login. Unlike login,
  the caller is told (``RateLimited`` ``account_locked`` with the seconds left, 429): they are
  signed in already, so this reveals nothing, and "the password is wrong" for the right one
  would only send them looking for another.
- A wrong password counts against the account's throttle (LOCK-1) as a wrong login does, so
  a session cannot be used to guess the password without bound.
- Every refusal is audited under the step's own action with its reason (``wrong_password``,
  ``account_locked``) and committed; a wrong password is ``Forbidden`` ``wrong_password``. The
  caller stays signed in.
"""

from __future__ import annotations

from typing import NoReturn

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.login import count_password_failure
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Forbidden, RateLimited
from dashcore.domain.passwords import normalise_password
from dashcore.domain.time import seconds_until
from dashcore.domain.users import LockoutPolicy, User
from dashcore.ports.clock import Clock
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["CurrentPassword"]


class CurrentPassword:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        lockout: LockoutPolicy,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._lockout = lockout
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def check(
        self,
        user: User,
        password: str,
        caller: CallerContext,
        *,
        failure_action: str,
        message: str = "The password is wrong.",
    ) -> None:
        """Return if ``password`` is ``user``'s; else count, audit ``failure_action``, commit
        and raise ``Forbidden(message)``. Ends any transaction the caller had open."""
        password = normalise_password(password)
        await self._uow.rollback()  # no transaction open while hashing
        now = self._clock.now()
        if user.throttle.is_locked(now):
            await self._hasher.verify_dummy(password)
            await self._audit_refusal(user, caller, failure_action, "account_locked")
            locked_until = user.throttle.locked_until
            assert locked_until is not None  # is_locked
            raise RateLimited(
                "Too many wrong passwords: this account is locked for a while.",
                retry_after=seconds_until(locked_until, now),
                code="account_locked",
            )
        if not (await self._hasher.verify(password, user.password_hash)).valid:
            await count_password_failure(
                self._users, user.id, self._lockout, self._audit, self._clock, caller
            )
            await self._refuse(user, caller, failure_action, "wrong_password", message)

    async def _refuse(
        self, user: User, caller: CallerContext, action: str, reason: str, message: str
    ) -> NoReturn:
        await self._audit_refusal(user, caller, action, reason)
        raise Forbidden(message, code="wrong_password")

    async def _audit_refusal(
        self, user: User, caller: CallerContext, action: str, reason: str
    ) -> None:
        await self._audit.record(
            action,
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"user:{user.id}",
            metadata={"reason": reason},
        )
        await self._uow.commit()
