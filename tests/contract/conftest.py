"""Backends for the repository contract suites: memory, SQLite and PostgreSQL.

A suite asks for ``backend`` and runs once per backend. It opens units of work with
``backend.work()`` (which rolls back whatever was not committed, like the real thing) and finds
the repositories on the yielded :class:`Work`. Tampering helpers change stored audit rows behind
the adapter's back, the way an attacker with database access would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.audit import MetadataValue, RecordedAuditEvent
from dashcore.ports.audit import AuditLog
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.vault import SealedSecretRepository
from dashcore_memory import (
    MemoryAuditLog,
    MemoryDatabase,
    MemorySealedSecretRepository,
    MemoryUnitOfWork,
)
from dashcore_sql import (
    ChainHeads,
    SqlAuditLog,
    SqlSealedSecretRepository,
    SqlUnitOfWork,
    create_engine,
    unit_of_work,
)
from dashcore_sql.tables import audit_events
from tests.conftest import PostgresSchema
from tests.migrated import migrate

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
AUDIT_PAGE_SIZE = 2
"""Small, so that every SQL audit test also reads ``records()`` across several pages."""


@dataclass(frozen=True, slots=True)
class Work:
    """One open unit of work and the repositories built on it."""

    uow: UnitOfWork
    audit: AuditLog
    secrets: SealedSecretRepository
    native: MemoryUnitOfWork | SqlUnitOfWork


class Backend(Protocol):
    name: str

    def work(self, *, process: int = 0) -> AbstractAsyncContextManager[Work]:
        """A unit of work of one ``process``: the works of a SQL backend's process share what
        it remembers of the audit chains' heads (:class:`~dashcore_sql.ChainHeads`), as the
        app's requests do; another ``process`` has its own."""
        ...

    async def tamper_event(
        self,
        chain: str,
        seq: int,
        *,
        action: str | None = None,
        metadata: dict[str, MetadataValue] | None = None,
    ) -> None: ...

    async def delete_event(self, chain: str, seq: int) -> None: ...

    async def let_contender_run(self, holder: Work) -> None:
        """Give a competing unit of work the chance to run into ``holder``'s uncommitted
        writes: on PostgreSQL, return once it is seen waiting for ``holder``'s lock; elsewhere
        yield to the event loop once."""


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.database = MemoryDatabase()

    @asynccontextmanager
    async def work(self, *, process: int = 0) -> AsyncIterator[Work]:
        uow = MemoryUnitOfWork(self.database)
        try:
            yield Work(uow, MemoryAuditLog(uow), MemorySealedSecretRepository(uow), uow)
        finally:
            await uow.rollback()

    async def tamper_event(
        self,
        chain: str,
        seq: int,
        *,
        action: str | None = None,
        metadata: dict[str, MetadataValue] | None = None,
    ) -> None:
        rows = self.database.table("audit_events")
        record: RecordedAuditEvent = rows[(chain, seq)]
        event = record.event
        event = replace(
            event,
            action=event.action if action is None else action,
            metadata=event.metadata if metadata is None else metadata,
        )
        rows[(chain, seq)] = replace(record, event=event)

    async def delete_event(self, chain: str, seq: int) -> None:
        del self.database.table("audit_events")[(chain, seq)]

    async def let_contender_run(self, holder: Work) -> None:
        await asyncio.sleep(0)


class SqlBackend:
    def __init__(self, name: str, engine: AsyncEngine) -> None:
        self.name = name
        self.engine = engine
        self.chain_heads: dict[int, ChainHeads] = {}

    @asynccontextmanager
    async def work(self, *, process: int = 0) -> AsyncIterator[Work]:
        heads = self.chain_heads.setdefault(process, ChainHeads())
        async with unit_of_work(self.engine) as uow:
            audit = SqlAuditLog(uow, page_size=AUDIT_PAGE_SIZE, heads=heads)
            yield Work(uow, audit, SqlSealedSecretRepository(uow), uow)

    async def tamper_event(
        self,
        chain: str,
        seq: int,
        *,
        action: str | None = None,
        metadata: dict[str, MetadataValue] | None = None,
    ) -> None:
        changes: dict[str, str] = {}
        if action is not None:
            changes["action"] = action
        if metadata is not None:
            changes["metadata"] = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
        row = (audit_events.c.chain == chain) & (audit_events.c.seq == seq)
        async with self.engine.begin() as connection:
            result = await connection.execute(update(audit_events).where(row).values(changes))
        assert result.rowcount == 1

    async def delete_event(self, chain: str, seq: int) -> None:
        row = (audit_events.c.chain == chain) & (audit_events.c.seq == seq)
        async with self.engine.begin() as connection:
            result = await connection.execute(delete(audit_events).where(row))
        assert result.rowcount == 1

    async def let_contender_run(self, holder: Work) -> None:
        if self.name != "postgres":
            await asyncio.sleep(0)
            return
        assert isinstance(holder.native, SqlUnitOfWork)
        pid = (await holder.native.connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
        )
        async with asyncio.timeout(10), self.engine.connect() as observer:
            while not (await observer.execute(waiting, {"pid": pid})).scalar():
                await observer.rollback()
                await asyncio.sleep(0.01)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a test's database lives: ``url`` is ``None`` for the memory backend."""

    name: str
    url: str | None = None
    schema: str | None = None


def _target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        # A directory that does not exist yet: the engine must create it.
        return Target("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'var' / 'dashcore.db'}")
    if request.param == "postgres":
        postgres: PostgresSchema = request.getfixturevalue("postgres_schema")
        return Target("postgres", postgres.url, postgres.schema)
    return Target(request.param)


@pytest.fixture(params=SQL_BACKENDS)
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return _target(request, tmp_path)


@pytest.fixture(params=["memory", *SQL_BACKENDS])
def backend_target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return _target(request, tmp_path)


@pytest.fixture
async def sql_engine(sql_target: Target) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty, unmigrated SQL database private to this test."""
    assert sql_target.url is not None
    engine = create_engine(sql_target.url, schema=sql_target.schema)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def backend(backend_target: Target) -> AsyncIterator[Backend]:
    """A migrated, empty backend private to this test."""
    if backend_target.url is None:
        yield MemoryBackend()
        return
    engine = create_engine(backend_target.url, schema=backend_target.schema)
    try:
        await migrate(engine)
        yield SqlBackend(backend_target.name, engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sql_backend(sql_target: Target, sql_engine: AsyncEngine) -> SqlBackend:
    """A migrated, empty SQL backend private to this test, for checks on the stored rows."""
    await migrate(sql_engine)
    return SqlBackend(sql_target.name, sql_engine)
