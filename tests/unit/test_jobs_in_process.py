"""Jobs end to end on the embedded default (issue #7): taskiq's in-memory broker runs each job
in this process, in its own dishka REQUEST scope, and its status follows it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from uuid import uuid4

import pytest
import structlog
from dishka import AsyncContainer, FromDishka, Provider, Scope, provide
from structlog.testing import capture_logs
from taskiq import AsyncBroker, InMemoryBroker, TaskiqMessage

from dashcore.domain.errors import Conflict, InvalidInput, NotFound
from dashcore.domain.jobs import JobId, JobStatus
from dashcore.domain.mfa import (
    AMR_PASSWORD,
    ChallengeKind,
    ChallengePolicy,
    LoginChallenge,
    new_challenge_handle,
)
from dashcore.ports.clock import Clock
from dashcore.ports.jobs import JobQueue
from dashcore.ports.mfa import LoginChallengeRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.testing.clock import FakeClock
from dashcore_app.providers import build_container
from dashcore_app.settings import MailerKind, Settings
from dashcore_security import KeyRing
from dashcore_worker.embedded import api_jobs
from dashcore_worker.registry import TaskRegistry, load_tasks


@dataclass
class Visit:
    """Made once per REQUEST scope: tells the scopes (units of work) of two runs apart."""

    number: int


@dataclass
class Notebook:
    """What the test tasks saw."""

    calls: list[tuple[str, int, bool, str | None, int, str]] = field(default_factory=list)


TASKS = TaskRegistry()


@TASKS.task("remember")
async def remember(
    note: str,
    count: int,
    notebook: FromDishka[Notebook],
    visit: FromDishka[Visit],
    message: FromDishka[TaskiqMessage],
    flag: bool = False,
    extra: str | None = None,
) -> None:
    notebook.calls.append((note, count, flag, extra, visit.number, message.task_id))


@TASKS.task("refuse")
async def refuse() -> None:
    raise Conflict("This export is already running.", code="export_running")


@TASKS.task("crash")
async def crash() -> None:
    raise RuntimeError("GET https://broker.example/x?access_token=s3cr3t-token failed")


class JobsUnderTest(Provider):
    def __init__(self, clock: FakeClock, tasks: TaskRegistry) -> None:
        super().__init__()
        self._clock = clock
        self._tasks = tasks
        self._visits = itertools.count(1)

    @provide(scope=Scope.APP)
    def clock(self) -> Clock:
        return self._clock

    @provide(scope=Scope.APP)
    def tasks(self) -> TaskRegistry:
        return self._tasks

    @provide(scope=Scope.APP)
    def notebook(self) -> Notebook:
        return Notebook()

    @provide(scope=Scope.REQUEST)
    def visit(self) -> Visit:
        return Visit(next(self._visits))


@pytest.fixture
def settings() -> Settings:
    return Settings(
        database_url="memory://",
        vault_keys=KeyRing.generate().to_env_value(),
        hash_profile="test",
        mailer=MailerKind.MEMORY,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def container(settings: Settings, clock: FakeClock) -> AsyncIterator[AsyncContainer]:
    tasks = TaskRegistry()
    for name, function in [*load_tasks().items(), *TASKS.items()]:
        tasks.task(name)(function)
    built = build_container(settings, JobsUnderTest(clock, tasks))
    yield built
    await built.close()


async def finished(container: AsyncContainer) -> JobQueue:
    """The queue, once every job enqueued so far has run."""
    broker = await container.get(AsyncBroker)
    assert isinstance(broker, InMemoryBroker)
    await broker.wait_all()
    jobs: JobQueue = await container.get(JobQueue)
    return jobs


async def test_a_job_runs_with_its_arguments_and_succeeds(
    container: AsyncContainer, clock: FakeClock
) -> None:
    jobs = await container.get(JobQueue)
    job = await jobs.enqueue("remember", note="ünïcode ✓", count=2**53 + 1, flag=True)
    assert (await jobs.status(job)).status is JobStatus.QUEUED
    clock.advance(seconds=3)
    state = await (await finished(container)).status(job)
    assert (state.id, state.task, state.status) == (job, "remember", JobStatus.SUCCEEDED)
    assert (state.error, state.finished_at) == (None, clock.now())
    notebook = await container.get(Notebook)
    assert notebook.calls == [("ünïcode ✓", 2**53 + 1, True, None, 1, job)]


async def test_each_run_has_its_own_scope(container: AsyncContainer) -> None:
    jobs = await container.get(JobQueue)
    first = await jobs.enqueue("remember", note="a", count=1)
    second = await jobs.enqueue("remember", note="b", count=2, extra=None)
    await finished(container)
    calls = (await container.get(Notebook)).calls
    assert {(call[0], call[5]) for call in calls} == {("a", first), ("b", second)}
    assert sorted(call[4] for call in calls) == [1, 2]
    assert first != second


async def test_a_domain_error_fails_the_job_with_its_code_and_message(
    container: AsyncContainer, clock: FakeClock
) -> None:
    jobs = await container.get(JobQueue)
    job = await jobs.enqueue("refuse")
    state = await (await finished(container)).status(job)
    assert state.status is JobStatus.FAILED
    assert state.error == "export_running: This export is already running."
    assert state.finished_at == clock.now()


async def test_any_other_error_fails_the_job_keeping_its_text_out_of_the_status(
    container: AsyncContainer,
) -> None:
    jobs = await container.get(JobQueue)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        job = await jobs.enqueue("crash")
        state = await (await finished(container)).status(job)
    assert (state.status, state.error) == (JobStatus.FAILED, "RuntimeError")
    stored = await (await container.get(AsyncBroker)).result_backend.get_result(job)
    assert "s3cr3t" not in repr(stored)
    [error] = [line for line in logs if line["event"] == "job_error"]
    assert (error["job_id"], error["task"]) == (job, "crash")
    assert "RuntimeError" in error["error"]
    finished_lines = [line for line in logs if line["event"] == "job_finished"]
    assert [(line["status"], line["job_id"], line["task"]) for line in finished_lines] == [
        ("failed", job, "crash")
    ]


async def test_an_unknown_task_is_refused_and_nothing_is_queued(
    container: AsyncContainer,
) -> None:
    jobs = await container.get(JobQueue)
    with pytest.raises(NotFound) as refused:
        await jobs.enqueue("no_such_task")
    assert refused.value.code == "unknown_task"


async def test_arguments_that_are_not_json_scalars_are_refused(container: AsyncContainer) -> None:
    jobs = await container.get(JobQueue)
    with pytest.raises(InvalidInput) as refused:
        await jobs.enqueue("remember", note="a", count=1.5)
    assert [error.field for error in refused.value.errors] == ["count"]
    with pytest.raises(InvalidInput):
        await jobs.enqueue("Remember")


@pytest.mark.parametrize(
    "job_id", ["01a20000-0000-7000-8000-000000000001", "not-a-job", "", "../../etc"]
)
async def test_an_unknown_job_id_is_not_found(container: AsyncContainer, job_id: str) -> None:
    with pytest.raises(NotFound) as refused:
        await (await container.get(JobQueue)).status(JobId(job_id))
    assert refused.value.code == "job_not_found"


async def test_the_api_process_runs_the_schedules_and_their_jobs_itself(
    container: AsyncContainer, settings: Settings, clock: FakeClock
) -> None:
    """Embedded default: the first tick of every schedule runs at start-up, in-process;
    challenge_cleanup forgets the challenges that expired."""
    async with container() as scope:
        expired = LoginChallenge.open(
            new_challenge_handle(),
            ChallengeKind.SECOND_FACTOR,
            uuid4(),
            clock.now() - timedelta(hours=1),
            ChallengePolicy(),
            amr=(AMR_PASSWORD,),
        )
        await (await scope.get(LoginChallengeRepository)).add(expired)
        await (await scope.get(UnitOfWork)).commit()
    with capture_logs() as logs:
        async with api_jobs(container, settings):
            await finished(container)
    ticks = {line["task"]: line["job_id"] for line in logs if line["event"] == "schedule_tick"}
    ours = ("refresh_connections", "reauth_warnings", "challenge_cleanup")
    jobs = await container.get(JobQueue)
    for task in ours:
        assert (await jobs.status(ticks[task])).status is JobStatus.SUCCEEDED, task
    async with container() as scope:
        assert await (await scope.get(LoginChallengeRepository)).get(expired.handle_hash) is None


async def test_with_redis_the_api_process_leaves_schedules_to_workers(
    container: AsyncContainer, settings: Settings
) -> None:
    with capture_logs() as logs:
        async with api_jobs(container, replace(settings, redis_url="redis://127.0.0.1:1/0")):
            pass
    assert [line for line in logs if line["event"].startswith("schedule")] == []
