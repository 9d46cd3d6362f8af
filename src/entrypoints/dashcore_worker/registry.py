"""The task registry: each task is one small async function, registered by name.

A task's parameters are its job arguments (JSON scalars, passed by keyword) and the use cases
it needs, typed ``FromDishka[...]``. Every run of a task gets a fresh dishka REQUEST scope,
which is one unit of work, and the use cases it asks for come from that scope::

    @job_task("challenge_cleanup")
    async def challenge_cleanup(forget: FromDishka[ForgetExpiredChallenges]) -> None:
        await forget()

Any error a task raises fails its job: the error is logged (redacted) with the job's id and
task name, once (``job_error``), and the job's status keeps only
:func:`~dashcore.domain.jobs.failure_summary` of it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from dishka import AsyncContainer
from dishka.integrations.taskiq import inject, setup_dishka
from taskiq import AsyncBroker, TaskiqMessage, TaskiqMiddleware, TaskiqResult

from dashcore.domain.jobs import failure_summary, parse_task_name
from dashcore.ports.clock import Clock
from dashcore_taskiq import JobFailed, JobStatuses, JobStatusMiddleware

__all__ = ["TASKS", "TaskRegistry", "install", "job_task", "load_tasks"]

TaskFunction = TypeVar("TaskFunction", bound=Callable[..., Awaitable[None]])

_log = structlog.get_logger("dashcore_worker")
_STARTED = "dashcore_job_started"
_RECEIVER_LOG = logging.getLogger("taskiq.receiver.receiver")


class TaskRegistry:
    """Task functions by name (``a-z 0-9 _``, unique)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[..., Awaitable[None]]] = {}

    def task(self, name: str) -> Callable[[TaskFunction], TaskFunction]:
        """Register the decorated function as the task ``name``."""
        parse_task_name(name)

        def register(function: TaskFunction) -> TaskFunction:
            if name in self._tasks:
                raise ValueError(f"two tasks are named {name!r}")
            self._tasks[name] = function
            return function

        return register

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def items(self) -> list[tuple[str, Callable[..., Awaitable[None]]]]:
        return sorted(self._tasks.items())


TASKS = TaskRegistry()
"""dashcore's tasks; each module of :mod:`dashcore_worker.tasks` adds its own."""

job_task = TASKS.task


def load_tasks() -> TaskRegistry:
    """:data:`TASKS`, once every module of the :mod:`dashcore_worker.tasks` package (where
    tasks register themselves) is imported. A new module there needs no other edit."""
    package = importlib.import_module("dashcore_worker.tasks")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return TASKS


def install(
    broker: AsyncBroker, tasks: TaskRegistry, container: AsyncContainer, clock: Clock
) -> None:
    """Register ``tasks`` on ``broker``: each run in its own REQUEST scope of ``container``,
    with its status kept and its log lines bound to the job."""
    setup_dishka(container, broker)
    _RECEIVER_LOG.addFilter(_unless_logged_as_job_error)
    broker.add_middlewares(
        JobStatusMiddleware(JobStatuses(broker.result_backend), clock), _JobLogContext()
    )
    for name, function in tasks.items():
        broker.register_task(inject(_failing_safely(function), patch_module=True), task_name=name)


def _failing_safely(function: TaskFunction) -> TaskFunction:
    @functools.wraps(function)
    async def run(*args: Any, **kwargs: Any) -> None:
        try:
            await function(*args, **kwargs)
        except Exception as error:
            _log.warning("job_error", error=repr(error))
            raise JobFailed(failure_summary(error)) from None

    return run  # type: ignore[return-value] # same parameters: functools.wraps


def _unless_logged_as_job_error(record: logging.LogRecord) -> bool:
    """Drop taskiq's error line (with the traceback of :class:`JobFailed`, which says nothing
    more) for a job whose error ``job_error`` logged already: one line per failed job, even
    when every job fails while the database is down."""
    return not (record.exc_info and isinstance(record.exc_info[1], JobFailed))


class _JobLogContext(TaskiqMiddleware):
    """Binds ``job_id`` and ``task`` to every log line of a job (each job runs in its own
    asyncio task, so the binding ends with it) and logs its start and end."""

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        structlog.contextvars.bind_contextvars(job_id=message.task_id, task=message.task_name)
        message.labels[_STARTED] = time.monotonic()
        _log.info("job_started")
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        seconds = round(time.monotonic() - float(message.labels.pop(_STARTED, time.monotonic())), 3)
        _log.info(
            "job_finished", status="failed" if result.is_err else "succeeded", seconds=seconds
        )
        structlog.contextvars.unbind_contextvars("job_id", "task")
