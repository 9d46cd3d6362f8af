"""``JobQueue`` over taskiq: a job is a taskiq message for a task found by name."""

from __future__ import annotations

import contextlib
import re

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

from dashcore.domain.errors import DependencyUnavailable, NotFound
from dashcore.domain.jobs import (
    JobArgument,
    JobId,
    JobState,
    parse_job_arguments,
    parse_task_name,
)
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.jobs import JobQueue
from dashcore_taskiq.errors import queue_unavailable
from dashcore_taskiq.statuses import JobStatuses

__all__ = ["TaskiqJobQueue"]

_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


class TaskiqJobQueue(JobQueue):
    """Sends jobs to ``broker`` by task name. A name is known when a task of that name is
    registered on the broker: the same tasks are registered in every process, API or worker.
    Job ids are the ``IdGenerator``'s UUIDs (time-ordered), as text."""

    def __init__(self, broker: AsyncBroker, ids: IdGenerator, clock: Clock) -> None:
        self._broker = broker
        self._ids = ids
        self._clock = clock
        self._statuses = JobStatuses(broker.result_backend)

    async def enqueue(self, task: str, /, **arguments: JobArgument) -> JobId:
        name = parse_task_name(task)
        checked = parse_job_arguments(arguments)
        registered = self._broker.find_task(name)
        if registered is None:
            raise NotFound(f"No task is named {name!r}.", code="unknown_task")
        queued = JobState(JobId(str(self._ids.new_id())), name)
        with queue_unavailable():
            await self._statuses.save(queued)
        try:
            with queue_unavailable():
                kicker: AsyncKicker[..., object] = AsyncKicker(
                    name, self._broker, dict(registered.labels)
                )
                await kicker.with_task_id(queued.id).kiq(**checked)
        except DependencyUnavailable:
            with contextlib.suppress(Exception):  # best effort: the queue is failing already
                await self._statuses.save(queued.failed("not queued", self._clock.now()))
            raise
        return queued.id

    async def status(self, job_id: JobId) -> JobState:
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise NotFound("No job has this id.", code="job_not_found")
        with queue_unavailable():
            state = await self._statuses.get(job_id)
        if state is None:
            raise NotFound("No job has this id.", code="job_not_found")
        return state
