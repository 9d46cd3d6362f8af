"""Registration and email verification (security.md REG-1, REG-2, PW-1..3, ENUM-1).

Rules:
- Registering answers the same way whether or not the address already has an account (no
  enumeration oracle, ENUM-1): the existing owner gets an "already registered" mail instead of
  a second account, and the password is hashed either way so timing matches.
- Mail that anonymous requests cause to one account (sign-ups of its address, verification
  resends) is capped at ``verification_account``, 3 an hour; beyond it nothing is sent and the
  request is audited ``rate_limited``. Found by QA: the "already registered" notice had no cap,
  so sign-ups from many addresses (10 an hour each) could flood a verified user's inbox.
- An account nobody has verified yet belongs to nobody: registering its address again replaces
  its password (and display name) and mails a new verification link, voiding the earlier ones,
  within the resend cap. Found by QA: a stranger who registered someone's address first kept
  their password, and once the owner verified from their inbox, the stranger could sign in to
  an account verified as the owner's. Now the owner's own sign-up takes the account back.
- The password passes the local policy, then the breach check (:class:`BreachedPasswordCheck`),
  before the address is looked up, so the answer and its timing do not depend on the address.
- A new account is unverified and cannot log in until the emailed token is presented
  **with the account's password**: the inbox proves the address, the password proves that the
  person at the inbox chose the password now in force. Found by QA: since a new sign-up
  replaces an unverified account's password, a stranger signing up after the owner had their
  password confirmed when the owner opened the newest link. A wrong password leaves the link
  usable, counts against the account's lockout (LOCK-1), is audited
  (``user_email_verification_refused``) and is ``Forbidden`` ``wrong_password``; the owner
  signs up again to take the account back. An email change's link needs no password (its
  owner proved it when asking for the change).
- Verification tokens: 32 random bytes, stored as SHA-256, single use, 1 h, bound to the
  address they were sent to; a resend voids the earlier ones. Resending never reveals whether the
  address exists (the HTTP layer answers before it runs, so not by its timing either: ENUM-1);
  at most ``verification_account`` (3 per hour) resends go to one account, so an unverified
  inbox cannot be bombed. Every resend request is audited, those that send nothing too.
- Mail goes through the outbox in the same transaction, so a mail outage never fails a request,
  and only ever to the stored address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.current_password import CurrentPassword
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email, email_fingerprint
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.passwords import PasswordPolicy
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "VERIFICATION_ACCOUNT_POLICY",
    "RegisterUser",
    "Registration",
    "ResendVerification",
    "VerifyEmail",
    "audit_nothing_sent",
]


VERIFICATION_ACCOUNT_POLICY = RatePolicy(name="verification_account", limit=3, window=3600)


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str = field(repr=False)
    display_name: str | None = None


class RegisterUser:
    def __init__(
        self,
        users: UserRepository,
        email_tokens: EmailTokens,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        breaches: BreachedPasswordCheck,
        notifications: Notifications,
        limiter: RateLimiter,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._users = users
        self._email_tokens = email_tokens
        self._hasher = hasher
        self._policy = policy
        self._breaches = breaches
        self._notifications = notifications
        self._limiter = limiter
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def __call__(self, registration: Registration, caller: CallerContext) -> None:
        """Create an unverified account and mail its verification link — or, if the address
        is taken, mail its owner instead. Returns nothing either way (ENUM-1)."""
        email = Email.given(registration.email)
        password = self._policy.check(registration.password)
        await self._breaches.refuse_breached(password, caller, purpose="registration")
        password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        user = User(
            id=self._ids.new_id(),
            email=email,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
            display_name=registration.display_name,
        )
        existing = await self._users.get_by_email_key(email.key)
        if existing is None:
            try:
                await self._create(user, caller)
                return
            except Conflict as conflict:
                if conflict.code != "users_email_taken":
                    raise
                await self._uow.rollback()
                existing = await self._users.get_by_email_key(email.key)
        if existing is None:
            return
        if not (await self._limiter.hit(VERIFICATION_ACCOUNT_POLICY, str(existing.id))).allowed:
            await self._audit.record(
                "authn_register_existing",
                caller=caller,
                outcome=AuditOutcome.FAILURE,
                target=f"user:{existing.id}",
                metadata={"reason": "rate_limited"},
            )
            await self._uow.commit()
        elif existing.is_unclaimed:
            await self._register_again(existing, registration, password_hash, caller)
        else:
            await self._notifications.already_registered(existing.email)
            await self._audit.record(
                "authn_register_existing",
                caller=caller,
                outcome=AuditOutcome.FAILURE,
                target=f"user:{existing.id}",
            )
            await self._uow.commit()

    async def _register_again(
        self, user: User, registration: Registration, password_hash: str, caller: CallerContext
    ) -> None:
        """The unverified account takes this registration's password; a new link is mailed."""
        now = self._clock.now()
        user.change_password(password_hash, now)
        user.rename(registration.display_name, now)
        await self._users.save(user)
        token = await self._email_tokens.issue(user, TokenPurpose.VERIFY_EMAIL)
        await self._notifications.verification(
            user.email, token.secret, expires_at=token.expires_at
        )
        await self._audit.record("user_registered_again", caller=caller, target=f"user:{user.id}")
        await self._uow.commit()

    async def _create(self, user: User, caller: CallerContext) -> None:
        await self._users.add(user)
        token = await self._email_tokens.issue(user, TokenPurpose.VERIFY_EMAIL)
        await self._notifications.verification(
            user.email, token.secret, expires_at=token.expires_at
        )
        await self._audit.record(
            "user_registered", caller=caller.with_actor(f"user:{user.id}"), target=f"user:{user.id}"
        )
        await self._uow.commit()


class VerifyEmail:
    """Redeems a mailed token: a registration's, with the account's password (the account
    becomes verified), or an email change's (the account switches to the proven address and
    the old address is told)."""

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

    async def __call__(self, token: str, caller: CallerContext, password: str | None) -> User:
        """``password`` is required for a registration's link and ignored for an email
        change's (see the module's rules)."""
        try:
            _, unverified = await self._email_tokens.peek(
                token, TokenPurpose.VERIFY_EMAIL, self._users
            )
        except InvalidInput:
            unverified = None
        if unverified is not None:
            await self._confirm_password(unverified, password, caller)
        now = self._clock.now()
        try:
            user = await self._email_tokens.redeem(token, TokenPurpose.VERIFY_EMAIL, self._users)
        except InvalidInput:
            user = await self._email_tokens.redeem(token, TokenPurpose.CHANGE_EMAIL, self._users)
            await self._refuse_a_taken_address(user, caller, now)
            old = user.confirm_email_change(now)
            await self._notifications.email_changed(old, user.email, at=now)
            action = "user_email_changed"
        else:
            user.mark_verified(now)
            action = "user_email_verified"
        await self._users.save(user)
        await self._audit.record(
            action, caller=caller.with_actor(f"user:{user.id}"), target=f"user:{user.id}"
        )
        await self._uow.commit()
        return user

    async def _confirm_password(
        self, user: User, password: str | None, caller: CallerContext
    ) -> None:
        if password is None:
            raise InvalidInput("Enter the password you chose when you signed up.", field="password")
        await self._current_password.check(
            user,
            password,
            caller,
            failure_action="user_email_verification_refused",
            message=(
                "This link confirms a sign-up made with another password. If you did not "
                "make it, sign up again with this address: that sets your password and mails "
                "you a new link."
            ),
        )

    async def _refuse_a_taken_address(
        self, user: User, caller: CallerContext, now: datetime
    ) -> None:
        """An address another account took since the change was asked for cannot become this
        account's: the change is dropped (the token is spent, the pending address cleared)
        and that is a ``Conflict`` ``email_taken``; the account keeps its address."""
        pending = user.pending_email
        holder = None if pending is None else await self._users.get_by_email_key(pending.key)
        if holder is None or holder.id == user.id:
            return
        user.drop_email_change(now)
        await self._users.save(user)
        await self._audit.record(
            "user_email_change_dropped",
            caller=caller.with_actor(f"user:{user.id}"),
            target=f"user:{user.id}",
            metadata={"reason": "email_taken"},
        )
        await self._uow.commit()
        raise Conflict(
            "That address now belongs to another account; this account keeps its address.",
            code="email_taken",
        )


class ResendVerification:
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
        """Mail a new link if the address belongs to an unverified account; otherwise send
        nothing. The caller cannot tell which happened."""
        user = await self._users.get_by_email_key(email.key)
        if user is None or user.verified:
            reason = "unknown_account" if user is None else "already_verified"
            await self._nothing_sent(email, caller, reason)
            return
        if not (await self._limiter.hit(VERIFICATION_ACCOUNT_POLICY, str(user.id))).allowed:
            await self._nothing_sent(email, caller, "rate_limited")
            return
        token = await self._email_tokens.issue(user, TokenPurpose.VERIFY_EMAIL)
        await self._notifications.verification(
            user.email, token.secret, expires_at=token.expires_at
        )
        await self._audit.record(
            "user_verification_resent", caller=caller, target=f"user:{user.id}"
        )
        await self._uow.commit()

    async def _nothing_sent(self, email: Email, caller: CallerContext, reason: str) -> None:
        await audit_nothing_sent(
            self._audit, self._uow, "user_verification_resent", email, caller, reason
        )


async def audit_nothing_sent(
    audit: AuditTrail,
    uow: UnitOfWork,
    action: str,
    email: Email,
    caller: CallerContext,
    reason: str,
) -> None:
    """Audit (and commit) a request for an address that mailed nothing, with why: the address
    only as a fingerprint, since it may belong to nobody (or be a password typed in the wrong
    field)."""
    await audit.record(
        action,
        caller=caller,
        outcome=AuditOutcome.DENIED,
        metadata={"reason": reason, "email_fingerprint": email_fingerprint(email.key)},
    )
    await uow.commit()
