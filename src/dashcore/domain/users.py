"""Users: who can log in, what they may do, and how hard we make guessing their password.

Rules:
- A user is identified by an email address (stored as given, unique by its canonical key,
  security.md REG-2) and a UUIDv7 id. A new address is only *pending* until proven by the
  token mailed to it; until then the account keeps (and logs in with) the old one.
- Only *verified*, *active* users log in. A disabled user keeps its data but every session is
  revoked and no new one starts.
- ``role`` is ``user`` or ``admin``; ``plan`` is the subscription plan (``None`` = free) that
  entitlement guards read.
- Password guessing (LOCK-1) is slowed per account by :class:`LoginThrottle`, kept with the user
  in the database (Redis would be only a cache): after 5 consecutive failures the account is
  locked for 1 minute, each further failure doubles the lock up to 15 minutes, failures made
  while locked do not count, 12 hours without a failure forget the count, a success clears it,
  and 100 consecutive failures switch password login off until the password is reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from dashcore.domain.email import Email
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.time import ensure_utc

__all__ = [
    "DISPLAY_NAME_MAX",
    "LockoutPolicy",
    "LoginThrottle",
    "Role",
    "User",
    "UserStatus",
]

DISPLAY_NAME_MAX = 100


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """The LOCK-1 schedule. Defaults are security.md's."""

    threshold: int = 5
    first_lock: timedelta = timedelta(minutes=1)
    max_lock: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=12)
    disable_after: int = 100

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.disable_after < self.threshold:
            raise ValueError("need 1 <= threshold <= disable_after")
        if not timedelta(0) < self.first_lock <= self.max_lock:
            raise ValueError("need 0 < first_lock <= max_lock")

    def lock_period(self, failures: int) -> timedelta:
        """How long the ``failures``-th consecutive failure locks the account (0 below the
        threshold); doubling from ``first_lock``, capped at ``max_lock`` (no overflow for any
        count)."""
        if failures < self.threshold:
            return timedelta(0)
        doublings = failures - self.threshold
        if doublings >= 32:
            return self.max_lock
        return min(self.first_lock * (1 << doublings), self.max_lock)


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Consecutive password failures of one account and the lock they earned."""

    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None
    password_login_disabled: bool = False

    def is_locked(self, now: datetime) -> bool:
        if self.password_login_disabled:
            return True
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, policy: LockoutPolicy) -> LoginThrottle:
        """The throttle after a wrong password at ``now``; unchanged while locked (attempts
        during a lock do not count, so an attacker cannot extend it forever)."""
        if self.is_locked(now):
            return self
        failures = self.failures
        if self.last_failure_at is not None and now - self.last_failure_at > policy.forget_after:
            failures = 0
        failures += 1
        period = policy.lock_period(failures)
        return LoginThrottle(
            failures=failures,
            last_failure_at=now,
            locked_until=now + period if period else None,
            password_login_disabled=failures >= policy.disable_after,
        )


@dataclass(slots=True)
class User:
    """An account. Change it through the methods: they keep the invariants."""

    id: UUID
    email: Email
    password_hash: str = field(repr=False)
    created_at: datetime
    updated_at: datetime
    verified: bool = False
    role: Role = Role.USER
    status: UserStatus = UserStatus.ACTIVE
    plan: str | None = None
    display_name: str | None = None
    pending_email: Email | None = None
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def __post_init__(self) -> None:
        ensure_utc(self.created_at)
        ensure_utc(self.updated_at)
        if self.display_name is not None:
            self.display_name = _display_name(self.display_name)

    @property
    def can_log_in(self) -> bool:
        return self.verified and self.status is UserStatus.ACTIVE

    def mark_verified(self, now: datetime) -> None:
        self.verified = True
        self.updated_at = now

    def change_password(self, password_hash: str, now: datetime) -> None:
        """A new password also clears the lockout (a reset is the way out of a lock)."""
        self.password_hash = password_hash
        self.throttle = LoginThrottle()
        self.updated_at = now

    def rehash_password(self, password_hash: str, now: datetime) -> None:
        """Same password under current hashing parameters (PW-1 upgrade on login)."""
        self.password_hash = password_hash
        self.updated_at = now

    def record_login_failure(self, now: datetime, policy: LockoutPolicy) -> None:
        self.throttle = self.throttle.after_failure(now, policy)

    def record_login_success(self) -> None:
        self.throttle = LoginThrottle()

    def rename(self, display_name: str | None, now: datetime) -> None:
        self.display_name = None if display_name is None else _display_name(display_name)
        self.updated_at = now

    def request_email_change(self, email: Email, now: datetime) -> None:
        """Remember ``email`` as the pending address; the account keeps its current one (and
        stays able to log in) until the new one is proven."""
        if email == self.email:
            raise Conflict("That is already the account's address.", code="email_unchanged")
        self.pending_email = email
        self.updated_at = now

    def drop_email_change(self, now: datetime) -> None:
        """Forget the pending address (it can no longer become the account's)."""
        self.pending_email = None
        self.updated_at = now

    def confirm_email_change(self, now: datetime) -> Email:
        """Switch to the proven pending address; returns the old one (it gets told)."""
        if self.pending_email is None:
            raise Conflict("No email change is pending.", code="no_email_change")
        old, self.email, self.pending_email = self.email, self.pending_email, None
        self.verified = True
        self.updated_at = now
        return old

    def disable(self, now: datetime) -> None:
        self.status = UserStatus.DISABLED
        self.updated_at = now

    @property
    def is_unclaimed(self) -> bool:
        """Registered but never verified (and not disabled): nobody has proven the address,
        so a new registration of it may take the account over."""
        return not self.verified and self.status is UserStatus.ACTIVE

    def enable(self, now: datetime) -> None:
        self.status = UserStatus.ACTIVE
        self.updated_at = now

    def grant_plan(self, plan: str, now: datetime) -> None:
        if not plan or len(plan) > 40 or not plan.replace("_", "").replace("-", "").isalnum():
            raise InvalidInput("A plan name is 1-40 letters, digits, - or _.", field="plan")
        self.plan = plan
        self.updated_at = now

    def revoke_plan(self, now: datetime) -> None:
        self.plan = None
        self.updated_at = now

    def promote_to_admin(self, now: datetime) -> None:
        self.role = Role.ADMIN
        self.updated_at = now


def _display_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput(
            f"A display name is 1-{DISPLAY_NAME_MAX} characters.", field="display_name"
        )
    if not name.isprintable():  # control and format characters: a right-to-left override
        raise InvalidInput(
            "A display name cannot hold control or format characters.", field="display_name"
        )
    return name
