"""RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30-second steps), as authenticator
apps and Groww's TOTP keys use them. A code is accepted one step early or late for clock skew.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import datetime, timedelta

__all__ = ["totp_at", "verify_totp"]

_STEP_SECONDS = 30
_DIGITS = 6


def totp_at(seed: str, instant: datetime) -> str:
    """The code an authenticator shows for base32 ``seed`` at ``instant``."""
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    counter = int(instant.timestamp()) // _STEP_SECONDS
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**_DIGITS).zfill(_DIGITS)


def verify_totp(seed: str, code: str, instant: datetime) -> bool:
    """True when ``code`` is the one for ``instant`` or an adjacent 30-second step."""
    step = timedelta(seconds=_STEP_SECONDS)
    return any(
        hmac.compare_digest(totp_at(seed, instant + drift * step), code) for drift in (-1, 0, 1)
    )
