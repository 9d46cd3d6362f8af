"""Job statuses, kept in the broker's result backend and moved along by a worker middleware.

A status is written ``queued`` by :class:`~dashcore_taskiq.queue.TaskiqJobQueue` before the job
is sent (so a fast worker can never be overtaken by it), ``running`` when a worker starts it and
``succeeded`` or ``failed`` when the task returns, before the job is acknowledged. A job
delivered again after a crash starts over as ``running``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskiq import AsyncResultBackend, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.depends.progress_tracker import TaskProgress

from dashcore.domain.errors import DashcoreError, IntegrityError
from dashcore.domain.jobs import JobId, JobState, JobStatus, failure_summary
from dashcore.ports.clock import Clock

__all__ = ["JobFailed", "JobStatusMiddleware", "JobStatuses"]


class JobFailed(Exception):
    """Raised in place of a task's own error, its message being the status summary: taskiq
    stores the error a task raised, and only this summary may be stored."""


class JobStatuses:
    """Where each job stands, in the progress slot of a taskiq result backend (Redis, with the
    backend's TTL, or the in-memory backend of the embedded default)."""

    def __init__(self, backend: AsyncResultBackend[Any]) -> None:
        self._backend = backend

    async def get(self, job_id: JobId) -> JobState | None:
        progress = await self._backend.get_progress(job_id)
        if progress is None:
            return None
        return _decode(job_id, progress.meta)

    async def save(self, state: JobState) -> None:
        progress: TaskProgress[dict[str, str | None]] = TaskProgress(
            state=state.status.value, meta=_encode(state)
        )
        await self._backend.set_progress(state.id, progress)


class JobStatusMiddleware(TaskiqMiddleware):
    """Worker side: ``running`` before a job runs, ``succeeded``/``failed`` after."""

    def __init__(self, statuses: JobStatuses, clock: Clock) -> None:
        super().__init__()
        self._statuses = statuses
        self._clock = clock

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        await self._statuses.save(await self._running(message))
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        running = await self._running(message)
        now = self._clock.now()
        if result.is_err:
            finished = running.failed(_summary(result.error), now)
        else:
            finished = running.succeeded(now)
        await self._statuses.save(finished)

    async def _running(self, message: TaskiqMessage) -> JobState:
        job_id = JobId(message.task_id)
        known = await self._statuses.get(job_id)
        if known is None or known.status.is_final:  # expired, or delivered again after a crash
            known = JobState(job_id, message.task_name)
        return known.started()


def _summary(error: BaseException | None) -> str:
    if isinstance(error, JobFailed):
        return str(error)
    return failure_summary(error) if error is not None else "failed"


def _encode(state: JobState) -> dict[str, str | None]:
    return {
        "task": state.task,
        "status": state.status.value,
        "error": state.error,
        "finished_at": None if state.finished_at is None else state.finished_at.isoformat(),
    }


def _decode(job_id: JobId, meta: object) -> JobState:
    if not isinstance(meta, dict):
        raise IntegrityError("A stored job status is unreadable.")
    try:
        finished_at = meta["finished_at"]
        return JobState(
            id=job_id,
            task=str(meta["task"]),
            status=JobStatus(meta["status"]),
            error=meta["error"],
            finished_at=None if finished_at is None else datetime.fromisoformat(finished_at),
        )
    except (KeyError, TypeError, ValueError, DashcoreError) as exc:
        raise IntegrityError("A stored job status is unreadable.") from exc
