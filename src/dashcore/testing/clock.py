from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashcore.domain.time import ensure_utc
from dashcore.ports.clock import Clock

__all__ = ["FakeClock"]


class FakeClock(Clock):
    """A clock that moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start else datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)`` (``seconds=61``)."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += step
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = ensure_utc(instant)
