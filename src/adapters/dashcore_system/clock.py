from __future__ import annotations

from datetime import UTC, datetime

from dashcore.ports.clock import Clock

__all__ = ["SystemClock"]


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)
