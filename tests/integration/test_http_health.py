"""Liveness and readiness, on memory, SQLite, and real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.ports.health import DependencyProbe
from dashcore_app.settings import Environment, Settings
from dashcore_security import KeyRing
from dashcore_sql import create_engine
from tests.conftest import PostgresSchema
from tests.integration.conftest import AppClient, LifespanFailed
from tests.migrated import migrate_database


class NeverAnswers(DependencyProbe):
    """A dependency that hangs instead of failing."""

    @property
    def name(self) -> str:
        return "slowpoke"

    async def check(self, timeout: float) -> None:
        await asyncio.Event().wait()


class HangingProbeProvider(Provider):
    probe = provide(NeverAnswers, provides=DependencyProbe, scope=Scope.APP)


def engine_in_schema(schema: str) -> Provider:
    """Override the engine so that every connection works in the test's own schema."""

    class SchemaEngine(Provider):
        @provide(scope=Scope.APP)
        async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
            engine = create_engine(settings.database_url, schema=schema)
            yield engine
            await engine.dispose()

    return SchemaEngine()


async def test_liveness_touches_nothing(serve: AppClient, memory_settings: Settings) -> None:
    async with serve(memory_settings) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_on_memory_has_nothing_to_check(
    serve: AppClient, memory_settings: Settings
) -> None:
    async with serve(memory_settings) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {}}


async def test_ready_on_sqlite(serve: AppClient, memory_settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/dash.db"
    await migrate_database(url)
    async with serve(replace(memory_settings, database_url=url)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_a_database_never_migrated_is_not_ready(
    serve: AppClient, memory_settings: Settings, tmp_path: Path
) -> None:
    """Every request would fail with database_not_migrated: no traffic should be sent."""
    settings = replace(memory_settings, database_url=f"sqlite+aiosqlite:///{tmp_path}/dash.db")
    async with serve(settings) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable"}


@pytest.mark.postgres
@pytest.mark.redis
async def test_ready_on_postgresql_and_redis(
    serve: AppClient,
    memory_settings: Settings,
    postgres_schema: PostgresSchema,
    redis_server_url: str,
) -> None:
    settings = replace(
        memory_settings, database_url=postgres_schema.url, redis_url=redis_server_url
    )
    await migrate_database(postgres_schema.url, postgres_schema.schema)
    async with serve(settings, engine_in_schema(postgres_schema.schema)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    checks = {"database": "ok", "redis": "ok", "revocations": "ok"}
    assert response.json() == {"status": "ready", "checks": checks}


async def test_unreachable_redis_makes_it_unready(
    serve: AppClient, memory_settings: Settings, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    settings = replace(memory_settings, redis_url="redis://127.0.0.1:1/0", readiness_timeout=1.0)
    async with serve(settings) as client:
        log_lines()
        response = await client.get("/health/ready")
    assert response.status_code == 503
    logged = [line for line in log_lines() if line["event"] == "http_request"]
    assert [(line["path"], line["status"]) for line in logged] == [("/health/ready", 503)]
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "dependency_unavailable"
    assert body["dependency"] == "redis, revocations"
    assert body["checks"] == {"redis": "unavailable", "revocations": "unavailable"}
    assert response.headers["retry-after"]


async def test_a_hanging_dependency_cannot_hold_readiness_past_the_timeout(
    serve: AppClient, memory_settings: Settings
) -> None:
    settings = replace(memory_settings, readiness_timeout=0.2)
    async with serve(settings, HangingProbeProvider()) as client:
        started = time.monotonic()
        response = await client.get("/health/ready")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"] == {"slowpoke": "unavailable"}
    assert elapsed < 0.2 + 1.0


async def test_production_refuses_to_start_with_development_keys(
    serve: AppClient, tmp_path: Path
) -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/dash.db",
        keys_dir=tmp_path / "keys",
    )
    KeyRing.generate(development=True).save(settings.vault_key_file)
    with pytest.raises(LifespanFailed, match="development keys"):
        async with serve(settings):
            pass
