"""Sessions and their refresh tokens (RT-1, RT-2, RT-3, SESS-1).

One :class:`Session` per authentication: a 128-bit random id, the device it was opened on and a
refresh-token *family*. Business rules:

* **Lifetimes** (:class:`SessionPolicy`). A session dies ``idle_timeout`` after it was last seen
  (30 min) or at ``absolute_expires_at`` (12 h after creation), whichever comes first. A
  "remember me" session lives 30 days with a 7-day idle timeout (the documented mobile exception;
  orders still need step-up). Both limits are fixed into the session when it opens: rotation slides
  the idle deadline but never moves the absolute one, and a later policy change does not stretch
  sessions already open.
* **Cap** (SESS-1). At most ``max_active`` (10) active sessions per user; opening one more evicts
  the least recently used (smallest ``last_seen_at``, ties broken by id).
* **Refresh tokens** are opaque: ``<session id>.<secret>``, the secret 32 bytes of base64url. Only
  the SHA-256 of a secret is stored; the session id finds the record by key (no scan over
  candidates) and hashes are compared in constant time.
* **Rotation on every use** (RT-1). Each refresh replaces the current secret with its successor,
  which is derived from it with a keyed HMAC (see ``RefreshSecretDeriver``), so the chain of a
  family is reproducible by the server alone while only hashes are stored.
* **Grace** (RT-2). Only the *immediate predecessor*, presented within ``grace`` (10 s) of its
  rotation, is accepted again, and it yields the *same* successor: concurrent tabs and lost
  responses converge on one token, never a new branch.
* **Reuse** (RT-1). Any other ancestor of the current secret (the predecessor after the grace
  window, a grandparent at any time) revokes the whole session. A secret that is no ancestor at
  all is just invalid: knowing a session id is not enough to kill the session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NewType
from uuid import UUID

from dashcore.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from dashcore.domain.time import ensure_utc

__all__ = [
    "REFRESH_SECRET_BYTES",
    "SESSION_ID_BYTES",
    "RefreshMatch",
    "RefreshState",
    "RefreshToken",
    "RefreshTokenReused",
    "RevocationReason",
    "Session",
    "SessionId",
    "SessionPolicy",
    "check_device_label",
    "hash_refresh_secret",
    "invalid_refresh_token",
    "new_refresh_secret",
    "new_session_id",
    "parse_session_id",
]

SESSION_ID_BYTES = 16
REFRESH_SECRET_BYTES = 32
MAX_GRACE = timedelta(seconds=60)

SessionId = NewType("SessionId", str)

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_SECRET_TEXT = re.compile(r"[A-Za-z0-9_-]{43}")


def invalid_refresh_token() -> AuthenticationFailed:
    """The one failure every refresh problem turns into: unknown, malformed, expired, reused."""
    return AuthenticationFailed("The refresh token is not valid.", code="invalid_refresh_token")


class RefreshTokenReused(AuthenticationFailed):
    """A rotated-out refresh token came back and its session was revoked. To the client it is
    the same ``invalid_refresh_token`` as any other failure; inside, it lets the caller warn
    the account's owner (``user_id``)."""

    code = "invalid_refresh_token"

    def __init__(self, user_id: UUID) -> None:
        super().__init__("The refresh token is not valid.")
        self.user_id = user_id


def new_session_id() -> SessionId:
    """128 bits from the CSPRNG as unpadded base64url (22 characters)."""
    return SessionId(secrets.token_urlsafe(SESSION_ID_BYTES))


def new_refresh_secret() -> bytes:
    """The first secret of a family: 256 bits from the CSPRNG."""
    return secrets.token_bytes(REFRESH_SECRET_BYTES)


def hash_refresh_secret(secret: bytes) -> str:
    """What is stored of a refresh secret: its SHA-256, hex."""
    return hashlib.sha256(secret).hexdigest()


def parse_session_id(text: str) -> SessionId:
    """A session id as text from a client; anything but 22 base64url characters is not one."""
    if not _SESSION_ID.fullmatch(text):
        raise InvalidInput("Not a session id.", field="session_id", code="invalid_session_id")
    return SessionId(text)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """``<session id>.<secret>``: the session id routes the lookup, the secret proves possession.

    Parsing is strict: exactly one dot, a well-formed session id and a canonical 43-character
    base64url secret (a re-encoded variant of a token is a different, invalid token).
    """

    session_id: SessionId
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != REFRESH_SECRET_BYTES or not _SESSION_ID.fullmatch(self.session_id):
            raise invalid_refresh_token()

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        session_id, dot, secret_text = text.partition(".")
        if not dot or not _SESSION_ID.fullmatch(session_id):
            raise invalid_refresh_token()
        if not _SECRET_TEXT.fullmatch(secret_text):
            raise invalid_refresh_token()
        try:
            secret = base64.urlsafe_b64decode(secret_text + "=")
        except (binascii.Error, ValueError) as exc:
            raise invalid_refresh_token() from exc
        if _b64encode(secret) != secret_text:
            raise invalid_refresh_token()
        return cls(SessionId(session_id), secret)

    def encode(self) -> str:
        return f"{self.session_id}.{_b64encode(self.secret)}"

    @property
    def secret_hash(self) -> str:
        return hash_refresh_secret(self.secret)


class RevocationReason(StrEnum):
    LOGOUT = "logout"
    USER_REVOKED = "user_revoked"
    USER_REVOKED_ALL = "user_revoked_all"
    EVICTED = "evicted"
    REFRESH_REUSE = "refresh_reuse"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    ACCOUNT_DISABLED = "account_disabled"
    STEP_UP = "step_up"
    MFA_ENABLED = "mfa_enabled"


class RefreshMatch(StrEnum):
    """How a presented secret relates to a family, as far as the stored hashes tell."""

    CURRENT = "current"
    """The newest secret: rotate it."""
    PREDECESSOR = "predecessor"
    """The immediate predecessor within the grace window: hand out the same successor."""
    STALE_PREDECESSOR = "stale_predecessor"
    """The immediate predecessor after the grace window: reuse."""
    UNKNOWN = "unknown"
    """Neither: an older ancestor (reuse) or not of this family at all (invalid)."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Lifetimes, grace and cap. Validated once, at start-up (values come from settings)."""

    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_lifetime: timedelta = timedelta(hours=12)
    remember_me_lifetime: timedelta = timedelta(days=30)
    remember_me_idle_timeout: timedelta = timedelta(days=7)
    grace: timedelta = timedelta(seconds=10)
    max_active: int = 10

    def __post_init__(self) -> None:
        for name in (
            "idle_timeout",
            "absolute_lifetime",
            "remember_me_lifetime",
            "remember_me_idle_timeout",
        ):
            if getattr(self, name) <= timedelta(0):
                raise InvalidInput("Must be positive.", field=name, code="invalid_session_policy")
        if not timedelta(0) <= self.grace <= MAX_GRACE:
            raise InvalidInput(
                "The refresh grace window must be between 0 and 60 seconds.",
                field="grace",
                code="invalid_session_policy",
            )
        if self.max_active < 1:
            raise InvalidInput(
                "At least one session must be allowed.",
                field="max_active",
                code="invalid_session_policy",
            )

    def lifetime(self, *, remember_me: bool) -> tuple[timedelta, timedelta]:
        """``(absolute lifetime, idle timeout)`` for a new session."""
        if remember_me:
            return self.remember_me_lifetime, self.remember_me_idle_timeout
        return self.absolute_lifetime, self.idle_timeout


@dataclass(frozen=True, slots=True)
class RefreshState:
    """The family's position: current secret hash and the immediate predecessor's.

    ``generation`` counts rotations (0 for the secret handed out at login).
    """

    current_hash: str = field(repr=False)
    generation: int = 0
    previous_hash: str | None = field(default=None, repr=False)
    rotated_at: datetime | None = None

    def match(self, presented_hash: str, now: datetime, grace: timedelta) -> RefreshMatch:
        """Classify ``presented_hash``; both comparisons run in constant time."""
        is_current = hmac.compare_digest(presented_hash, self.current_hash)
        is_previous = self.previous_hash is not None and hmac.compare_digest(
            presented_hash, self.previous_hash
        )
        if is_current:
            return RefreshMatch.CURRENT
        if is_previous:
            assert self.rotated_at is not None
            if now < self.rotated_at + grace:
                return RefreshMatch.PREDECESSOR
            return RefreshMatch.STALE_PREDECESSOR
        return RefreshMatch.UNKNOWN

    def is_current(self, secret_hash: str) -> bool:
        return hmac.compare_digest(secret_hash, self.current_hash)

    def rotated(self, successor_hash: str, at: datetime) -> RefreshState:
        return RefreshState(
            current_hash=successor_hash,
            generation=self.generation + 1,
            previous_hash=self.current_hash,
            rotated_at=at,
        )


@dataclass(slots=True, eq=False)
class Session:
    """A server-side session record (SESS-1). Compares by id.

    Change it only through its methods: they keep the absolute expiry fixed, refuse to refresh
    a revoked or expired session, and never move ``last_seen_at`` backwards.
    """

    id: SessionId
    user_id: UUID
    created_at: datetime
    auth_time: datetime
    absolute_expires_at: datetime
    idle_timeout: timedelta
    last_seen_at: datetime
    refresh: RefreshState
    amr: tuple[str, ...] = ()
    remember_me: bool = False
    role: str | None = None
    device_label: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: RevocationReason | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "auth_time", "absolute_expires_at", "last_seen_at"):
            setattr(self, name, ensure_utc(getattr(self, name), field=name))
        if self.revoked_at is not None:
            self.revoked_at = ensure_utc(self.revoked_at, field="revoked_at")
        if self.idle_timeout <= timedelta(0):
            raise InvalidInput("Must be positive.", field="idle_timeout")
        if self.absolute_expires_at <= self.created_at:
            raise InvalidInput("Must be after created_at.", field="absolute_expires_at")
        if self.auth_time > self.created_at:
            raise InvalidInput("Authentication cannot follow the session.", field="auth_time")

    @classmethod
    def open(
        cls,
        *,
        session_id: SessionId,
        user_id: UUID,
        first_secret_hash: str,
        now: datetime,
        policy: SessionPolicy,
        auth_time: datetime,
        amr: tuple[str, ...],
        remember_me: bool = False,
        role: str | None = None,
        device_label: str | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
    ) -> Session:
        """A new session whose absolute expiry is fixed here, once and for all."""
        if not amr or not all(method and method.isascii() for method in amr):
            raise InvalidInput("At least one authentication method is required.", field="amr")
        lifetime, idle = policy.lifetime(remember_me=remember_me)
        return cls(
            id=session_id,
            user_id=user_id,
            created_at=now,
            auth_time=auth_time,
            absolute_expires_at=now + lifetime,
            idle_timeout=idle,
            last_seen_at=now,
            refresh=RefreshState(first_secret_hash),
            amr=tuple(amr),
            remember_me=remember_me,
            role=role,
            device_label=device_label,
            user_agent=user_agent,
            ip=ip,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # -- queries ---------------------------------------------------------------------------
    @property
    def expires_at(self) -> datetime:
        """The first instant at which the session is dead unless activity slides it."""
        return min(self.absolute_expires_at, self.last_seen_at + self.idle_timeout)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_active(self, now: datetime) -> bool:
        return not self.is_revoked and now < self.expires_at

    def match_refresh(self, presented_hash: str, now: datetime, grace: timedelta) -> RefreshMatch:
        """Classify a presented secret; a revoked or expired session accepts nothing."""
        if not self.is_active(now):
            raise invalid_refresh_token()
        return self.refresh.match(presented_hash, now, grace)

    # -- state changes ---------------------------------------------------------------------
    def rotate(self, presented_hash: str, successor_hash: str, now: datetime) -> None:
        """Replace the current secret by its successor; the session counts as seen ``now``.

        Only the current secret rotates; the absolute expiry stays where it was.
        """
        if not self.is_active(now) or not self.refresh.is_current(presented_hash):
            raise invalid_refresh_token()
        if hmac.compare_digest(successor_hash, presented_hash):
            raise Conflict("A successor must differ from its predecessor.", code="refresh_cycle")
        self.refresh = self.refresh.rotated(successor_hash, now)
        self.last_seen_at = max(self.last_seen_at, now)

    def touch(self, now: datetime) -> None:
        """Record activity; ``last_seen_at`` only moves forward and a dead session stays dead."""
        if self.is_active(now):
            self.last_seen_at = max(self.last_seen_at, now)

    def revoke(self, reason: RevocationReason, now: datetime) -> bool:
        """End the session; the first revocation's time and reason stick. True if it was live."""
        if self.is_revoked:
            return False
        self.revoked_at = ensure_utc(now, field="revoked_at")
        self.revoked_reason = reason
        return True

    def copy(self) -> Session:
        """An independent copy (stores hand these out so callers cannot alias their state)."""
        return replace(self)


def check_device_label(label: str | None) -> None:
    """A device label names a session in its owner's list (``GET /auth/sessions``): like a
    display name, it holds no control or format characters (a newline, a right-to-left
    override), which could make one session pass for another there or in a log."""
    if label is not None and not label.isprintable():
        raise InvalidInput(
            "A device label cannot hold control or format characters.", field="device_label"
        )
