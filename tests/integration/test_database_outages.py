"""A PostgreSQL server that stops answering without closing its connections (paused, or cut
off by a network partition): requests must fail as ``database unavailable`` within the
engine's timeouts instead of hanging, and work again once it answers.

The server is reached through a proxy that the test can make silent: it keeps both sockets
open and drops everything, as a partition would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from dashcore.domain.errors import DependencyUnavailable
from dashcore_sql import engine as engine_module
from dashcore_sql.errors import database_errors
from dashcore_sql.probe import SqlDatabaseProbe
from dashcore_sql.uow import unit_of_work
from tests.conftest import PostgresSchema
from tests.migrated import migrate

pytestmark = pytest.mark.postgres

COMMAND_TIMEOUT = 0.5
READINESS_TIMEOUT = 1.0
BOUND = 30.0
"""Where a hang is called a hang."""


class SilenceableProxy:
    """A TCP proxy to ``host:port``; while ``silent`` it forwards nothing either way."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.silent = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection(*self._target)
        for source, sink in ((client_in, server_out), (server_in, client_out)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if not self.silent:
                    sink.write(data)
                    await sink.drain()
        finally:
            sink.close()


@pytest.fixture
async def proxied_url(postgres_url: str) -> AsyncIterator[tuple[str, SilenceableProxy]]:
    parts = urlsplit(postgres_url)
    proxy = SilenceableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)
    address = f"127.0.0.1:{port}"
    proxied = f"{netloc[0]}@{address}" if len(netloc) == 2 else address
    try:
        yield urlunsplit(parts._replace(netloc=proxied)), proxy
    finally:
        await proxy.close()


async def test_a_server_gone_silent_fails_pooled_queries_in_time_then_recovers(
    proxied_url: tuple[str, SilenceableProxy],
) -> None:
    """The first round trip on a pooled connection (a pre-ping, when the pool pinged) used to
    wait forever (no statement timeout), so the first request after the server went silent
    hung until TCP gave up, many minutes later."""
    url, proxy = proxied_url
    engine = engine_module.create_engine(url, command_timeout=COMMAND_TIMEOUT)
    try:
        async with engine.connect() as connection:  # leaves one connection in the pool
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1

        proxy.silent = True
        started = time.monotonic()
        async with asyncio.timeout(BOUND):  # unfixed, this waited forever
            with pytest.raises(DependencyUnavailable) as failure, database_errors():
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        waited = time.monotonic() - started

        proxy.silent = False
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()

    assert failure.value.dependency == "database"
    assert waited < engine_module.CONNECT_TIMEOUT + COMMAND_TIMEOUT


async def test_readiness_answers_within_its_timeout_when_the_server_went_silent(
    proxied_url: tuple[str, SilenceableProxy], postgres_schema: PostgresSchema
) -> None:
    """The probe gave up on time, but then waited for the driver to close the connection it
    abandoned (two more seconds): a 1 s readiness check answered after 3 s."""
    url, proxy = proxied_url
    engine = engine_module.create_engine(url, schema=postgres_schema.schema)
    probe = SqlDatabaseProbe(engine)
    try:
        await migrate(engine)
        await probe.check(timeout=BOUND)  # leaves one connection in the pool
        proxy.silent = True
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable) as failure:
            await probe.check(timeout=READINESS_TIMEOUT)
        waited = time.monotonic() - started
    finally:
        await engine.dispose()

    assert failure.value.dependency == "database"
    assert waited < READINESS_TIMEOUT + 0.5


async def test_a_statement_past_the_limit_fails_unless_the_engine_is_for_migrations(
    postgres_url: str,
) -> None:
    """Requests get ``COMMAND_TIMEOUT`` per statement; a migration engine (``None``) waits."""
    bounded = engine_module.create_engine(postgres_url, command_timeout=0.2)
    unbounded = engine_module.create_engine(postgres_url, command_timeout=None)
    try:
        with pytest.raises(DependencyUnavailable), database_errors():
            async with bounded.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(0.5)"))
        async with unbounded.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(0.5)"))
    finally:
        await bounded.dispose()
        await unbounded.dispose()


async def terminate_backend(postgres_url: str, pid: int) -> None:
    """Close one server connection from the server's side, as a restart or failover does."""
    import asyncpg

    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
        async with asyncio.timeout(BOUND):
            while True:  # the server ends the backend on its own time
                if await admin.fetchval(gone, pid):
                    break
                await asyncio.sleep(0.01)
    finally:
        await admin.close()


async def test_a_pooled_connection_the_server_closed_costs_a_retry_not_an_error(
    postgres_schema: PostgresSchema,
) -> None:
    """No ping before each transaction: the transaction's first statement finds the closed
    connection and runs once more on a new one. The readiness probe does the same."""
    engine = engine_module.create_engine(postgres_schema.url, schema=postgres_schema.schema)
    backend_pid = text("SELECT pg_backend_pid()")
    try:
        await migrate(engine)
        async with unit_of_work(engine) as uow:  # one connection, back in the pool after
            pooled = (await uow.execute(backend_pid)).scalar_one()
            await uow.commit()
        await terminate_backend(postgres_schema.url, pooled)
        async with unit_of_work(engine) as uow:
            replaced = (await uow.execute(backend_pid)).scalar_one()
            await uow.commit()
        await terminate_backend(postgres_schema.url, replaced)
        await SqlDatabaseProbe(engine).check(timeout=BOUND)
    finally:
        await engine.dispose()
    assert replaced != pooled
