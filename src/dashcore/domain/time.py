"""Time rules: every instant in dashcore is timezone-aware and expressed in UTC."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from dashcore.domain.errors import InvalidInput

__all__ = ["UTC", "ensure_utc", "parse_utc", "seconds_until"]


def ensure_utc(value: datetime, *, field: str = "timestamp") -> datetime:
    """Return ``value`` converted to UTC; a naive datetime is refused, never guessed, and so is
    one whose UTC instant falls outside the years 1 to 9999 (``9999-12-31T23:59:59-14:00``)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput("A timestamp must carry a time zone.", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput("The timestamp is out of range.", field=field) from exc


def parse_utc(text: str, *, field: str = "timestamp") -> datetime:
    """Parse an ISO 8601 instant with an explicit offset (``Z`` allowed) into UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("Not an ISO 8601 timestamp.", field=field) from exc
    return ensure_utc(parsed, field=field)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment``, rounded up and at least 1: a ``Retry-After``
    that never invites a retry before a lock ends."""
    return max(1, math.ceil((moment - now).total_seconds()))
