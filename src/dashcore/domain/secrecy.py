"""Which names denote secrets.

One policy shared by the log redactor and the audit log: a field whose name contains one of
these words never carries its value into a log line or an audit event.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "is_secret_name"]

REDACTED = "[redacted]"

_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "signature",
    "otp",
    "totp",
    "code",
    "pin",
    "key",
    "credential",
    "session",
    "ciphertext",
    "plaintext",
    "checksum",
)
_SPLIT = re.compile(r"[^a-z0-9]+")


def is_secret_name(name: str) -> bool:
    """True when ``name`` (``access_token``, ``X-Api-Key``, ``otpCode``) names a secret."""
    lowered = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    joined = _SPLIT.sub("_", lowered).strip("_")
    parts = set(joined.split("_"))
    return any(
        word in parts or (("_" in word) and word in joined) or word in joined.replace("_", "")
        if len(word) > 4
        else word in parts
        for word in _SECRET_WORDS
    )
