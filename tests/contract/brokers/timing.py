"""A fake monotonic clock for the HTTP policy: sleeping advances it, nothing really waits."""

from __future__ import annotations

from dashcore_brokers.http import Timing


class FakeTiming:
    """Monotonic time that moves only when slept through or advanced; jitter is fixed at 0.5."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def timing(self) -> Timing:
        return Timing(monotonic=self.monotonic, sleep=self.sleep, random=lambda: 0.5)
