"""The ``JobQueue`` contract (issue #7), over taskiq's in-memory broker (the embedded default)
and the Redis Streams broker with a worker (a taskiq receiver) in this process.

A job is ``queued`` as soon as ``enqueue`` returns, runs once with the arguments it was given,
and ends ``succeeded`` or ``failed`` with a summary safe to show. Redis adds what only a shared
queue has: jobs queued before any worker existed, acknowledged jobs leaving the stream, a job
whose worker died running again elsewhere, and an unreachable Redis reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from dishka import (
    AsyncContainer,
    FromDishka,
    Provider,
    Scope,
    from_context,
    make_async_container,
    provide,
)
from redis.asyncio import Redis
from taskiq import AsyncBroker, TaskiqMessage
from taskiq.receiver import Receiver
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from dashcore.domain.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound
from dashcore.domain.jobs import JobArgument, JobId, JobState, JobStatus
from dashcore.ports.jobs import JobQueue
from dashcore.testing.clock import FakeClock
from dashcore_system import Uuid7Generator
from dashcore_taskiq import TaskiqJobQueue, in_process_broker, start_broker, stop_broker
from dashcore_taskiq.streams import CONSUMER_GROUP, redis_broker
from dashcore_worker.registry import TaskRegistry, install
from tests.contract.sessions_support import BACKENDS
from tests.services import delete_prefix

BOUND = 10.0
"""How long a test waits for an outcome that should come within a fraction of a second."""


@dataclass
class Notebook:
    calls: list[dict[str, JobArgument]] = field(default_factory=list)


TASKS = TaskRegistry()


@TASKS.task("record")
async def record(
    notebook: FromDishka[Notebook],
    text: str = "",
    number: int = 0,
    flag: bool = False,
    nothing: str | None = "unset",
) -> None:
    notebook.calls.append({"text": text, "number": number, "flag": flag, "nothing": nothing})


@TASKS.task("refuse")
async def refuse() -> None:
    raise Conflict("Someone else is on it.", code="busy")


@TASKS.task("crash")
async def crash() -> None:
    raise KeyError("api_secret=hunter2")


class TaskDependencies(Provider):
    message = from_context(provides=TaskiqMessage, scope=Scope.REQUEST)

    @provide(scope=Scope.APP)
    def notebook(self) -> Notebook:
        return Notebook()


@dataclass
class QueueHarness:
    name: str
    jobs: JobQueue
    broker: AsyncBroker
    container: AsyncContainer
    clock: FakeClock
    worker: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    redis: Redis | None = None
    queue: str = ""

    async def notebook(self) -> Notebook:
        return await self.container.get(Notebook)

    async def settled(self, job: JobId) -> JobState:
        """The job's status once it has finished (a Redis worker starts at the first call)."""
        if self.redis is None:
            await self.broker.wait_all()  # type: ignore[attr-defined] # the in-memory broker
            return await self.jobs.status(job)
        if self.worker is None:
            self.worker = start_worker(self.broker, self.stop)
        return await finished(self.jobs, job)


def start_worker(broker: AsyncBroker, stop: asyncio.Event) -> asyncio.Task[None]:
    receiver = Receiver(broker, max_async_tasks=4, run_startup=False, propagate_exceptions=False)
    return asyncio.create_task(receiver.listen(stop))


async def finished(jobs: JobQueue, job: JobId) -> JobState:
    deadline = time.monotonic() + BOUND
    while not (state := await jobs.status(job)).status.is_final:
        assert time.monotonic() < deadline, f"job {job} still {state.status}"
        await asyncio.sleep(0.02)
    return state


def redis_queue(url: str, prefix: str, *, redeliver_after: int = 600) -> AsyncBroker:
    return redis_broker(
        url,
        queue=f"{prefix}jobs",
        status_prefix=f"{prefix}job",
        status_ttl_seconds=3600,
        redeliver_after_seconds=redeliver_after,
    )


@contextlib.asynccontextmanager
async def serving(broker: AsyncBroker, clock: FakeClock) -> AsyncIterator[AsyncContainer]:
    container = make_async_container(TaskDependencies())
    install(broker, TASKS, container, clock)
    await start_broker(broker)
    try:
        yield container
    finally:
        await stop_broker(broker)
        await container.close()


@contextlib.asynccontextmanager
async def open_harness(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[QueueHarness]:
    clock = FakeClock()
    if kind == "memory":
        broker = in_process_broker()
        async with serving(broker, clock) as container:
            yield QueueHarness(
                "memory", TaskiqJobQueue(broker, Uuid7Generator(), clock), broker, container, clock
            )
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    broker = redis_queue(url, prefix)
    client = Redis.from_url(url)
    try:
        async with serving(broker, clock) as container:
            harness = QueueHarness(
                "redis",
                TaskiqJobQueue(broker, Uuid7Generator(), clock),
                broker,
                container,
                clock,
                redis=client,
                queue=f"{prefix}jobs",
            )
            try:
                yield harness
            finally:
                harness.stop.set()
                if harness.worker is not None:
                    await asyncio.wait_for(harness.worker, BOUND)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[QueueHarness]:
    async with open_harness(request, request.param) as opened:
        yield opened


@pytest.fixture
async def redis_harness(request: pytest.FixtureRequest) -> AsyncIterator[QueueHarness]:
    async with open_harness(request, "redis") as opened:
        yield opened


async def test_a_job_is_queued_once_enqueue_returns(harness: QueueHarness) -> None:
    job = await harness.jobs.enqueue("record", text="hello")
    assert uuid.UUID(job).version == 7
    state = await harness.jobs.status(job)
    assert (state.id, state.task, state.status) == (job, "record", JobStatus.QUEUED)
    assert (state.error, state.finished_at) == (None, None)


async def test_a_job_runs_once_with_its_arguments_and_succeeds(harness: QueueHarness) -> None:
    job = await harness.jobs.enqueue(
        "record", text="Zürich — 東京 ✓", number=-(2**63), flag=True, nothing=None
    )
    state = await harness.settled(job)
    assert (state.status, state.error, state.finished_at) == (
        JobStatus.SUCCEEDED,
        None,
        harness.clock.now(),
    )
    assert (await harness.notebook()).calls == [
        {"text": "Zürich — 東京 ✓", "number": -(2**63), "flag": True, "nothing": None}
    ]


async def test_many_jobs_each_run_once(harness: QueueHarness) -> None:
    jobs = [await harness.jobs.enqueue("record", number=n) for n in range(25)]
    assert len(set(jobs)) == 25
    for job in jobs:
        assert (await harness.settled(job)).status is JobStatus.SUCCEEDED
    numbers = [call["number"] for call in (await harness.notebook()).calls]
    assert sorted(n for n in numbers if isinstance(n, int)) == list(range(25))
    assert len(numbers) == 25


async def test_a_domain_error_fails_the_job_with_its_code_and_message(
    harness: QueueHarness,
) -> None:
    state = await harness.settled(await harness.jobs.enqueue("refuse"))
    assert (state.status, state.error) == (JobStatus.FAILED, "busy: Someone else is on it.")
    assert state.finished_at == harness.clock.now()


async def test_another_error_fails_the_job_naming_only_its_kind(harness: QueueHarness) -> None:
    job = await harness.jobs.enqueue("crash")
    state = await harness.settled(job)
    assert (state.status, state.error) == (JobStatus.FAILED, "KeyError")
    stored = await harness.broker.result_backend.get_result(job)
    assert "hunter2" not in repr(stored)


async def test_unknown_tasks_and_bad_arguments_are_refused(harness: QueueHarness) -> None:
    with pytest.raises(NotFound) as unknown:
        await harness.jobs.enqueue("no_such_task", text="x")
    assert unknown.value.code == "unknown_task"
    with pytest.raises(InvalidInput) as bad:
        await harness.jobs.enqueue("record", number=0.5)  # type: ignore[arg-type]
    assert [error.field for error in bad.value.errors] == ["number"]


async def test_an_unknown_job_is_not_found(harness: QueueHarness) -> None:
    for job in (str(uuid.uuid4()), "x", "01a20000-0000-7000-8000-00000000000G"):
        with pytest.raises(NotFound):
            await harness.jobs.status(JobId(job))


# ------------------------------------------------------------------------------ Redis only


@pytest.mark.redis
async def test_a_job_queued_before_any_worker_existed_still_runs(
    redis_server_url: str, redis_prefix: str
) -> None:
    clock = FakeClock()
    sender = redis_queue(redis_server_url, redis_prefix)
    client = Redis.from_url(redis_server_url)
    try:
        async with serving(sender, clock):
            await client.delete(f"{redis_prefix}jobs")  # no stream, no consumer group yet
            job = await TaskiqJobQueue(sender, Uuid7Generator(), clock).enqueue("record")
        assert await client.xlen(f"{redis_prefix}jobs") == 1
        worker_broker = redis_queue(redis_server_url, redis_prefix)
        async with serving(worker_broker, clock) as container:
            stop = asyncio.Event()
            worker = start_worker(worker_broker, stop)
            jobs = TaskiqJobQueue(worker_broker, Uuid7Generator(), clock)
            assert (await finished(jobs, job)).status is JobStatus.SUCCEEDED
            stop.set()
            await asyncio.wait_for(worker, BOUND)
            assert len((await container.get(Notebook)).calls) == 1
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()


@pytest.mark.redis
async def test_acknowledged_jobs_leave_the_stream(redis_harness: QueueHarness) -> None:
    harness = redis_harness
    assert harness.redis is not None
    jobs = [await harness.jobs.enqueue("record", number=n) for n in range(3)]
    assert await harness.redis.xlen(harness.queue) == 3
    for job in jobs:
        await harness.settled(job)
    deadline = time.monotonic() + BOUND
    while await harness.redis.xlen(harness.queue):  # acknowledged right after the status
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    pending = await harness.redis.xpending(harness.queue, CONSUMER_GROUP)
    assert pending["pending"] == 0


@pytest.mark.redis
async def test_a_job_whose_worker_died_runs_again_on_another(
    redis_server_url: str, redis_prefix: str
) -> None:
    """A worker took the job (XREADGROUP) and died before acknowledging it. Once it has been
    pending for ``redeliver_after`` seconds, another worker claims and runs it. (taskiq-redis
    reclaims after reading a new job, so a second job is sent to wake the living worker.)"""
    clock = FakeClock()
    broker = redis_queue(redis_server_url, redis_prefix, redeliver_after=1)
    client = Redis.from_url(redis_server_url)
    try:
        async with serving(broker, clock) as container:
            jobs = TaskiqJobQueue(broker, Uuid7Generator(), clock)
            orphan = await jobs.enqueue("record", text="orphan")
            taken = await client.xreadgroup(
                CONSUMER_GROUP, "dead-worker", {f"{redis_prefix}jobs": ">"}, count=1
            )
            assert [len(messages) for _, messages in taken] == [1]
            stop = asyncio.Event()
            worker = start_worker(broker, stop)
            deadline = time.monotonic() + BOUND
            while (await jobs.status(orphan)).status is not JobStatus.SUCCEEDED:
                assert time.monotonic() < deadline, "the orphaned job never ran again"
                await finished(jobs, await jobs.enqueue("record", text="wake-up"))
            stop.set()
            await asyncio.wait_for(worker, BOUND)
            texts = [call["text"] for call in (await container.get(Notebook)).calls]
            assert texts.count("orphan") == 1
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()


async def acknowledged(client: Redis, queue: str) -> None:
    """Once every job read from ``queue`` has been acknowledged (and so left the stream)."""
    deadline = time.monotonic() + BOUND
    while await client.xlen(queue):
        assert time.monotonic() < deadline, "a job was never acknowledged"
        await asyncio.sleep(0.02)


async def close_idle_connections(broker: AsyncBroker, killer: Redis) -> None:
    """Close the idle pooled connection of the broker and of its result backend from the server
    side, as a Redis restart does (the test Redis is shared: no restart, no other client)."""
    assert isinstance(broker, RedisStreamBroker)
    backend = broker.result_backend
    assert isinstance(backend, RedisAsyncResultBackend)
    for pool in (broker.connection_pool, backend.redis_pool):
        async with Redis(connection_pool=pool) as pooled:
            connection = await pooled.client_id()
        assert await killer.client_kill_filter(_id=connection) == 1


@pytest.mark.redis
async def test_after_redis_closed_its_connections_the_next_job_is_queued(
    redis_harness: QueueHarness,
) -> None:
    """After a Redis restart the first enqueue used to fail ("Connection closed by server",
    503 ``job_queue``) although Redis was back."""
    harness = redis_harness
    assert harness.redis is not None
    await harness.settled(await harness.jobs.enqueue("record", text="before"))
    await acknowledged(harness.redis, harness.queue)
    await close_idle_connections(harness.broker, harness.redis)

    job = await harness.jobs.enqueue("record", text="after")
    assert (await harness.settled(job)).status is JobStatus.SUCCEEDED


@pytest.mark.redis
async def test_after_redis_closed_its_connections_a_worker_runs_the_next_job(
    redis_server_url: str, redis_prefix: str
) -> None:
    """After a Redis restart a worker read the next job and failed to mark it ``running``, so
    the job did not start until its redelivery (``redeliver_after`` later)."""
    clock = FakeClock()
    sender = redis_queue(redis_server_url, redis_prefix)
    worker_broker = redis_queue(redis_server_url, redis_prefix)
    client = Redis.from_url(redis_server_url)
    try:
        async with serving(sender, clock), serving(worker_broker, clock) as container:
            jobs = TaskiqJobQueue(sender, Uuid7Generator(), clock)
            stop = asyncio.Event()
            worker = start_worker(worker_broker, stop)
            assert (await finished(jobs, await jobs.enqueue("record", text="before"))).status is (
                JobStatus.SUCCEEDED
            )
            await acknowledged(client, f"{redis_prefix}jobs")
            await close_idle_connections(worker_broker, client)

            after = await finished(jobs, await jobs.enqueue("record", text="after"))
            assert after.status is JobStatus.SUCCEEDED
            await acknowledged(client, f"{redis_prefix}jobs")
            stop.set()
            await asyncio.wait_for(worker, BOUND)
            texts = [call["text"] for call in (await container.get(Notebook)).calls]
            assert texts == ["before", "after"]
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()


async def test_an_unreachable_redis_is_reported_and_nothing_is_queued() -> None:
    clock = FakeClock()
    broker = redis_queue("redis://127.0.0.1:1/0", "test:unreachable:")
    container = make_async_container(TaskDependencies())
    install(broker, TASKS, container, clock)
    jobs = TaskiqJobQueue(broker, Uuid7Generator(), clock)
    try:
        with pytest.raises(DependencyUnavailable):
            await start_broker(broker)
        with pytest.raises(DependencyUnavailable):
            await jobs.enqueue("record")
        with pytest.raises(DependencyUnavailable):
            await jobs.status(JobId(str(uuid.uuid4())))
    finally:
        await broker.shutdown()
        await container.close()
