"""Two worker processes running one connection's sync at once: one reads the provider, the
other leaves it alone (issue #7 acceptance: "two workers + one connection -> one sync at a
time").

The two "processes" are two containers built from the same settings, the second on its own
event loop in its own thread, sharing only PostgreSQL and Redis (and one Groww sandbox, so
that the provider sees both). The first sync is held inside its provider call (the sandbox's
latency fault waits on a gate the test opens), which is exactly when a duplicate delivery of the
job reaches the second process. Also: while a run is active, requesting another one returns it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest
from dishka import AsyncContainer, Provider, Scope, provide

from dashcore.application.connections import ConnectionAuthorization, Connections
from dashcore.application.sync import RequestSync, RunSync, sync_lock_key
from dashcore.domain.aggregation import SyncRun, SyncRunStatus
from dashcore.domain.connections import KeyCredentials
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.providers import RefreshLock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.providers import build_container
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox import create_sandboxes
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_system import SystemClock
from tests.conftest import PostgresSchema
from tests.integration.test_http_health import engine_in_schema
from tests.migrated import migrate_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CALLER = CallerContext(actor="test")
HOLDINGS = "*/holdings/user"
WAIT = 30


class Gate:
    """Where the sandbox waits on a latency fault: it says it arrived, then waits to be let
    through (thread-safe: the two processes run on different event loops)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.open = threading.Event()

    async def __call__(self, seconds: float) -> None:
        self.arrived.set()
        assert await asyncio.to_thread(self.open.wait, WAIT), "the gate was never opened"


class SharedSandboxes(Provider):
    def __init__(self, sandboxes: BrokerSandboxes) -> None:
        super().__init__()
        self._sandboxes = sandboxes

    @provide(scope=Scope.APP)
    def sandboxes(self) -> BrokerSandboxes:
        return self._sandboxes


@pytest.fixture
async def settings(
    memory_settings: Settings,
    postgres_schema: PostgresSchema,
    redis_server_url: str,
    redis_prefix: str,
) -> Settings:
    await migrate_database(postgres_schema.url, postgres_schema.schema)
    return replace(
        memory_settings,
        database_url=postgres_schema.url,
        redis_url=redis_server_url,
        redis_prefix=redis_prefix,
    )


@asynccontextmanager
async def process(
    settings: Settings, schema: str, sandboxes: BrokerSandboxes
) -> AsyncIterator[AsyncContainer]:
    container = build_container(settings, engine_in_schema(schema), SharedSandboxes(sandboxes))
    try:
        yield container
    finally:
        await container.close()


async def groww_connection(core: AsyncContainer) -> UUID:
    """A user with a connected Groww connection (key login: no browser)."""
    async with core() as scope:
        clock = await scope.get(Clock)
        now = clock.now()
        user = User(
            id=UUID("00000000-0000-7000-8000-0000000000a1"),
            email=Email("twice@example.com"),
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            created_at=now,
            updated_at=now,
        )
        await (await scope.get(UserRepository)).add(user)
        await (await scope.get(UnitOfWork)).commit()
        connection = await (await scope.get(Connections)).create(user.id, "groww", CALLER)
        key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
        authorization = await scope.get(ConnectionAuthorization)
        await authorization.submit_key_credentials(user.id, connection.id, key, CALLER)
    return connection.id


def _run_on_its_own_loop(
    settings: Settings, schema: str, sandboxes: BrokerSandboxes, run_id: UUID
) -> SyncRun | None:
    async def run() -> SyncRun | None:
        async with process(settings, schema, sandboxes) as other, other() as scope:
            return await (await scope.get(RunSync))(run_id)

    return asyncio.run(run())


async def test_two_workers_running_one_connection_s_sync_read_the_provider_once(
    settings: Settings, postgres_schema: PostgresSchema
) -> None:
    gate = Gate()
    sandboxes = BrokerSandboxes(create_sandboxes(SystemClock(), sleep=gate))
    groww = sandboxes.apps["groww"]
    passes = groww.faults.add(
        FaultRule(path=HOLDINGS, kind=FaultKind.LATENCY, seconds=1, times=100)
    )
    schema = postgres_schema.schema
    async with process(settings, schema, sandboxes) as core:
        connection_id = await groww_connection(core)
        async with core() as scope:
            run = await (await scope.get(RequestSync)).scheduled(connection_id)
        async with core() as scope:
            again = await (await scope.get(RequestSync)).scheduled(connection_id)
        assert again.id == run.id, "one active run per connection"

        async def first_worker() -> SyncRun | None:
            async with core() as scope:
                return await (await scope.get(RunSync))(run.id)

        first = asyncio.create_task(first_worker())
        assert await asyncio.to_thread(gate.arrived.wait, WAIT), "the first sync never arrived"
        second = await asyncio.to_thread(_run_on_its_own_loop, settings, schema, sandboxes, run.id)
        gate.open.set()
        finished = await first

    assert second is not None and second.status is SyncRunStatus.RUNNING, second
    assert finished is not None and finished.status is SyncRunStatus.SUCCEEDED, finished
    assert passes.remaining == 99, "the provider's holdings were read by one worker only"
    assert finished.counts.accounts == 1 and finished.counts.holdings > 0
    assert finished.finished_at is not None and finished.finished_at <= datetime.now(UTC)


async def test_a_worker_that_finds_the_connection_locked_leaves_the_run_queued(
    settings: Settings, postgres_schema: PostgresSchema
) -> None:
    """The lock is what stops a worker that read the run as queued before the other one
    started it: held elsewhere (in Redis), the run stays queued and the provider is not asked."""
    sandboxes = BrokerSandboxes(create_sandboxes(SystemClock()))
    passes = sandboxes.apps["groww"].faults.add(
        FaultRule(path=HOLDINGS, kind=FaultKind.LATENCY, seconds=0, times=100)
    )
    schema = postgres_schema.schema
    async with process(settings, schema, sandboxes) as core:
        connection_id = await groww_connection(core)
        async with core() as scope:
            run = await (await scope.get(RequestSync)).scheduled(connection_id)
        lock = await core.get(RefreshLock)
        token = await lock.acquire(sync_lock_key(connection_id), ttl_seconds=60, wait_seconds=0)
        assert token is not None
        left = await asyncio.to_thread(_run_on_its_own_loop, settings, schema, sandboxes, run.id)
        await lock.release(sync_lock_key(connection_id), token)
        async with core() as scope:
            ran = await (await scope.get(RunSync))(run.id)

    assert left is not None and left.status is SyncRunStatus.QUEUED
    assert ran is not None and ran.status is SyncRunStatus.SUCCEEDED
    assert passes.remaining == 99
