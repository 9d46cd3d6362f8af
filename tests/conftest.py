from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import structlog
from hypothesis import HealthCheck, settings

from tests.services import database_url, delete_test_keys, redis_url, require

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    """Each test starts from structlog's defaults: an app a test builds configures logging for
    the whole process, and a level it sets (WARNING, say) would silence the INFO events a later
    test in the same worker captures with ``structlog.testing.capture_logs``."""
    yield
    structlog.reset_defaults()


@dataclass(frozen=True, slots=True)
class PostgresSchema:
    """A PostgreSQL URL plus a private schema that exists for one test only."""

    url: str
    schema: str


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require("PostgreSQL", database_url(), 5432)


@pytest.fixture
async def postgres_schema(postgres_url: str) -> AsyncIterator[PostgresSchema]:
    import asyncpg

    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        yield PostgresSchema(postgres_url, schema)
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    return require("Redis", redis_url(), 6379)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix private to one test; what the test left under it is deleted afterwards
    (job streams and revocation sets carry no TTL: a shared test Redis kept them forever)."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_test_keys(prefix)
