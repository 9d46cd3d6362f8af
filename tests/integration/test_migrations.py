"""Migrations on empty SQLite and PostgreSQL databases: the stairway, the schema they build, and
finding the scripts from anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_sql import create_engine, current, downgrade, history, metadata, upgrade
from tests.conftest import PostgresSchema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(URL, schema) of an empty database private to this test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'dashcore.db'}", None
    postgres: PostgresSchema = request.getfixturevalue("postgres_schema")
    return postgres.url, postgres.schema


@pytest.fixture
async def engine(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, schema = database
    engine = create_engine(url, schema=schema)
    try:
        yield engine
    finally:
        await engine.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


def schema_drift(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_stairway_up_down_up_for_every_revision(engine: AsyncEngine) -> None:
    revisions = [revision for revision, _, _ in history()]
    assert await current(engine) is None
    for revision in revisions:
        await upgrade(engine, revision)
        assert await current(engine) == revision
        await downgrade(engine, "-1")
        await upgrade(engine, revision)
        assert await current(engine) == revision
    await downgrade(engine, "base")
    assert await current(engine) is None
    assert await table_names(engine) == {"alembic_version"}


async def test_head_builds_exactly_the_schema_the_adapter_uses(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await table_names(engine) == {"alembic_version", *metadata.tables}
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_drift) == []


async def test_upgrading_twice_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await upgrade(engine)
    assert await current(engine) == history()[-1][0]


def test_history_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    revisions = history()
    assert revisions[0][:2] == ("0001", None)
    assert revisions[0][2].startswith("Foundation")
    assert [down for _, down, _ in revisions[1:]] == [rev for rev, _, _ in revisions[:-1]]
