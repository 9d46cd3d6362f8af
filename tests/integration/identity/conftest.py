"""Fixtures of the identity suites: the app on the embedded default and on PostgreSQL + Redis,
with a mailbox the tests read the mailed links from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
from dishka import AsyncContainer, Provider

from dashcore_app.settings import Settings
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from tests.conftest import PostgresSchema
from tests.integration.conftest import _Lifespan
from tests.integration.identity.support import Mailbox
from tests.integration.test_http_health import engine_in_schema
from tests.migrated import migrate_database

BACKENDS = [
    "memory",
    pytest.param("postgres_redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
]


@dataclass(frozen=True, slots=True)
class Backend:
    settings: Settings
    schema: str | None = None


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, memory_settings: Settings) -> Backend:
    if request.param == "memory":
        return Backend(memory_settings)
    return postgres_redis_backend(request, memory_settings)


def postgres_redis_backend(request: pytest.FixtureRequest, settings: Settings) -> Backend:
    """``settings`` on a fresh PostgreSQL schema and a fresh Redis key prefix."""
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    redis_url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    shared = replace(settings, database_url=schema.url, redis_url=redis_url, redis_prefix=prefix)
    return Backend(shared, schema.schema)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@dataclass(frozen=True, slots=True)
class Served:
    client: httpx.AsyncClient
    core: AsyncContainer
    """The app's container: ``async with core() as scope`` runs use cases without HTTP."""


@pytest.fixture
async def served(backend: Backend, mailbox: Mailbox) -> AsyncIterator[Served]:
    overrides: list[Provider] = [mailbox]
    if backend.schema is not None:
        await migrate_database(backend.settings.database_url, backend.schema)
        overrides.append(engine_in_schema(backend.schema))
    app = create_app(backend.settings, *overrides)
    async with _Lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Served(client, app.state[CONTAINER_STATE_KEY])


@pytest.fixture
def client(served: Served) -> httpx.AsyncClient:
    return served.client


@pytest.fixture
def core(served: Served) -> AsyncContainer:
    return served.core
