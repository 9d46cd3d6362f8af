"""Periodic jobs: the schedule table, and the scheduler that enqueues each tick once.

**Ticks.** A schedule that runs every ``every`` seconds cuts time into numbered ticks counted
from the Unix epoch (tick ``n`` starts at ``n * every`` seconds), so every process, on any
machine, numbers the ticks the same way. A scheduler enqueues a schedule's job when the
schedule enters a tick the scheduler has not yet passed, and only if it is the first to claim
that tick (:class:`~dashcore.ports.jobs.ScheduleTicks`: in Redis, ``SET NX`` of one key per
schedule and tick, expiring by itself). However many worker processes run the scheduler, each
tick is enqueued once; while one scheduler is down, the others still run every tick. A
scheduler that starts in the middle of a tick runs that tick unless another already did.
The machines' clocks need only agree to well within one period (NTP does).

**Adding a schedule** is one row of :data:`SCHEDULE_TABLE`: the task's name and the setting
that gives its period in seconds (``0`` turns it off).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from dishka import AsyncContainer

from dashcore.domain.jobs import JobArgument, JobId, parse_job_arguments, parse_task_name
from dashcore.ports.clock import Clock
from dashcore.ports.jobs import JobQueue, ScheduleTicks
from dashcore_app.settings import Settings

__all__ = [
    "SCHEDULE_TABLE",
    "Schedule",
    "ScheduleEntry",
    "Scheduler",
    "build_scheduler",
    "schedules_for",
]

_log = structlog.get_logger("dashcore_worker")
_WAKE_MARGIN = 0.01
"""Seconds past a tick's start at which the scheduler wakes, never just before it."""


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One row of the schedule table: ``task`` every ``seconds(settings)`` seconds (0: off)."""

    task: str
    seconds: Callable[[Settings], int]
    arguments: Mapping[str, JobArgument] = field(default_factory=dict)


SCHEDULE_TABLE: tuple[ScheduleEntry, ...] = (
    ScheduleEntry("refresh_connections", lambda settings: settings.schedule_refresh_seconds),
    ScheduleEntry("reauth_warnings", lambda settings: settings.schedule_reauth_warnings_seconds),
    ScheduleEntry(
        "challenge_cleanup", lambda settings: settings.schedule_challenge_cleanup_seconds
    ),
    ScheduleEntry("sync_connections", lambda settings: settings.schedule_sync_seconds),
    ScheduleEntry("sync_cleanup", lambda settings: settings.schedule_sync_cleanup_seconds),
    ScheduleEntry("reconcile_orders", lambda settings: settings.schedule_order_reconcile_seconds),
    ScheduleEntry("poll_orders", lambda settings: settings.schedule_order_poll_seconds),
    ScheduleEntry("export_cleanup", lambda settings: settings.schedule_export_cleanup_seconds),
    ScheduleEntry("webhook_cleanup", lambda settings: settings.schedule_webhook_cleanup_seconds),
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """``task`` with ``arguments``, once per tick of ``every`` seconds. A task has at most
    one schedule: the task's name names the schedule (and its tick claims)."""

    task: str
    every: int
    arguments: Mapping[str, JobArgument] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_task_name(self.task)
        parse_job_arguments(self.arguments)
        if self.every <= 0:
            raise ValueError("a schedule's period is a positive number of seconds")

    def tick(self, at: datetime) -> int:
        """The number of the tick ``at`` falls in."""
        return int(at.timestamp() // self.every)

    def tick_start(self, tick: int) -> datetime:
        return datetime.fromtimestamp(tick * self.every, UTC)


def schedules_for(
    settings: Settings, table: Sequence[ScheduleEntry] = SCHEDULE_TABLE
) -> tuple[Schedule, ...]:
    """The schedules of ``table`` that ``settings`` turn on."""
    schedules = []
    for entry in table:
        seconds = entry.seconds(settings)
        if seconds > 0:
            schedules.append(Schedule(entry.task, seconds, entry.arguments))
    return tuple(schedules)


class Scheduler:
    """Enqueues each schedule's job once per tick across every process sharing ``ticks``."""

    def __init__(
        self,
        schedules: Sequence[Schedule],
        jobs: JobQueue,
        ticks: ScheduleTicks,
        clock: Clock,
    ) -> None:
        if len({schedule.task for schedule in schedules}) != len(schedules):
            raise ValueError("a task has at most one schedule")
        self._schedules = tuple(schedules)
        self._jobs = jobs
        self._ticks = ticks
        self._clock = clock
        self._passed: dict[str, int] = {}

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return self._schedules

    async def run_due(self) -> list[JobId]:
        """Enqueue the job of every schedule that has entered a tick this scheduler has not
        passed yet and that no one has claimed; the ids of the jobs enqueued here. A failure
        (Redis down) skips that schedule's tick, logged; the next tick tries again."""
        now = self._clock.now()
        enqueued: list[JobId] = []
        for schedule in self._schedules:
            tick = schedule.tick(now)
            if self._passed.get(schedule.task, tick - 1) >= tick:
                continue
            self._passed[schedule.task] = tick
            try:
                if not await self._ticks.claim(
                    schedule.task, tick, hold_seconds=2 * schedule.every
                ):
                    continue
                job_id = await self._jobs.enqueue(schedule.task, **schedule.arguments)
            except Exception as error:  # logged; the next tick tries again
                _log.warning(
                    "schedule_tick_failed", task=schedule.task, tick=tick, error=repr(error)
                )
                continue
            _log.info("schedule_tick", task=schedule.task, tick=tick, job_id=job_id)
            enqueued.append(job_id)
        return enqueued

    def seconds_to_next_tick(self) -> float:
        """How long until the soonest next tick of any schedule begins."""
        now = self._clock.now()
        starts = (s.tick_start(s.tick(now) + 1) for s in self._schedules)
        return max(0.0, min((start - now).total_seconds() for start in starts))

    async def run(self, stop: asyncio.Event) -> None:
        """Run the due ticks now and each time a tick begins, until ``stop`` is set."""
        await self.run_due()
        await self._follow(stop)

    async def _follow(self, stop: asyncio.Event) -> None:
        while self._schedules:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.seconds_to_next_tick() + _WAKE_MARGIN)
            if stop.is_set():
                return
            await self.run_due()
        await stop.wait()

    @contextlib.asynccontextmanager
    async def running(self, stop: asyncio.Event | None = None) -> AsyncIterator[asyncio.Task[None]]:
        """Run the due ticks, then keep running them in the background until ``stop`` is set
        or the block ends."""
        stop = stop or asyncio.Event()
        _log.info("scheduler_started", schedules={s.task: s.every for s in self._schedules})
        await self.run_due()
        task = asyncio.create_task(self._follow(stop), name="dashcore-scheduler")
        try:
            yield task
        finally:
            stop.set()
            await task


async def build_scheduler(container: AsyncContainer, settings: Settings) -> Scheduler:
    """The scheduler of ``settings``' schedules, on the container's queue and tick claims."""
    return Scheduler(
        schedules_for(settings),
        await container.get(JobQueue),
        await container.get(ScheduleTicks),
        await container.get(Clock),
    )
