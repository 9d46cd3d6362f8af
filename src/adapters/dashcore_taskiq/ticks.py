"""Schedule-tick claims within one process (the embedded default).

The Redis claims shared by every process are in :mod:`dashcore_taskiq.streams`.
"""

from __future__ import annotations

from dashcore.ports.jobs import ScheduleTicks

__all__ = ["InProcessScheduleTicks"]


class InProcessScheduleTicks(ScheduleTicks):
    """Claims within one process (the embedded default): the newest claimed tick of each
    schedule is all it keeps, since ticks only move forward."""

    def __init__(self) -> None:
        self._newest: dict[str, int] = {}

    async def claim(self, schedule: str, tick: int, *, hold_seconds: float) -> bool:
        if tick <= self._newest.get(schedule, -1):
            return False
        self._newest[schedule] = tick
        return True
