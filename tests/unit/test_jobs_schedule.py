"""Scheduled jobs (issue #7): ticks numbered from the epoch so every process agrees, each tick
enqueued once however many schedulers share the claims, failures skipped until the next tick,
and the schedule table driven by settings."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from dashcore.domain.errors import DependencyUnavailable, NotFound
from dashcore.domain.jobs import JobArgument, JobId, JobState
from dashcore.ports.jobs import JobQueue, ScheduleTicks
from dashcore.testing.clock import FakeClock
from dashcore_app.settings import Settings, SettingsError
from dashcore_taskiq import InProcessScheduleTicks
from dashcore_worker.registry import load_tasks
from dashcore_worker.schedule import SCHEDULE_TABLE, Schedule, Scheduler, schedules_for

START = datetime(2026, 3, 1, 12, 0, 45, tzinfo=UTC)
MINUTELY = Schedule("refresh_connections", 60)
TEN_MINUTES = Schedule("challenge_cleanup", 600)


class RecordingQueue(JobQueue):
    """Keeps what was enqueued; ``failing`` tasks raise as an unreachable queue does."""

    def __init__(self, *failing: str) -> None:
        self.enqueued: list[tuple[str, dict[str, JobArgument]]] = []
        self.failing = set(failing)
        self.arrived = asyncio.Event()

    async def enqueue(self, task: str, /, **arguments: JobArgument) -> JobId:
        if task in self.failing:
            raise DependencyUnavailable("The job queue is not answering.", dependency="job_queue")
        self.enqueued.append((task, arguments))
        self.arrived.set()
        return JobId(f"job-{len(self.enqueued)}")

    async def status(self, job_id: JobId) -> JobState:
        raise NotFound()

    @property
    def tasks(self) -> list[str]:
        return [task for task, _ in self.enqueued]


class BrokenTicks(ScheduleTicks):
    async def claim(self, schedule: str, tick: int, *, hold_seconds: float) -> bool:
        raise DependencyUnavailable("Redis is not answering.", dependency="redis")


def scheduler(
    clock: FakeClock,
    queue: JobQueue,
    ticks: ScheduleTicks | None = None,
    schedules: tuple[Schedule, ...] = (MINUTELY, TEN_MINUTES),
) -> Scheduler:
    return Scheduler(schedules, queue, ticks or InProcessScheduleTicks(), clock)


def test_ticks_are_numbered_from_the_epoch() -> None:
    at = datetime(2026, 3, 1, 12, 0, 59, tzinfo=UTC)
    tick = MINUTELY.tick(at)
    assert tick == int(at.timestamp()) // 60
    assert MINUTELY.tick(at + timedelta(seconds=1)) == tick + 1
    assert MINUTELY.tick_start(tick + 1) == datetime(2026, 3, 1, 12, 1, tzinfo=UTC)


async def test_a_starting_scheduler_runs_the_current_tick_of_every_schedule() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    assert await scheduler(clock, queue).run_due() == ["job-1", "job-2"]
    assert queue.tasks == ["refresh_connections", "challenge_cleanup"]


async def test_each_schedule_runs_once_per_tick_of_its_own_period() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    runner = scheduler(clock, queue)
    await runner.run_due()
    await runner.run_due()
    clock.advance(seconds=14)  # 12:00:59, still the same minute
    await runner.run_due()
    assert queue.tasks == ["refresh_connections", "challenge_cleanup"]
    clock.advance(seconds=1)  # 12:01:00
    await runner.run_due()
    clock.advance(minutes=9)  # 12:10:00
    await runner.run_due()
    assert queue.tasks == [
        "refresh_connections",
        "challenge_cleanup",
        "refresh_connections",
        "refresh_connections",
        "challenge_cleanup",
    ]


async def test_ticks_missed_while_asleep_are_not_run_afterwards() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    runner = scheduler(clock, queue, schedules=(MINUTELY,))
    await runner.run_due()
    clock.advance(minutes=5)
    await runner.run_due()
    assert queue.tasks == ["refresh_connections"] * 2


async def test_schedulers_sharing_claims_enqueue_each_tick_once() -> None:
    clock, queue, ticks = FakeClock(START), RecordingQueue(), InProcessScheduleTicks()
    runners = [scheduler(clock, queue, ticks) for _ in range(3)]
    for _ in range(4):
        for runner in runners:
            await runner.run_due()
        clock.advance(seconds=30)
    # 12:00:45, 12:01:15, 12:01:45, 12:02:15: three minutes begun, one ten-minute tick
    assert queue.tasks.count("refresh_connections") == 3
    assert queue.tasks.count("challenge_cleanup") == 1


async def test_a_scheduler_joining_mid_tick_leaves_a_claimed_tick_alone() -> None:
    clock, queue, ticks = FakeClock(START), RecordingQueue(), InProcessScheduleTicks()
    await scheduler(clock, queue, ticks).run_due()
    latecomer = scheduler(clock, queue, ticks)
    clock.advance(seconds=10)
    assert await latecomer.run_due() == []
    clock.advance(seconds=5)  # 12:01:00
    assert await latecomer.run_due() == ["job-3"]


async def test_schedule_arguments_travel_with_the_job() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    nightly = Schedule("sync_connection", 86400, {"scope": "all", "full": True})
    await scheduler(clock, queue, schedules=(nightly,)).run_due()
    assert queue.enqueued == [("sync_connection", {"scope": "all", "full": True})]


async def test_a_failing_enqueue_skips_that_tick_only_and_is_logged() -> None:
    clock, queue = FakeClock(START), RecordingQueue("refresh_connections")
    runner = scheduler(clock, queue)
    with capture_logs() as logs:
        assert await runner.run_due() == ["job-1"]
    assert queue.tasks == ["challenge_cleanup"]
    [failed] = [line for line in logs if line["event"] == "schedule_tick_failed"]
    assert failed["task"] == "refresh_connections"
    assert failed["tick"] == MINUTELY.tick(START)
    assert "DependencyUnavailable" in failed["error"]
    queue.failing.clear()
    await runner.run_due()
    assert queue.tasks == ["challenge_cleanup"]  # the failed tick is not retried...
    clock.advance(seconds=15)
    await runner.run_due()
    assert queue.tasks == ["challenge_cleanup", "refresh_connections"]  # ...the next one runs


async def test_unreachable_claims_enqueue_nothing() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    with capture_logs() as logs:
        assert await scheduler(clock, queue, BrokenTicks()).run_due() == []
    assert queue.enqueued == []
    assert [line["event"] for line in logs] == ["schedule_tick_failed"] * 2


def test_the_wait_ends_when_the_soonest_next_tick_begins() -> None:
    clock = FakeClock(START)
    assert scheduler(clock, RecordingQueue()).seconds_to_next_tick() == 15.0
    clock.advance(seconds=15)
    assert scheduler(clock, RecordingQueue()).seconds_to_next_tick() == 60.0


async def test_a_running_scheduler_stops_when_asked() -> None:
    clock, queue = FakeClock(START), RecordingQueue()
    stop = asyncio.Event()
    async with scheduler(clock, queue).running(stop) as task:
        await asyncio.wait_for(queue.arrived.wait(), timeout=5)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert task.done()
    assert queue.tasks == ["refresh_connections", "challenge_cleanup"]


def test_a_task_has_one_schedule_at_most() -> None:
    with pytest.raises(ValueError, match="at most one schedule"):
        Scheduler(
            (MINUTELY, Schedule("refresh_connections", 30)),
            RecordingQueue(),
            InProcessScheduleTicks(),
            FakeClock(),
        )


@pytest.mark.parametrize("every", [0, -60])
def test_a_period_is_positive(every: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Schedule("refresh_connections", every)


def test_default_settings_schedule_refresh_warnings_and_cleanup() -> None:
    periods = {s.task: s.every for s in schedules_for(Settings())}
    assert (
        periods.items()
        >= {
            "refresh_connections": 60,
            "reauth_warnings": 60,
            "challenge_cleanup": 600,
        }.items()
    )


def test_a_zero_period_turns_a_schedule_off() -> None:
    settings = replace(Settings(), schedule_refresh_seconds=0, schedule_challenge_cleanup_seconds=5)
    periods = {s.task: s.every for s in schedules_for(settings)}
    assert "refresh_connections" not in periods
    assert (periods["reauth_warnings"], periods["challenge_cleanup"]) == (60, 5)


def test_every_scheduled_task_exists() -> None:
    assert {entry.task for entry in SCHEDULE_TABLE} <= load_tasks().names


def test_job_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_JOBS_QUEUE": "jobs:eu-1",
            "DASHCORE_JOBS_STATUS_TTL": "3600",
            "DASHCORE_JOBS_REDELIVER_AFTER": "900",
            "DASHCORE_SCHEDULE_REFRESH_SECONDS": "30",
            "DASHCORE_SCHEDULE_REAUTH_WARNINGS_SECONDS": "0",
            "DASHCORE_SCHEDULE_CHALLENGE_CLEANUP_SECONDS": "120",
            "DASHCORE_SCHEDULE_SYNC_SECONDS": "1800",
        }
    )
    assert (settings.jobs_queue, settings.jobs_status_ttl, settings.jobs_redeliver_after) == (
        "jobs:eu-1",
        3600,
        900,
    )
    assert (
        settings.schedule_refresh_seconds,
        settings.schedule_reauth_warnings_seconds,
        settings.schedule_challenge_cleanup_seconds,
        settings.schedule_sync_seconds,
    ) == (30, 0, 120, 1800)


def test_bad_job_settings_are_all_reported() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {
                "DASHCORE_JOBS_QUEUE": "my queue",
                "DASHCORE_JOBS_STATUS_TTL": "10",
                "DASHCORE_JOBS_REDELIVER_AFTER": "0",
                "DASHCORE_SCHEDULE_REFRESH_SECONDS": "-1",
                "DASHCORE_SCHEDULE_SYNC_SECONDS": "hourly",
            }
        )
    named = {problem.split("=")[0] for problem in refused.value.problems}
    assert named == {
        "DASHCORE_JOBS_QUEUE",
        "DASHCORE_JOBS_STATUS_TTL",
        "DASHCORE_JOBS_REDELIVER_AFTER",
        "DASHCORE_SCHEDULE_REFRESH_SECONDS",
        "DASHCORE_SCHEDULE_SYNC_SECONDS",
    }
