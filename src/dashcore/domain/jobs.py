"""Background jobs: work a use case hands to the job queue instead of doing it in the request.

A job runs one named task (``sync_connection``, ``run_export``, ``poll_orders``, …) with a few
keyword arguments that travel as JSON: strings, integers, booleans or ``None``. Identifiers,
amounts and instants go as strings (``str(run.id)``, ``str(amount)``, ISO 8601), never floats.

A job's life:

    queued ──► running ──► succeeded
       │         │  ▲
       │         │  └── running again (a crashed worker's job is delivered once more)
       │         ▼
       └────► failed (with an error summary safe to show: no secret, no token)

``succeeded`` and ``failed`` are final and carry ``finished_at``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import NewType, TypeAlias

from dashcore.domain.errors import Conflict, DashcoreError, InvalidInput
from dashcore.domain.time import ensure_utc

__all__ = [
    "JobArgument",
    "JobId",
    "JobState",
    "JobStatus",
    "failure_summary",
    "parse_job_arguments",
    "parse_task_name",
]

JobId = NewType("JobId", str)
"""The queue's identifier of one job (opaque text)."""

JobArgument: TypeAlias = str | int | bool | None
"""One keyword argument of a job, as it travels: JSON scalars, no floats."""

_TASK_NAME = re.compile(r"[a-z][a-z0-9_]{1,63}", re.ASCII)
_ARGUMENT_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}", re.ASCII)


def parse_task_name(text: str) -> str:
    """A task name (``challenge_cleanup``): 2-64 of ``a-z 0-9 _``, starting with a letter."""
    if not isinstance(text, str) or not _TASK_NAME.fullmatch(text):
        raise InvalidInput("Not a task name.", code="invalid_task_name", field="task")
    return text


def parse_job_arguments(arguments: Mapping[str, object]) -> dict[str, JobArgument]:
    """The keyword arguments of a job, checked to travel as JSON unchanged."""
    checked: dict[str, JobArgument] = {}
    for name, value in arguments.items():
        if not _ARGUMENT_NAME.fullmatch(name):
            raise InvalidInput("Not an argument name.", code="invalid_job_argument", field=name)
        if value is not None and not isinstance(value, str | int):  # bool is an int
            raise InvalidInput(
                "A job argument is a string, an integer, a boolean or null.",
                code="invalid_job_argument",
                field=name,
            )
        checked[name] = value
    return checked


def failure_summary(error: BaseException) -> str:
    """What a failed job's status says about ``error``, for anyone who may read job statuses.

    A domain error's code and message are written for people and carry no secret, so they are
    shown. Any other error's text may carry anything (a URL with a token, a SQL statement with
    values), so only its kind is shown; the full error goes to the (redacted) log.
    """
    if isinstance(error, DashcoreError):
        return f"{error.code}: {error.message}"
    return type(error).__name__


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class JobState:
    """Where one job stands. ``error`` only on ``failed``; ``finished_at`` exactly when final."""

    id: JobId
    task: str
    status: JobStatus = JobStatus.QUEUED
    error: str | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status.is_final != (self.finished_at is not None):
            raise InvalidInput("A job has a finish time exactly when it is finished.")
        if (self.status is JobStatus.FAILED) != (self.error is not None):
            raise InvalidInput("A job carries an error exactly when it failed.")
        if self.finished_at is not None:
            object.__setattr__(
                self, "finished_at", ensure_utc(self.finished_at, field="finished_at")
            )

    def started(self) -> JobState:
        return self._to(JobStatus.RUNNING)

    def succeeded(self, at: datetime) -> JobState:
        return self._to(JobStatus.SUCCEEDED, finished_at=at)

    def failed(self, error: str, at: datetime) -> JobState:
        return self._to(JobStatus.FAILED, error=error or "failed", finished_at=at)

    def _to(
        self, status: JobStatus, *, error: str | None = None, finished_at: datetime | None = None
    ) -> JobState:
        if status not in _TRANSITIONS[self.status]:
            raise Conflict(
                f"A {self.status} job cannot become {status}.", code="job_state_conflict"
            )
        return replace(self, status=status, error=error, finished_at=finished_at)
