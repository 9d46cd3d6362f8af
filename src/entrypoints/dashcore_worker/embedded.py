"""The jobs' part of the API process's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from dishka import AsyncContainer

from dashcore.ports.jobs import JobQueue
from dashcore_app.jobs import require_worker_extra
from dashcore_app.settings import Settings
from dashcore_worker.schedule import build_scheduler

__all__ = ["api_jobs"]


@contextlib.asynccontextmanager
async def api_jobs(container: AsyncContainer, settings: Settings) -> AsyncIterator[None]:
    """With Redis, the API process only enqueues (``dashcore worker`` processes run the jobs
    and the schedules): a missing ``worker`` extra stops the start; the queue connects at the
    first job, so an unreachable Redis only makes the API unready, as everywhere. Without
    Redis (the embedded default) the API process is its own worker: its in-process broker
    runs each job as soon as it is enqueued, and the schedules run here while the block runs."""
    if settings.redis_url is not None:
        require_worker_extra()
        yield
        return
    await container.get(JobQueue)
    async with (await build_scheduler(container, settings)).running():
        yield
