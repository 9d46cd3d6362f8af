"""Single-use tokens sent by email: address verification and password reset (REG-1, RESET-1).

Rules:
- The token is 32 random bytes (``secrets.token_urlsafe``); only its SHA-256 is stored, and it is
  found by that hash (an indexed look-up, never a scan).
- Each token has one purpose; a verification token can never stand in for a reset token or the
  other way round (look-ups filter by purpose).
- A token is bound to the user *and* the canonical email it was issued for: after an email change
  it is void. A ``change_email`` token is issued for (and bound to) the pending new address.
- Single use: the first successful use marks it used; any later use fails. Issuing a new token of
  a purpose voids the user's earlier ones of that purpose.
- TTL: verification and email change 1 hour (REG-1), password reset 30 minutes (RESET-1);
  a person who misses it asks for a new one (resend, or reset again).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

__all__ = ["EmailToken", "TokenPurpose", "hash_token", "new_token_secret"]

_TOKEN_BYTES = 32
_MAX_TOKEN_CHARS = 128


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    CHANGE_EMAIL = "change_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)

    @property
    def default_ttl(self) -> timedelta:
        if self is TokenPurpose.PASSWORD_RESET:
            return timedelta(minutes=30)
        return timedelta(hours=1)


def new_token_secret() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> bytes | None:
    """The stored form of a presented token; ``None`` for input no token of ours can match
    (empty, oversized, non-ASCII), so garbage never reaches the database."""
    if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(slots=True)
class EmailToken:
    id: UUID
    user_id: UUID
    purpose: TokenPurpose
    token_hash: bytes = field(repr=False)
    email_key: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, now: datetime, current_email_key: str) -> bool:
        return (
            self.used_at is None and now < self.expires_at and current_email_key == self.email_key
        )
