"""Time rules: every instant in dashcore is timezone-aware and expressed in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from dashcore.domain.errors import InvalidInput

__all__ = ["UTC", "ensure_utc", "parse_utc"]


def ensure_utc(value: datetime, *, field: str = "timestamp") -> datetime:
    """Return ``value`` converted to UTC; a naive datetime is refused, never guessed."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput("A timestamp must carry a time zone.", field=field)
    return value.astimezone(UTC)


def parse_utc(text: str, *, field: str = "timestamp") -> datetime:
    """Parse an ISO 8601 instant with an explicit offset (``Z`` allowed) into UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("Not an ISO 8601 timestamp.", field=field) from exc
    return ensure_utc(parsed, field=field)
