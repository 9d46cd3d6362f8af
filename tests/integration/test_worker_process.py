"""``dashcore worker`` as operators run it: separate OS processes on PostgreSQL and Redis.

Each database is a private schema owned by a role of the same name: PostgreSQL's default
``search_path`` (``"$user", public``) puts that schema first for every connection of the role,
so a worker process reaches it from a plain ``DASHCORE_DATABASE_URL``. Each test has its own
Redis key prefix, hence its own queue. Nothing sleeps for timing: tests poll for an outcome
with a short interval and a generous deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from click.testing import CliRunner
from redis.asyncio import Redis

from dashcore.domain.jobs import JobId, JobState, JobStatus
from dashcore.domain.mfa import ChallengeKind, ChallengePolicy, LoginChallenge, new_challenge_handle
from dashcore.ports.clock import Clock
from dashcore.ports.jobs import JobQueue
from dashcore.ports.mfa import LoginChallengeRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app import Dashcore
from dashcore_app.settings import LogFormat, Settings
from dashcore_cli.main import cli
from dashcore_security import KeyRing
from dashcore_sql import create_engine
from tests.contract.people import person
from tests.migrated import migrate
from tests.services import delete_prefix

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DASHCORE = [sys.executable, "-m", "dashcore_cli"]
BOUND = 60.0
"""How long a test waits for what should come within a second or two (process start-up
on a busy two-core machine included)."""
POLL = 0.02


# ------------------------------------------------------------------------------ fixtures


@dataclass(frozen=True, slots=True)
class RoleDatabase:
    url: str
    schema: str


@pytest.fixture
async def role_database(postgres_url: str) -> AsyncIterator[RoleDatabase]:
    """A migrated schema reached through the URL of a role named like it."""
    admin_dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name, password = f"t_{uuid.uuid4().hex[:16]}", secrets.token_hex(16)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    await admin.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
    parts = urlsplit(postgres_url)
    netloc = f"{name}:{password}@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit(parts._replace(netloc=netloc))
    try:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield RoleDatabase(url, name)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()


def dsn(database: RoleDatabase) -> str:
    return database.url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
def settings(role_database: RoleDatabase, redis_server_url: str, redis_prefix: str) -> Settings:
    return Settings(
        database_url=role_database.url,
        redis_url=redis_server_url,
        redis_prefix=redis_prefix,
        vault_keys=KeyRing.generate().to_env_value(),
        log_format=LogFormat.JSON,
        hash_profile="test",
    )


@pytest.fixture
def worker_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.redis_url is not None and settings.vault_keys is not None
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DASHCORE_")}
    return {
        **inherited,
        "DASHCORE_DATA_DIR": str(tmp_path / "var"),
        "DASHCORE_DATABASE_URL": settings.database_url,
        "DASHCORE_REDIS_URL": settings.redis_url,
        "DASHCORE_REDIS_PREFIX": settings.redis_prefix,
        "DASHCORE_VAULT_KEYS": settings.vault_keys,
        "DASHCORE_LOG_FORMAT": "json",
        "DASHCORE_LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def core(settings: Settings, redis_server_url: str) -> AsyncIterator[Dashcore]:
    """This process's view: it enqueues and reads statuses as an API process would."""
    opened = Dashcore.open(settings)
    try:
        yield opened
    finally:
        await opened.close()
        client = Redis.from_url(redis_server_url)
        await delete_prefix(client, settings.redis_prefix)
        await client.aclose()


class WorkerProcess:
    """One ``dashcore worker`` process; its JSON log lines are collected as they come."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [*DASHCORE, "worker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("event") == event]

    async def until(self, found: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + BOUND
        while not (result := found()):
            if self.process.poll() is not None and not found():
                self._reader.join(5)
                pytest.fail(f"worker exited ({self.process.returncode}) before {what}:\n{self.log}")
            assert time.monotonic() < deadline, f"no {what} within {BOUND}s:\n{self.log}"
            await asyncio.sleep(POLL)
        return result

    async def started(self) -> WorkerProcess:
        await self.until(lambda: self.events("worker_started"), "worker_started")
        return self

    async def terminated(self) -> int:
        """SIGTERM, then the exit code once the process has ended (a worker that does not end
        in time fails the test with its last log lines)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(self.process.wait, BOUND)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)  # where each of its tasks waits
            await asyncio.sleep(2)
            waiting = "".join(line for line in self.raw if '"worker_task"' in line)
            pytest.fail(f"worker still running {BOUND}s after SIGTERM:\n{self.log}\n{waiting}")
        self._reader.join(5)
        return code

    @property
    def log(self) -> str:
        return "".join(self.raw[-40:])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def workers(worker_env: dict[str, str]) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(env or worker_env, *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


async def settled(core: Dashcore, job: JobId) -> JobState:
    jobs = await core.get(JobQueue)
    deadline = time.monotonic() + BOUND
    while not (state := await jobs.status(job)).status.is_final:
        assert time.monotonic() < deadline, f"job {job} still {state.status}"
        await asyncio.sleep(POLL)
    return state


async def add_challenges(core: Dashcore) -> tuple[LoginChallenge, LoginChallenge]:
    """One login challenge that expired an hour ago, one still open."""
    now = (await core.get(Clock)).now()
    owner = person(1, now)
    policy = ChallengePolicy()
    expired, open_ = (
        LoginChallenge.open(
            new_challenge_handle(), ChallengeKind.SECOND_FACTOR, owner.id, at, policy
        )
        for at in (now - timedelta(hours=1), now)
    )
    async with core.scope() as scope:
        await (await scope.get(UserRepository)).add(owner)
        challenges = await scope.get(LoginChallengeRepository)
        await challenges.add(expired)
        await challenges.add(open_)
        await (await scope.get(UnitOfWork)).commit()
    return expired, open_


async def stored(core: Dashcore, challenge: LoginChallenge) -> bool:
    async with core.scope() as scope:
        return (
            await (await scope.get(LoginChallengeRepository)).get(challenge.handle_hash) is not None
        )


# ------------------------------------------------------------------------------ tests


async def test_a_worker_runs_real_tasks_reporting_success_and_failure(
    core: Dashcore, workers: Callable[..., WorkerProcess], role_database: RoleDatabase
) -> None:
    """A job's effect lands in the database and its status says ``succeeded``; a task that
    fails leaves its job ``failed`` with a summary (the details go to the worker's log), and
    the worker goes on with the next job."""
    worker = await workers("--no-scheduler", "--concurrency", "2").started()
    expired, open_ = await add_challenges(core)
    jobs = await core.get(JobQueue)

    done = await settled(core, await jobs.enqueue("challenge_cleanup"))

    assert (done.task, done.status, done.error) == ("challenge_cleanup", JobStatus.SUCCEEDED, None)
    assert done.finished_at is not None
    assert not await stored(core, expired)
    assert await stored(core, open_)
    [finished] = await worker.until(
        lambda: [line for line in worker.events("job_finished") if line["job_id"] == done.id],
        "the job's job_finished line",
    )
    assert (finished["task"], finished["status"]) == ("challenge_cleanup", "succeeded")

    owner = await asyncpg.connect(dsn(role_database))
    try:  # the table the task works on is gone
        await owner.execute("DROP TABLE login_challenges")
    finally:
        await owner.close()
    failed = await settled(core, await jobs.enqueue("challenge_cleanup"))
    after = await settled(core, await jobs.enqueue("reauth_warnings"))

    assert failed.status is JobStatus.FAILED
    assert failed.error
    assert "login_challenges" not in failed.error  # the SQL stays in the (redacted) log
    assert failed.finished_at is not None
    [logged] = [line for line in worker.events("job_error") if line["job_id"] == failed.id]
    assert logged["task"] == "challenge_cleanup"
    # that one line is all: taskiq's own error line with a traceback used to follow it
    assert [line for line in worker.lines if line["level"] == "error"] == []
    assert after.status is JobStatus.SUCCEEDED
    assert await worker.terminated() == 0


async def test_sigterm_lets_the_running_job_finish_then_exits_cleanly(
    core: Dashcore, workers: Callable[..., WorkerProcess], role_database: RoleDatabase
) -> None:
    worker = await workers("--no-scheduler").started()
    blocker = await asyncpg.connect(dsn(role_database))
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE login_challenges IN ACCESS EXCLUSIVE MODE")
        jobs = await core.get(JobQueue)
        job = await jobs.enqueue("challenge_cleanup")
        await worker.until(
            lambda: [line for line in worker.events("job_started") if line["job_id"] == job],
            "the job to start",
        )
        worker.process.send_signal(signal.SIGTERM)
        await worker.until(
            lambda: any("Waiting for 1 running tasks" in line for line in worker.raw),
            "the worker to wait for its running job",
        )
        assert worker.process.poll() is None
        assert (await jobs.status(job)).status is JobStatus.RUNNING
        await transaction.rollback()  # the job can go on now
    finally:
        await blocker.close()

    code = await asyncio.to_thread(worker.process.wait, BOUND)
    assert code == 0
    assert (await jobs.status(job)).status is JobStatus.SUCCEEDED
    order = [line["event"] for line in worker.lines]
    assert order.index("job_finished") < order.index("worker_stopped")


async def test_sigusr1_logs_where_each_task_waits(
    workers: Callable[..., WorkerProcess],
) -> None:
    """What to look at when a worker does not stop: each task and the calls it waits in."""
    worker = await workers("--no-scheduler").started()
    worker.process.send_signal(signal.SIGUSR1)
    tasks = await worker.until(lambda: worker.events("worker_task"), "worker_task lines")
    chains = [" > ".join(line["waiting_in"]) for line in tasks]
    assert any("serve_worker" in chain and "listen" in chain for chain in chains), chains
    assert await worker.terminated() == 0


async def test_a_worker_outlives_its_queue_vanishing_and_takes_jobs_again(
    core: Dashcore,
    workers: Callable[..., WorkerProcess],
    settings: Settings,
    redis_server_url: str,
) -> None:
    """What a worker sees when Redis restarts empty: its stream and consumer group are gone.
    It used to die with a traceback (an ExceptionGroup out of taskiq's receiver) and stay
    dead; now it logs one line, declares its group again once Redis answers, and runs the
    next job."""
    worker = await workers("--no-scheduler").started()
    jobs = await core.get(JobQueue)
    assert (await settled(core, await jobs.enqueue("challenge_cleanup"))).status.is_final
    client = Redis.from_url(redis_server_url)
    try:
        await client.delete(f"{settings.redis_prefix}{settings.jobs_queue}")
    finally:
        await client.aclose()

    await worker.until(lambda: worker.events("worker_queue_recovered"), "the queue to recover")
    after = await settled(core, await jobs.enqueue("challenge_cleanup"))

    assert after.status is JobStatus.SUCCEEDED
    assert len(worker.events("worker_queue_unavailable")) == 1
    assert not any("Traceback" in line for line in worker.raw)
    assert await worker.terminated() == 0


async def test_two_workers_enqueue_each_scheduled_tick_once(
    core: Dashcore, workers: Callable[..., WorkerProcess], worker_env: dict[str, str]
) -> None:
    env = {
        **worker_env,
        "DASHCORE_SCHEDULE_CHALLENGE_CLEANUP_SECONDS": "1",
        "DASHCORE_SCHEDULE_REFRESH_SECONDS": "0",
        "DASHCORE_SCHEDULE_REAUTH_WARNINGS_SECONDS": "0",
        "DASHCORE_SCHEDULE_SYNC_SECONDS": "0",
    }
    pair = [workers(env=env), workers(env=env)]
    for worker in pair:  # the scheduler starts after the worker's first line
        await worker.until(lambda w=worker: w.events("scheduler_started"), "scheduler_started")

    def cleanup_ticks() -> list[dict[str, Any]]:
        return [
            line
            for worker in pair
            for line in worker.events("schedule_tick")
            if line["task"] == "challenge_cleanup"
        ]

    both_running = max(worker.events("scheduler_started")[0]["timestamp"] for worker in pair)
    await pair[0].until(
        lambda: len([t for t in cleanup_ticks() if t["timestamp"] > both_running]) >= 3,
        "three ticks with both schedulers running",
    )
    for worker in pair:
        assert await worker.terminated() == 0

    ticks = [line["tick"] for line in cleanup_ticks()]
    assert len(ticks) == len(set(ticks)), sorted(ticks)
    jobs = await core.get(JobQueue)
    statuses = [(await jobs.status(line["job_id"])).status for line in cleanup_ticks()]
    # a tick enqueued as the workers stopped waits in the queue for the next worker
    assert set(statuses) <= {JobStatus.SUCCEEDED, JobStatus.QUEUED}
    assert statuses.count(JobStatus.SUCCEEDED) >= 3


def test_jobs_status_prints_where_a_job_stands(
    redis_server_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dashcore jobs status`` reads the shared status (no database needed for that)."""
    env = {
        "DASHCORE_DATABASE_URL": "memory://",
        "DASHCORE_REDIS_URL": redis_server_url,
        "DASHCORE_REDIS_PREFIX": redis_prefix,
        "DASHCORE_VAULT_KEYS": KeyRing.generate().to_env_value(),
        "DASHCORE_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(env)

    async def enqueue() -> str:
        async with Dashcore.open(settings) as core:
            return await (await core.get(JobQueue)).enqueue("challenge_cleanup")

    async def forget() -> None:
        client = Redis.from_url(redis_server_url)
        await delete_prefix(client, redis_prefix)
        await client.aclose()

    try:
        job = asyncio.run(enqueue())
        shown = CliRunner().invoke(cli, ["jobs", "status", job])
        assert shown.exit_code == 0, shown.output
        assert f"job       {job}\ntask      challenge_cleanup\nstatus    queued\n" in shown.output
        unknown = CliRunner().invoke(cli, ["jobs", "status", str(uuid.uuid4())])
        assert unknown.exit_code == 1
        assert "[job_not_found]" in unknown.output
    finally:
        asyncio.run(forget())


def test_jobs_status_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHCORE_REDIS_URL", raising=False)
    shown = CliRunner().invoke(cli, ["jobs", "status", str(uuid.uuid4())])
    assert shown.exit_code == 1
    assert "DASHCORE_REDIS_URL" in shown.output


def test_a_worker_needs_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DASHCORE_REDIS_URL", raising=False)
    monkeypatch.setenv("DASHCORE_DATA_DIR", str(tmp_path))
    refused = CliRunner().invoke(cli, ["worker"])
    assert refused.exit_code == 1
    assert "DASHCORE_REDIS_URL" in refused.output
