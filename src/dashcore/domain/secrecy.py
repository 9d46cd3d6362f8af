"""Which names denote secrets.

One policy shared by the log redactor and the audit log: a field whose name contains one of
these words (``access_token``, ``X-Api-Key``, ``otpCode``, ``client_secret``) never carries its
value into a log line or an audit event.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "is_secret_name"]

REDACTED = "[redacted]"

_SECRET_WORDS = frozenset(
    {
        "apikey",
        "authorization",
        "checksum",
        "ciphertext",
        "code",
        "cookie",
        "credential",
        "csrf",
        "key",
        "otp",
        "passphrase",
        "passwd",
        "password",
        "pin",
        "plaintext",
        "secret",
        "session",
        "signature",
        "token",
        "totp",
    }
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def is_secret_name(name: str) -> bool:
    """True when a word of ``name`` (split at case changes and punctuation) names a secret."""
    words = _SEPARATORS.split(_CAMEL_BOUNDARY.sub("_", name).lower())
    return any(word in _SECRET_WORDS or word.removesuffix("s") in _SECRET_WORDS for word in words)
