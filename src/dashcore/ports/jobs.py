"""The job queue: how a use case hands work to the background workers (issue #7).

A use case enqueues a task **by name** with JSON-scalar keyword arguments and keeps the job id
(to show it to the caller or store it next to its own record)::

    job = await jobs.enqueue("sync_connection", run_id=str(run.id))

The task runs later, at least once, in a worker (or in-process on the embedded default), in its
own unit of work; a task must therefore be idempotent. ``status`` tells where the job stands.
"""

from __future__ import annotations

from typing import Protocol

from dashcore.domain.jobs import JobArgument, JobId, JobState

__all__ = ["JobQueue", "ScheduleTicks"]


class JobQueue(Protocol):
    async def enqueue(self, task: str, /, **arguments: JobArgument) -> JobId:
        """Queue one run of ``task`` and return its job id; the job is ``queued`` from now on.

        Raises ``InvalidInput`` for a malformed task name or argument, ``NotFound`` (code
        ``unknown_task``) for a task no worker knows, ``DependencyUnavailable`` when the queue
        cannot be reached (nothing was queued then)."""
        ...

    async def status(self, job_id: JobId) -> JobState:
        """Where the job stands. Raises ``NotFound`` for an unknown id or one whose record has
        expired (records are kept for a configurable time after the job was queued)."""
        ...


class ScheduleTicks(Protocol):
    """Claims of scheduled ticks, shared by every process that runs a scheduler.

    A schedule's time is cut into numbered ticks; whoever claims a tick first enqueues that
    tick's job, so a schedule runs once per tick however many schedulers are running."""

    async def claim(self, schedule: str, tick: int, *, hold_seconds: float) -> bool:
        """``True`` for the first claim of ``tick`` of ``schedule``, ``False`` for every later
        one within ``hold_seconds`` (long enough for every scheduler to have passed the tick).
        Raises ``DependencyUnavailable`` when the shared store cannot be reached."""
        ...
