"""Second factors and one-time codes (security.md OTP-1, TOTP-1, RC-1, STEP-1).

* **Codes people type** (:func:`parse_one_time_code`) are exactly six ASCII digits. Python's
  ``int()`` and ``str.isdigit()`` accept other scripts' digits (``"１２３４５６"``), so anything but
  ``[0-9]{6}`` is refused as input, before any comparison.
* **TOTP** (:class:`TotpFactor`, RFC 6238, SHA-1, 6 digits, 30 s steps). Enrolment starts
  *pending* and is *active* only after a first valid code. The server clock alone decides the
  step; the accepted window is the current and the previous step. Each step is accepted once
  (``last_used_step`` only grows), so a code seen over a shoulder cannot be replayed. The
  factor's failure counter is the account's MFA counter: wrong TOTP codes and wrong recovery
  codes both feed it; 5 in a row lock the factor for 15 minutes, 100 in a row retire TOTP codes
  (recovery codes or an administrator's reset are then the way back). A success clears it.
* **Recovery codes** (:func:`new_recovery_codes`): 10 codes of 10 Crockford base32 characters
  (50 bits), shown once, stored as individual password hashes and used at most once. Input is
  case-insensitive; hyphens and spaces are ignored; ``O`` reads as ``0`` and ``I``/``L`` as
  ``1`` (Crockford's decoding rules).
* **Login challenges** (:class:`LoginChallenge`): the short-lived, single-use state between two
  steps of a login — an emailed code waiting to be typed (``email_otp``) or a correct first
  factor waiting for the second (``second_factor``). The client holds a random *handle*; only
  its SHA-256 is stored. A challenge allows 5 attempts, lives 5 minutes and is consumed by its
  first success.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from dashcore.domain.errors import InvalidInput
from dashcore.domain.time import ensure_utc

__all__ = [
    "AMR_EMAIL_OTP",
    "AMR_MFA",
    "AMR_PASSWORD",
    "AMR_RECOVERY_CODE",
    "AMR_TOTP",
    "CHALLENGE_HANDLE_BYTES",
    "RECOVERY_CODE_COUNT",
    "SECOND_FACTORS",
    "ChallengeKind",
    "ChallengePolicy",
    "FactorStatus",
    "LoginChallenge",
    "RecoveryCode",
    "TotpFactor",
    "TotpPolicy",
    "hash_challenge_handle",
    "new_challenge_handle",
    "new_recovery_codes",
    "normalise_recovery_code",
    "parse_challenge_handle",
    "parse_one_time_code",
    "second_factor_amr",
]

AMR_PASSWORD = "pwd"  # noqa: S105 (an RFC 8176 method name, not a secret)
"""RFC 8176 ``amr`` value of a password."""
AMR_EMAIL_OTP = "otp"
"""RFC 8176 ``amr`` value of a one-time code sent by email."""
AMR_TOTP = "totp"
"""An authenticator-app code (RFC 6238). RFC 8176 files it under ``otp``; dashcore keeps the
two apart because only an authenticator app is a second factor."""
AMR_RECOVERY_CODE = "recovery_code"
AMR_MFA = "mfa"
"""RFC 8176: more than one factor was used."""

SECOND_FACTORS = frozenset({AMR_TOTP, AMR_RECOVERY_CODE})

CHALLENGE_HANDLE_BYTES = 16
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10

_CODE = re.compile(r"[0-9]{6}", re.ASCII)
_HANDLE = re.compile(r"[A-Za-z0-9_-]{22}", re.ASCII)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_RECOVERY_SEPARATORS = str.maketrans("", "", "- ")
_RECOVERY_INPUT_MAX = 32


def parse_one_time_code(text: str, *, field: str = "code") -> str:
    """A six-digit code as typed: exactly six ASCII digits, nothing around them."""
    if not isinstance(text, str) or not _CODE.fullmatch(text):
        raise InvalidInput("A code is exactly six digits 0-9.", code="invalid_code", field=field)
    return text


def second_factor_amr(first: tuple[str, ...], second: str) -> tuple[str, ...]:
    """The ``amr`` of a login that added the second factor ``second`` to those in ``first``."""
    if second not in SECOND_FACTORS:
        raise ValueError(f"{second!r} is not a second factor")
    methods = tuple(dict.fromkeys((*first, second)))
    return methods if AMR_MFA in methods else (*methods, AMR_MFA)


# --------------------------------------------------------------------------------------- TOTP


class FactorStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class TotpPolicy:
    """TOTP-1's defaults."""

    step: timedelta = timedelta(seconds=30)
    look_back: int = 1
    lock_threshold: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    retire_after: int = 100

    def __post_init__(self) -> None:
        if self.step <= timedelta(0) or self.step.microseconds:
            raise ValueError("the TOTP step is a positive whole number of seconds")
        if not 0 <= self.look_back <= 2:
            raise ValueError("look_back is 0, 1 or 2 steps")
        if not 0 < self.lock_threshold < self.retire_after:
            raise ValueError("lock_threshold must be positive and below retire_after")

    def step_at(self, at: datetime) -> int:
        """The RFC 6238 counter ``T = floor(unix time / step)`` at ``at``."""
        return int(ensure_utc(at).timestamp()) // int(self.step.total_seconds())

    def window(self, at: datetime) -> tuple[int, ...]:
        """The steps whose codes are accepted at ``at``, newest first."""
        current = self.step_at(at)
        return tuple(current - back for back in range(self.look_back + 1))


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's authenticator-app factor; its secret lives in the vault, never here.

    Immutable: each change returns the next state, which the caller saves under the row lock it
    read this one with.
    """

    user_id: UUID
    status: FactorStatus
    created_at: datetime
    confirmed_at: datetime | None = None
    last_used_step: int | None = None
    failures: int = 0
    locked_until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="created_at"))
        for name in ("confirmed_at", "locked_until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        if (self.status is FactorStatus.ACTIVE) != (self.confirmed_at is not None):
            raise ValueError("an active factor has a confirmation time, a pending one has none")
        if self.failures < 0:
            raise ValueError("failures cannot be negative")

    @classmethod
    def enrol(cls, user_id: UUID, now: datetime) -> TotpFactor:
        return cls(user_id=user_id, status=FactorStatus.PENDING, created_at=now)

    @property
    def is_active(self) -> bool:
        return self.status is FactorStatus.ACTIVE

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def codes_retired(self, policy: TotpPolicy) -> bool:
        """After ``retire_after`` failures in a row no TOTP code is accepted any more."""
        return self.failures >= policy.retire_after

    def usable_steps(self, now: datetime, policy: TotpPolicy) -> tuple[int, ...]:
        """The steps of the window not yet used (a step is accepted once)."""
        used = self.last_used_step
        return tuple(step for step in policy.window(now) if used is None or step > used)

    def accepted(self, step: int, now: datetime) -> TotpFactor:
        """The state after a valid code of ``step``: the step is spent, the counter cleared
        and a pending factor becomes active."""
        if self.last_used_step is not None and step <= self.last_used_step:
            raise ValueError("a step is accepted once")
        return replace(
            self,
            status=FactorStatus.ACTIVE,
            confirmed_at=self.confirmed_at or now,
            last_used_step=step,
            failures=0,
            locked_until=None,
        )

    def recovered(self) -> TotpFactor:
        """The state after a valid recovery code: the counter is cleared, the steps stay."""
        return replace(self, failures=0, locked_until=None)

    def failed(self, now: datetime, policy: TotpPolicy) -> TotpFactor:
        """The state after a wrong code. Failures while locked do not count."""
        if self.is_locked(now):
            return self
        failures = self.failures + 1
        locked_until = now + policy.lock_for if failures % policy.lock_threshold == 0 else None
        return replace(self, failures=failures, locked_until=locked_until)


# ----------------------------------------------------------------------------- recovery codes


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> tuple[str, ...]:
    """``count`` fresh codes from the CSPRNG, shown as ``XXXXX-XXXXX``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_CROCKFORD) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return tuple(codes)


def normalise_recovery_code(text: str, *, field: str = "recovery_code") -> str:
    """The canonical form of a typed recovery code (ten upper-case Crockford characters)."""
    if not isinstance(text, str) or len(text) > _RECOVERY_INPUT_MAX or not text.isascii():
        raise InvalidInput("Not a recovery code.", code="invalid_recovery_code", field=field)
    canonical = text.translate(_RECOVERY_SEPARATORS).upper().translate(_CROCKFORD_ALIASES)
    if len(canonical) != RECOVERY_CODE_LENGTH or any(c not in _CROCKFORD for c in canonical):
        raise InvalidInput("Not a recovery code.", code="invalid_recovery_code", field=field)
    return canonical


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    """One stored recovery code: its password hash, never the code."""

    id: UUID
    user_id: UUID
    code_hash: str = field(repr=False)
    created_at: datetime
    used_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="created_at"))
        if self.used_at is not None:
            object.__setattr__(self, "used_at", ensure_utc(self.used_at, field="used_at"))


# ------------------------------------------------------------------------------- challenges


class ChallengeKind(StrEnum):
    EMAIL_OTP = "email_otp"
    SECOND_FACTOR = "second_factor"


@dataclass(frozen=True, slots=True)
class ChallengePolicy:
    """OTP-1's defaults, also used for second-factor challenges."""

    ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if not timedelta(0) < self.ttl <= timedelta(minutes=10):
            raise ValueError("a challenge lives more than 0 and at most 10 minutes (OTP-1)")
        if self.max_attempts < 1:
            raise ValueError("a challenge allows at least one attempt")


def new_challenge_handle() -> str:
    """What the client holds: 128 bits from the CSPRNG as base64url (22 characters)."""
    return secrets.token_urlsafe(CHALLENGE_HANDLE_BYTES)


def parse_challenge_handle(text: str, *, field: str) -> str:
    if not isinstance(text, str) or not _HANDLE.fullmatch(text):
        raise InvalidInput("Not a challenge id.", code="invalid_challenge", field=field)
    return text


def hash_challenge_handle(handle: str) -> str:
    """What is stored of a handle: its SHA-256, hex."""
    return hashlib.sha256(handle.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginChallenge:
    """The pending step of one login.

    ``amr`` lists the factors already proven (empty for an emailed code not yet typed);
    ``code_digest`` is the keyed hash of an emailed code (``None`` for second factors);
    ``remember_me`` and ``device_label`` carry the login's choices to the session it ends in.
    """

    handle_hash: str
    kind: ChallengeKind
    user_id: UUID
    created_at: datetime
    expires_at: datetime
    amr: tuple[str, ...] = ()
    code_digest: str | None = field(default=None, repr=False)
    remember_me: bool = False
    device_label: str | None = None
    attempts: int = 0
    max_attempts: int = 5
    consumed_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "expires_at", "consumed_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        if self.expires_at <= self.created_at:
            raise ValueError("a challenge expires after it is created")
        if (self.kind is ChallengeKind.EMAIL_OTP) != (self.code_digest is not None):
            raise ValueError("an emailed-code challenge, and only it, carries a code digest")

    @classmethod
    def open(
        cls,
        handle: str,
        kind: ChallengeKind,
        user_id: UUID,
        now: datetime,
        policy: ChallengePolicy,
        *,
        amr: tuple[str, ...] = (),
        code_digest: str | None = None,
        remember_me: bool = False,
        device_label: str | None = None,
    ) -> LoginChallenge:
        return cls(
            handle_hash=hash_challenge_handle(handle),
            kind=kind,
            user_id=user_id,
            created_at=now,
            expires_at=now + policy.ttl,
            amr=amr,
            code_digest=code_digest,
            remember_me=remember_me,
            device_label=device_label,
            max_attempts=policy.max_attempts,
        )

    def is_open(self, now: datetime) -> bool:
        """Not consumed, not expired and with attempts left."""
        return (
            self.consumed_at is None and now < self.expires_at and self.attempts < self.max_attempts
        )

    @property
    def expires_in(self) -> timedelta:
        return self.expires_at - self.created_at
