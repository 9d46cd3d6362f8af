"""A worker process (``dashcore worker``): runs jobs from the Redis queue, and the schedules.

Each worker runs up to ``concurrency`` jobs at a time on one event loop. Start as many worker
processes, on as many machines, as the load needs: they share the queue's consumer group, so
each job goes to one of them. SIGTERM (or SIGINT) stops taking jobs, lets the running ones
finish (and be acknowledged), then exits; a worker killed harder leaves its jobs unacknowledged,
and another worker runs them again after ``DASHCORE_JOBS_REDELIVER_AFTER`` seconds.

When the queue stops answering (Redis down, restarted, or restarted empty) the worker logs
``worker_queue_unavailable`` once, asks again every few seconds, declares its consumer group
again (a Redis restarted without its data has none), logs ``worker_queue_recovered`` and goes
on taking jobs: it never exits for an outage. Jobs running meanwhile finish; those it could not
acknowledge run again after ``DASHCORE_JOBS_REDELIVER_AFTER`` seconds.

SIGUSR1 logs one ``worker_task`` line per task of the worker's event loop, with the chain of
calls it waits in: what to look at when a worker does not stop, or a job does not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

import structlog
from dishka import AsyncContainer
from taskiq import AsyncBroker
from taskiq.receiver import Receiver

from dashcore.domain.errors import DependencyUnavailable
from dashcore_app.brokers import check_provider_settings
from dashcore_app.providers import build_container
from dashcore_app.settings import Settings, StartupError
from dashcore_taskiq.brokers import start_broker
from dashcore_worker.registry import TaskRegistry
from dashcore_worker.schedule import build_scheduler

__all__ = ["run_worker", "serve_worker"]

_log = structlog.get_logger("dashcore_worker")

QUEUE_RETRY_SECONDS = 5.0
"""How often a worker whose queue stopped answering asks again."""


async def run_worker(
    container: AsyncContainer,
    settings: Settings,
    *,
    stop: asyncio.Event,
    concurrency: int = 10,
    scheduler: bool = True,
) -> None:
    """Take jobs from the broker until ``stop`` is set, then finish the running ones."""
    broker = await container.get(AsyncBroker)
    tasks = await container.get(TaskRegistry)
    _log.info(
        "worker_started",
        pid=os.getpid(),
        concurrency=concurrency,
        scheduler=scheduler,
        tasks=sorted(tasks.names),
    )
    async with contextlib.AsyncExitStack() as background:
        if scheduler:  # stops with the receiver: nothing is enqueued after a stop
            await background.enter_async_context(
                (await build_scheduler(container, settings)).running(stop)
            )
        await _take_jobs(broker, stop, concurrency)
    _log.info("worker_stopped", pid=os.getpid())


async def _take_jobs(broker: AsyncBroker, stop: asyncio.Event, concurrency: int) -> None:
    """Receive jobs until ``stop`` is set, through any number of queue outages."""
    from redis.exceptions import RedisError  # the worker extra, like the Redis queue itself

    while not stop.is_set():
        receiver = Receiver(
            broker, max_async_tasks=concurrency, run_startup=False, propagate_exceptions=False
        )
        try:
            await receiver.listen(stop)
        except* (RedisError, OSError) as outage:
            _log.warning(
                "worker_queue_unavailable",
                error=repr(outage.exceptions[0]),
                retry_in_s=QUEUE_RETRY_SECONDS,
            )
            await _until_queue_answers(broker, stop)


async def _until_queue_answers(broker: AsyncBroker, stop: asyncio.Event) -> None:
    """Wait until the broker starts again (its consumer group declared), or ``stop``."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), QUEUE_RETRY_SECONDS)
        if stop.is_set():
            return
        try:
            await start_broker(broker)
        except DependencyUnavailable:
            continue
        _log.info("worker_queue_recovered")
        return


def _awaited_frames(awaitable: object) -> Iterator[FrameType]:
    """The frames of a coroutine (or async generator) and of what it awaits, outermost first."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)


def _log_tasks() -> None:
    """Log every task of the running loop with the calls it waits in (SIGUSR1)."""
    for task in asyncio.all_tasks():
        _log.warning(
            "worker_task",
            task=task.get_name(),
            waiting_in=[
                f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}"
                for frame in _awaited_frames(task.get_coro())
            ],
        )


async def serve_worker(settings: Settings, *, concurrency: int, scheduler: bool) -> None:
    """The worker process's main: the container, the signals, the clean exit."""
    if settings.redis_url is None:
        raise StartupError(
            "dashcore worker takes jobs from Redis: set DASHCORE_REDIS_URL (without it, the API "
            "process runs the jobs and the schedules itself)"
        )
    check_provider_settings(settings)
    if settings.broker_sandboxes:
        _log.warning(
            "worker_sandboxes_private",
            detail="the broker sandboxes live inside each process: this worker's know none of "
            "the API's logins, so its syncs, refreshes and order polls are refused and mark "
            "connections needs_reauth; serve a shared sandbox (dashcore sandbox serve) instead",
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _log_tasks)
    container = build_container(settings)
    try:
        await run_worker(
            container, settings, stop=stop, concurrency=concurrency, scheduler=scheduler
        )
    finally:
        await container.close()
