"""Checking the TOTP codes of Groww's TOTP keys (RFC 6238: SHA-1, 6 digits, 30-second steps)
with pyotp, on the sandbox's clock. A code is accepted one step early or late for clock skew,
as an exchange that does not know the caller's clock would."""

from __future__ import annotations

from datetime import datetime

import pyotp

__all__ = ["totp_at", "verify_totp"]


def totp_at(seed: str, instant: datetime) -> str:
    """The code an authenticator shows for base32 ``seed`` at ``instant``."""
    return pyotp.TOTP(seed).at(instant)


def verify_totp(seed: str, code: str, instant: datetime) -> bool:
    """True when ``code`` is the one for ``instant`` or an adjacent 30-second step."""
    return pyotp.TOTP(seed).verify(code, for_time=instant, valid_window=1)
