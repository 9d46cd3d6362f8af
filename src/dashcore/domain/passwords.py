"""Password policy (security.md PW-2, PW-3, DOS-1).

Business rules:

* A password is compared and hashed in its NFKC form, so the same password typed with composed
  or decomposed accents, or in fullwidth form, is the same password. Nothing else changes it:
  no trimming, no case folding, no truncation.
* Length is counted in code points of the NFKC form: at least 15 for a password-only account
  (8 is the lowest a policy may allow, and only for accounts with mandatory second factor), at
  most 128. There are no composition rules (no "one digit, one symbol").
* NUL and lone surrogates are refused: they cannot be stored or typed reliably.
* A password found common by the common-password check is refused.
* Input longer than :data:`MAX_RAW_CODE_POINTS` is refused before any other work (no
  normalisation, no list look-up, no hashing), so a megabyte "password" costs next to nothing.
  The HTTP layer bounds the field as well (:data:`MAX_RAW_UTF8_BYTES`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

from dashcore.domain.errors import InvalidInput

__all__ = [
    "MAX_LENGTH",
    "MAX_RAW_CODE_POINTS",
    "MAX_RAW_UTF8_BYTES",
    "MIN_LENGTH",
    "MIN_LENGTH_WITH_MFA",
    "CommonPasswords",
    "PasswordPolicy",
    "normalise_password",
    "reject_oversized",
]

MIN_LENGTH = 15
MIN_LENGTH_WITH_MFA = 8
MAX_LENGTH = 128
# NFKC can shrink a raw string (a decomposed Hangul syllable is 3 code points, its NFKC form 1);
# four times the maximum leaves room for any real password and bounds the work on hostile input.
MAX_RAW_CODE_POINTS = 4 * MAX_LENGTH
MAX_RAW_UTF8_BYTES = 4 * MAX_RAW_CODE_POINTS

_FIELD = "password"


class CommonPasswords(Protocol):
    """Tells whether a (NFKC-normalised) password is too common to be allowed."""

    def is_common(self, password: str) -> bool: ...


def _refuse(code: str, message: str) -> InvalidInput:
    return InvalidInput(message, code=code, field=_FIELD)


def reject_oversized(raw: str) -> None:
    """Refuse input that no valid password can be, before any work is done on it."""
    if len(raw) > MAX_RAW_CODE_POINTS:
        raise _refuse("password_too_long", f"The password is longer than {MAX_LENGTH} characters.")


def normalise_password(raw: str) -> str:
    """The form of ``raw`` that is hashed and verified: NFKC, nothing else.

    Used on its own at login (a login checks no length or list: it verifies what was sent).
    Refuses oversized input, NUL and lone surrogates.
    """
    reject_oversized(raw)
    if "\x00" in raw:
        raise _refuse("password_invalid_characters", "The password contains a NUL character.")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(
            "password_invalid_characters", "The password contains an unpaired surrogate."
        ) from exc
    return unicodedata.normalize("NFKC", raw)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules a new password (registration, change, reset) must meet."""

    common: CommonPasswords = field(repr=False)
    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH

    def __post_init__(self) -> None:
        if not MIN_LENGTH_WITH_MFA <= self.min_length <= self.max_length <= MAX_LENGTH:
            raise ValueError(
                f"password lengths must satisfy {MIN_LENGTH_WITH_MFA} <= min_length <= "
                f"max_length <= {MAX_LENGTH}"
            )

    def check(self, password: str) -> str:
        """Return the NFKC form of ``password`` to hash, or raise ``InvalidInput``.

        Codes: ``password_too_long``, ``password_invalid_characters``, ``password_too_short``,
        ``password_too_common`` (checked in that order; the field is ``password``).
        """
        normalised = normalise_password(password)
        length = len(normalised)
        if length > self.max_length:
            raise _refuse(
                "password_too_long", f"The password is longer than {self.max_length} characters."
            )
        if length < self.min_length:
            raise _refuse(
                "password_too_short",
                f"The password must have at least {self.min_length} characters.",
            )
        if self.common.is_common(normalised):
            raise _refuse(
                "password_too_common",
                "The password is too common or too easy to guess; choose another one.",
            )
        return normalised
