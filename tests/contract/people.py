"""Users the store contract tests hang their rows on (foreign keys need real user rows)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dashcore.domain.email import Email
from dashcore.domain.users import User

__all__ = ["person"]


def person(number: int, now: datetime) -> User:
    """User ``number``: a fixed id and address, created at ``now``."""
    return User(
        id=UUID(f"00000000-0000-7000-8000-{number:012x}"),
        email=Email(f"user{number}@example.org"),
        password_hash=f"$argon2id$v=19$m=19456,t=2,p=1$salt{number}$hash",
        created_at=now,
        updated_at=now,
    )
