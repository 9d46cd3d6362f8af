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
    """The pooled connection's pre-ping used to wait forever (no statement timeout), so the
    first request after the server went silent hung until TCP gave up, many minutes later."""
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
