"""Password login (security.md LOCK-1, LOCK-2, ENUM-1, DOS-1, PW-1, SESS-1, AUD-1).

Rules:
- Only verified, active users with the right password get a session.
- Every failure — unknown address, wrong password, locked account, unverified or disabled
  account — raises the same ``AuthenticationFailed(code="invalid_credentials")`` after the same
  work (exactly one password verification: a dummy one when there is no hash to check), so
  neither the answer nor its timing tells them apart. The audit log records the real reason.
- Before any hashing: the password's size is bounded and the per-account-and-address limit
  (``login_account``: 5 per minute for one address from one client) is checked.
- A wrong password counts against the account's throttle in the database (LOCK-1), under a row
  lock so that concurrent failures each count; attempts while locked do not count, and even
  the right password fails until the lock ends.
- A success clears the throttle, upgrades an outdated hash (PW-1) and hands over to
  :class:`~dashcore.application.sign_in.SignIn`: a session, or first a second-factor
  challenge when the account has an authenticator app.
- No database transaction stays open while a password is hashed (hundreds of milliseconds):
  a login flood must not exhaust the connection pool or block SQLite's single writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.sign_in import LoginResult, SignIn, SignInRequest
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.email import canonical_email_key, email_fingerprint
from dashcore.domain.errors import AuthenticationFailed, InvalidInput, RateLimited
from dashcore.domain.mfa import AMR_PASSWORD
from dashcore.domain.passwords import normalise_password
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.sessions import check_device_label
from dashcore.domain.users import LockoutPolicy, User
from dashcore.ports.clock import Clock
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["LOGIN_ACCOUNT_POLICY", "Login", "LoginAttempt", "count_password_failure"]

LOGIN_ACCOUNT_POLICY = RatePolicy(name="login_account", limit=5, window=60)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    email: str
    password: str = field(repr=False)
    remember_me: bool = False
    device_label: str | None = None

    def __post_init__(self) -> None:
        check_device_label(self.device_label)


def _invalid_credentials() -> AuthenticationFailed:
    return AuthenticationFailed(
        "The email or password is wrong, or the account cannot log in yet.",
        code="invalid_credentials",
    )


class Login:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        sign_in: SignIn,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        *,
        lockout: LockoutPolicy | None = None,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._limiter = limiter
        self._sign_in = sign_in
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._lockout = lockout or LockoutPolicy()

    async def __call__(self, attempt: LoginAttempt, caller: CallerContext) -> LoginResult:
        password = normalise_password(attempt.password)
        try:
            email_key = canonical_email_key(attempt.email)
        except InvalidInput:
            email_key = attempt.email.casefold()
        decision = await self._limiter.hit(LOGIN_ACCOUNT_POLICY, f"{email_key}|{caller.ip}")
        if not decision.allowed:
            raise RateLimited(retry_after=decision.reset_after, policy=decision.policy)
        user = await self._users.get_by_email_key(email_key)
        await self._uow.rollback()  # hold no transaction (nor connection) while hashing
        now = self._clock.now()
        if user is None:
            await self._hasher.verify_dummy(password)
            await self._fail(caller, "unknown_account", fingerprint=email_fingerprint(email_key))
        if user.throttle.is_locked(now):
            await self._hasher.verify_dummy(password)
            await self._fail(caller, "account_locked", user=user)
        check = await self._hasher.verify(password, user.password_hash)
        if not check.valid:
            await self._count_failure(user, caller)
        upgraded = await self._hasher.hash(password) if check.needs_update else None
        verified_hash, user = user.password_hash, await self._fresh(user, caller)
        if not user.can_log_in:
            reason = "account_unverified" if not user.verified else "account_disabled"
            await self._fail(caller, reason, user=user)
        if upgraded is not None and user.password_hash == verified_hash:
            user.rehash_password(upgraded, now)
        user.record_login_success()
        await self._users.save(user)
        return await self._sign_in(
            SignInRequest(user, (AMR_PASSWORD,), attempt.remember_me, attempt.device_label),
            caller,
        )

    async def _fresh(self, user: User, caller: CallerContext) -> User:
        """The user as stored now: the copy read before hashing may be hundreds of
        milliseconds old, and saving it would undo a change made meanwhile (a disable, a
        password change)."""
        current = await self._users.get(user.id)
        if current is None:
            await self._fail(caller, "unknown_account", user=user)
        return current

    async def _count_failure(self, user: User, caller: CallerContext) -> NoReturn:
        await count_password_failure(
            self._users, user.id, self._lockout, self._audit, self._clock, caller
        )
        await self._fail(caller, "wrong_password", user=user)

    async def _fail(
        self,
        caller: CallerContext,
        reason: str,
        *,
        user: User | None = None,
        fingerprint: str | None = None,
    ) -> NoReturn:
        metadata: dict[str, str] = {"reason": reason}
        if fingerprint is not None:
            metadata["email_fingerprint"] = fingerprint
        await self._audit.record(
            "authn_login_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=None if user is None else f"user:{user.id}",
            metadata=metadata,
        )
        await self._uow.commit()
        raise _invalid_credentials()


async def count_password_failure(
    users: UserRepository,
    user_id: UUID,
    lockout: LockoutPolicy,
    audit: AuditTrail,
    clock: Clock,
    caller: CallerContext,
) -> None:
    """Count a wrong password against the account's LOCK-1 throttle, under the row lock, and
    audit the moment it locks. Leaves the commit to the caller."""
    throttle = await users.lock_throttle(user_id)
    if throttle is None:
        return
    now = clock.now()
    after = throttle.after_failure(now, lockout)
    await users.save_throttle(user_id, after)
    if after.is_locked(now) and not throttle.is_locked(now):
        await audit.record(
            "authn_login_lock",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"user:{user_id}",
            metadata={"failures": after.failures, "login_disabled": after.password_login_disabled},
        )
