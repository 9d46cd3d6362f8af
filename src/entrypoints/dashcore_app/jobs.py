"""Background jobs (issue #7): the taskiq broker, the ``JobQueue`` and the schedule-tick claims.

With ``DASHCORE_REDIS_URL`` the broker is a Redis stream (``{prefix}{DASHCORE_JOBS_QUEUE}``)
whose jobs ``dashcore worker`` processes run, statuses and tick claims live in Redis; without
it, taskiq's in-memory broker runs each job in this process and claims stay in the process.
Either way every process registers the same tasks (:func:`dashcore_worker.registry.load_tasks`),
so any process can enqueue any of them by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import AsyncContainer, Provider, Scope, from_context, provide
from taskiq import AsyncBroker, TaskiqMessage

from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.jobs import JobQueue, ScheduleTicks
from dashcore_app.settings import Settings
from dashcore_taskiq import (
    InProcessScheduleTicks,
    TaskiqJobQueue,
    in_process_broker,
    start_broker,
    stop_broker,
)
from dashcore_worker.registry import TaskRegistry, install, load_tasks

__all__ = ["JobsProvider", "require_worker_extra"]


def require_worker_extra() -> None:
    """With Redis, jobs go through taskiq-redis: stop at start-up, with the fix, without it."""
    from dashcore_app.providers import require_extra  # (that module imports this one)

    require_extra("taskiq_redis", "worker", "DASHCORE_REDIS_URL is set")


class JobsProvider(Provider):
    message = from_context(provides=TaskiqMessage, scope=Scope.REQUEST)
    """The job being run, in a job's REQUEST scope (dishka's taskiq integration sets it)."""

    @provide(scope=Scope.APP)
    def tasks(self) -> TaskRegistry:
        return load_tasks()

    @provide(scope=Scope.APP)
    async def broker(
        self, settings: Settings, tasks: TaskRegistry, container: AsyncContainer, clock: Clock
    ) -> AsyncIterator[AsyncBroker]:
        if settings.redis_url is None:
            broker = in_process_broker()
        else:
            require_worker_extra()
            from dashcore_taskiq.streams import redis_broker  # only with the worker extra

            broker = redis_broker(
                settings.redis_url,
                queue=f"{settings.redis_prefix}{settings.jobs_queue}",
                status_prefix=f"{settings.redis_prefix}job",
                status_ttl_seconds=settings.jobs_status_ttl,
                redeliver_after_seconds=settings.jobs_redeliver_after,
            )
        install(broker, tasks, container, clock)
        try:
            await start_broker(broker)
        except Exception:  # Redis down: close the pools; the next use builds a new broker
            await broker.shutdown()
            raise
        yield broker
        await stop_broker(broker)

    @provide(scope=Scope.APP)
    def job_queue(self, broker: AsyncBroker, ids: IdGenerator, clock: Clock) -> JobQueue:
        return TaskiqJobQueue(broker, ids, clock)

    @provide(scope=Scope.APP)
    async def schedule_ticks(self, settings: Settings) -> AsyncIterator[ScheduleTicks]:
        if settings.redis_url is None:
            yield InProcessScheduleTicks()
            return
        from dashcore_taskiq.streams import RedisScheduleTicks  # only with the worker extra

        ticks = RedisScheduleTicks.from_url(settings.redis_url, prefix=settings.redis_prefix)
        yield ticks
        await ticks.close()
