"""Password reset and password change (security.md RESET-1, PW-2..4, NOTIF-1).

Rules:
- Asking for a reset never reveals whether the address has an account: the answer is always
  the same (the HTTP layer answers before this runs, so the timing is too: ENUM-1) and mail
  goes only to the stored address of an active account. At most ``reset_account`` (3 per hour)
  reset mails go to one account; extra requests are dropped, so the inbox cannot be bombed.
  Every request is audited, those that send nothing too (with a fingerprint of the address).
- A reset token is random, stored hashed, single use and valid for 30 minutes; it dies with
  any password change. Checking a token does not consume it.
- A new password passes the local policy, then the breach check (:class:`BreachedPasswordCheck`);
  a reset asks the breach service only once its token has proved valid.
- Completing a reset checks the token first (a dead link is ``invalid_token`` whatever the
  password), then sets the new password (policy-checked), clears the lockout, ends every
  session, notifies the owner and does not log anyone in. A reset does not bypass the
  authenticator app (RESET-2): with one active, completing needs its code or a recovery code
  as well (403 ``second_factor_required`` without, 403 ``wrong_code`` for a wrong one, counted
  against the factor); checking the token tells the client whether it will.
- Changing the password needs the current one; it ends every other session and notifies.
"""

from __future__ import annotations

from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.current_password import CurrentPassword
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.application.registration import audit_nothing_sent
from dashcore.application.second_factor import SecondFactorProof, SecondFactors
from dashcore.application.sessions import Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import AuthenticationFailed, Forbidden
from dashcore.domain.passwords import PasswordPolicy
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.sessions import RevocationReason, SessionId
from dashcore.domain.users import User, UserStatus
from dashcore.ports.clock import Clock
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "RESET_ACCOUNT_POLICY",
    "ChangePassword",
    "CheckPasswordReset",
    "CompletePasswordReset",
    "RequestPasswordReset",
]

RESET_ACCOUNT_POLICY = RatePolicy(name="reset_account", limit=3, window=3600)


class RequestPasswordReset:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        notifications: Notifications,
        limiter: RateLimiter,
        audit: AuditTrail,
        uow: UnitOfWork,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._notifications = notifications
        self._limiter = limiter
        self._audit = audit
        self._uow = uow

    async def __call__(self, email: Email, caller: CallerContext) -> None:
        """Mail a reset link to the account of ``email`` if there is an active one."""
        user = await self._users.get_by_email_key(email.key)
        if user is None or user.status is not UserStatus.ACTIVE:
            reason = "unknown_account" if user is None else "account_inactive"
            await self._nothing_sent(email, caller, reason)
            return
        decision = await self._limiter.hit(RESET_ACCOUNT_POLICY, str(user.id))
        if not decision.allowed:
            await self._nothing_sent(email, caller, "rate_limited")
            return
        token = await self._email_tokens.issue(user, TokenPurpose.PASSWORD_RESET)
        await self._notifications.password_reset(
            user.email, token.secret, expires_at=token.expires_at
        )
        await self._audit.record(
            "password_reset_requested", caller=caller, target=f"user:{user.id}"
        )
        await self._uow.commit()

    async def _nothing_sent(self, email: Email, caller: CallerContext, reason: str) -> None:
        await audit_nothing_sent(
            self._audit, self._uow, "password_reset_requested", email, caller, reason
        )


class CheckPasswordReset:
    def __init__(
        self, users: UserRepository, email_tokens: EmailTokens, second_factors: SecondFactors
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._second_factors = second_factors

    async def __call__(self, token: str) -> bool:
        """Whether completing the reset will need a second factor, if the token can still
        reset a password; ``InvalidInput(invalid_token)`` otherwise. Not consumed."""
        _, user = await self._email_tokens.peek(token, TokenPurpose.PASSWORD_RESET, self._users)
        return await self._second_factors.active_factor(user.id) is not None


class CompletePasswordReset:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        breaches: BreachedPasswordCheck,
        sessions: Sessions,
        second_factors: SecondFactors,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._hasher = hasher
        self._policy = policy
        self._breaches = breaches
        self._sessions = sessions
        self._second_factors = second_factors
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self,
        token: str,
        new_password: str,
        caller: CallerContext,
        *,
        second_factor: SecondFactorProof | None = None,
    ) -> None:
        _, holder = await self._email_tokens.peek(token, TokenPurpose.PASSWORD_RESET, self._users)
        password = self._policy.check(new_password)
        await self._breaches.refuse_breached(
            password, caller, purpose="password_reset", target=f"user:{holder.id}"
        )
        if await self._second_factors.active_factor(holder.id) is not None:
            await self._check_second_factor(holder, second_factor, caller)
        # Keep what the check spent (the code's step or the recovery code, its audit and mail)
        # and hold no transaction while hashing.
        await self._uow.commit()
        password_hash = await self._hasher.hash(password)
        user = await self._email_tokens.redeem(token, TokenPurpose.PASSWORD_RESET, self._users)
        caller = caller.with_actor(f"user:{user.id}")
        await set_password(user, password_hash, self._users, self._email_tokens, self._clock)
        await self._sessions.end_all(
            user.id, reason=RevocationReason.PASSWORD_CHANGED, caller=caller
        )
        await self._notifications.password_changed(user.email, at=self._clock.now())
        await self._audit.record(
            "password_reset_completed", caller=caller, target=f"user:{user.id}"
        )
        await self._uow.commit()

    async def _check_second_factor(
        self, user: User, proof: SecondFactorProof | None, caller: CallerContext
    ) -> None:
        if proof is None:
            raise Forbidden(
                "This account has an authenticator app: give its code or a recovery code.",
                code="second_factor_required",
            )
        caller = caller.with_actor(f"user:{user.id}")
        if await self._second_factors.verify(user, proof, caller, purpose="password_reset") is None:
            raise Forbidden("The code is not valid.", code="wrong_code")


class ChangePassword:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        hasher: PasswordHasher,
        current_password: CurrentPassword,
        policy: PasswordPolicy,
        breaches: BreachedPasswordCheck,
        sessions: Sessions,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._hasher = hasher
        self._current_password = current_password
        self._policy = policy
        self._breaches = breaches
        self._sessions = sessions
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self,
        user_id: UUID,
        session_id: str,
        *,
        current_password: str,
        new_password: str,
        caller: CallerContext,
    ) -> None:
        """A wrong current password is ``Forbidden(wrong_password)`` and counts against the
        account's lockout (:class:`CurrentPassword`): the caller is signed in, so it is not an
        authentication failure that should sign them out."""
        password = self._policy.check(new_password)
        await self._breaches.refuse_breached(
            password, caller, purpose="password_change", target=f"user:{user_id}"
        )
        user = await self._users.get(user_id)
        if user is None or not user.can_log_in:
            raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
        await self._current_password.check(
            user,
            current_password,
            caller,
            failure_action="password_change_failed",
            message="The current password is wrong.",
        )
        password_hash = await self._hasher.hash(password)
        user = await self._users.get(user_id) or user  # as stored now, not as before hashing
        await set_password(user, password_hash, self._users, self._email_tokens, self._clock)
        await self._sessions.end_all(
            user.id,
            reason=RevocationReason.PASSWORD_CHANGED,
            caller=caller,
            except_session_id=SessionId(session_id),
        )
        await self._notifications.password_changed(user.email, at=self._clock.now())
        await self._audit.record("password_changed", caller=caller, target=f"user:{user.id}")
        await self._uow.commit()


async def set_password(
    user: User, password_hash: str, users: UserRepository, email_tokens: EmailTokens, clock: Clock
) -> None:
    """Store the new hash, clear the lockout and void every outstanding reset token (a reset,
    a change, and an operator's ``create-admin`` on an existing account alike)."""
    user.change_password(password_hash, clock.now())
    await users.save(user)
    await email_tokens.void(user, TokenPurpose.PASSWORD_RESET)
