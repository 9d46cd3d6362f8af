"""The unit-of-work contract: isolation until commit, nothing committed implicitly, domain errors
only. Writes go through the sealed-secret repository, the simplest one to observe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy import UniqueConstraint, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.errors import Conflict, DependencyUnavailable
from dashcore.domain.secrets import SealedSecret
from dashcore_sql import (
    SqlDatabaseProbe,
    SqlSealedSecretRepository,
    create_engine,
    normalize_url,
    unit_of_work,
)
from dashcore_sql.errors import CONSTRAINT_CONFLICTS
from dashcore_sql.tables import metadata
from tests.contract.conftest import Backend
from tests.migrated import migrate

NOW = datetime(2026, 1, 1, 9, 0, 0, 123456, tzinfo=UTC)
DEAD_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


def secret(number: int, *, owner: str = "user:1", purpose: str | None = None) -> SealedSecret:
    return SealedSecret(
        id=UUID(int=number),
        owner=owner,
        purpose=purpose or f"purpose-{number}",
        ciphertext=b"\x00sealed" + bytes([number]),
        key_id="k1",
        created_at=NOW,
        updated_at=NOW,
    )


async def stored(backend: Backend, owner: str, purpose: str) -> SealedSecret | None:
    """What a fresh unit of work sees."""
    async with backend.work() as work:
        return await work.secrets.get(owner, purpose)


async def test_uncommitted_writes_are_private_and_vanish_when_the_unit_of_work_ends(
    backend: Backend,
) -> None:
    first = secret(1)
    async with backend.work() as writer:
        await writer.secrets.add(first)
        assert await writer.secrets.get(first.owner, first.purpose) == first
        if backend.name != "sqlite":  # SQLite serializes units of work: a reader would wait
            async with backend.work() as reader:
                assert await reader.secrets.get(first.owner, first.purpose) is None
    assert await stored(backend, first.owner, first.purpose) is None


async def test_commit_makes_writes_visible_to_other_units_of_work(backend: Backend) -> None:
    first = secret(1)
    async with backend.work() as writer:
        await writer.secrets.add(first)
        await writer.uow.commit()
        async with backend.work() as reader:
            assert await reader.secrets.get(first.owner, first.purpose) == first
    assert await stored(backend, first.owner, first.purpose) == first


async def test_rollback_discards_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    discarded, kept = secret(1), secret(2)
    async with backend.work() as work:
        await work.secrets.add(discarded)
        await work.uow.rollback()
        assert await work.secrets.get(discarded.owner, discarded.purpose) is None
        await work.secrets.add(kept)
        await work.uow.commit()
    assert await stored(backend, discarded.owner, discarded.purpose) is None
    assert await stored(backend, kept.owner, kept.purpose) == kept


async def test_writes_after_a_commit_are_rolled_back_unless_committed_again(
    backend: Backend,
) -> None:
    committed, abandoned = secret(1), secret(2)
    async with backend.work() as work:
        await work.secrets.add(committed)
        await work.uow.commit()
        await work.secrets.add(abandoned)
    assert await stored(backend, committed.owner, committed.purpose) == committed
    assert await stored(backend, abandoned.owner, abandoned.purpose) is None


async def test_unique_violation_is_a_conflict_with_a_stable_code(backend: Backend) -> None:
    original = secret(1, purpose="totp_seed")
    async with backend.work() as work:
        await work.secrets.add(original)
        await work.uow.commit()
    async with backend.work() as work:
        with pytest.raises(Conflict) as raised:
            await work.secrets.add(secret(2, purpose="totp_seed"))
        assert raised.value.code == "sealed_secrets_owner_purpose_taken"
        await work.uow.rollback()
        await work.secrets.add(secret(3, purpose="other"))
        await work.uow.commit()
    assert await stored(backend, "user:1", "other") == secret(3, purpose="other")


# -- SQL adapter boundary ---------------------------------------------------------------------


def test_every_translated_constraint_exists_in_the_schema() -> None:
    # A partial unique index (one active sync run per connection) is a constraint too.
    unique_indexes = {
        str(index.name)
        for table in metadata.tables.values()
        for index in table.indexes
        if index.unique
    }
    names = {
        str(constraint.name)
        for table in metadata.tables.values()
        for constraint in table.constraints
    }
    assert set(CONSTRAINT_CONFLICTS) <= names | unique_indexes
    unique = {
        str(constraint.name)
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    }
    assert unique <= set(CONSTRAINT_CONFLICTS), "every unique constraint needs a stable code"


async def test_an_unreachable_database_is_dependency_unavailable() -> None:
    engine = create_engine(DEAD_DATABASE)
    try:
        with pytest.raises(DependencyUnavailable) as raised:
            async with unit_of_work(engine) as uow:
                await uow.execute(text("SELECT 1"))
        assert raised.value.dependency == "database"
        with pytest.raises(DependencyUnavailable):
            await SqlDatabaseProbe(engine).check(timeout=5)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement", ["SELECT * FROM no_such_table", "SELECT no_such_column FROM users"]
)
async def test_a_database_without_the_codes_tables_says_to_migrate(
    sql_engine: AsyncEngine, statement: str
) -> None:
    await migrate(sql_engine)  # the tables exist; the statement names what does not
    with pytest.raises(DependencyUnavailable) as raised:
        async with unit_of_work(sql_engine) as uow:
            await uow.execute(text(statement))
    assert (raised.value.code, raised.value.dependency) == ("database_not_migrated", "database")
    assert "dashcore migrate up" in raised.value.message


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "code"),
    [({"database": "no_such_database"}, "database_missing"),
     ({"username": "no_such_role"}, "database_access_denied")],
)  # fmt: skip
async def test_a_database_url_naming_what_the_server_refuses_says_which(
    postgres_url: str, change: dict[str, str], code: str
) -> None:
    engine = create_engine(normalize_url(postgres_url).set(**change))
    try:
        with pytest.raises(DependencyUnavailable) as raised:
            async with unit_of_work(engine) as uow:
                await uow.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert (raised.value.code, raised.value.dependency) == (code, "database")


async def test_the_probe_passes_on_a_live_migrated_database(sql_engine: AsyncEngine) -> None:
    await migrate(sql_engine)
    probe = SqlDatabaseProbe(sql_engine)
    assert probe.name == "database"
    await probe.check(timeout=5)


async def test_the_probe_fails_on_a_database_that_was_never_migrated(
    sql_engine: AsyncEngine,
) -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        await SqlDatabaseProbe(sql_engine).check(timeout=5)
    assert (raised.value.code, raised.value.dependency) == ("database_not_migrated", "database")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@db:5432/app", "postgresql+asyncpg://u@db:5432/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:///var/dashcore.db", "sqlite+aiosqlite:///var/dashcore.db"),
    ],
)
def test_urls_get_their_async_driver(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://u@db/app", "postgresql+psycopg2://u@db/app"])
def test_other_databases_and_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="Unsupported database URL"):
        normalize_url(url)


async def test_a_unit_of_work_takes_a_connection_only_when_a_statement_runs(
    sql_engine: AsyncEngine,
) -> None:
    """A request answered without the database (a cache hit) never touches the pool."""
    pool = sql_engine.sync_engine.pool
    async with unit_of_work(sql_engine) as uow:
        await uow.commit()
        await uow.rollback()
        assert pool.checkedout() == 0
        await uow.execute(text("SELECT 1"))
        assert pool.checkedout() == 1
    assert pool.checkedout() == 0


async def test_a_read_then_write_survives_a_writer_that_commits_meanwhile(
    sql_engine: AsyncEngine,
) -> None:
    """With a deferred BEGIN, a SQLite transaction that read before another writer committed
    could no longer write (SQLITE_BUSY at once, a 503 for the user); BEGIN IMMEDIATE makes the
    second writer wait instead. Both must finish on every SQL backend."""
    await migrate(sql_engine)
    first, second = secret(1), secret(2)

    async def other_writer() -> None:
        async with unit_of_work(sql_engine) as other:
            await SqlSealedSecretRepository(other).add(second)
            await other.commit()

    async with unit_of_work(sql_engine) as uow:
        secrets = SqlSealedSecretRepository(uow)
        assert await secrets.get(first.owner, first.purpose) is None
        contender = asyncio.create_task(other_writer())
        await asyncio.sleep(0.05)
        await secrets.add(first)
        await uow.commit()
    await contender
    async with unit_of_work(sql_engine) as uow:
        secrets = SqlSealedSecretRepository(uow)
        assert await secrets.get(first.owner, first.purpose) == first
        assert await secrets.get(second.owner, second.purpose) == second
