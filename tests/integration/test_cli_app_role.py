"""`dashcore db grant-app-role` on PostgreSQL: the application's role appends to the audit
trail and cannot change it (security.md AUD-2).

Each test has two throw-away roles: an owner with a schema named like it (PostgreSQL's default
``search_path``, ``"$user", public``, puts that schema first for the owner's connections, so a
plain ``DASHCORE_DATABASE_URL`` reaches it), which migrates and grants; and the application's
role, whose ``search_path`` names that schema, as a DBA sets it up.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from dashcore.application.verify_audit_chain import VerifyAuditChain
from dashcore.domain.audit import AuditEvent, AuditOutcome
from dashcore_cli import cli
from dashcore_sql import ChainHeads, SqlAuditLog, create_engine, metadata, unit_of_work
from dashcore_sql.tables import users
from dashcore_sql.users import SqlUserRepository
from tests.contract.people import person
from tests.migrated import migrate_database

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EVERYDAY = {"SELECT", "INSERT", "UPDATE", "DELETE"}
RESTRICTED = {
    "audit_events": {"SELECT", "INSERT"},
    "audit_chain_heads": {"SELECT", "INSERT", "UPDATE"},
    "alembic_version": {"SELECT"},
}
"""The rule, stated here on its own: every other table of the schema is everyday."""


@dataclass(frozen=True, slots=True)
class Roles:
    owner_url: str
    app_url: str
    app: str
    schema: str


def as_role(url: str, role: str, password: str) -> str:
    return make_url(url).set(username=role, password=password).render_as_string(False)


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def roles(postgres_url: str) -> AsyncIterator[Roles]:
    owner, password = f"t_{uuid.uuid4().hex[:16]}", secrets.token_hex(16)
    app = f"{owner}_app"
    admin = await asyncpg.connect(dsn(postgres_url))
    created: list[str] = []
    try:
        for role in (owner, app):
            await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
            created.append(role)
        await admin.execute(f'CREATE SCHEMA "{owner}" AUTHORIZATION "{owner}"')
        await admin.execute(f'ALTER ROLE "{app}" SET search_path = "{owner}"')
        made = Roles(
            as_role(postgres_url, owner, password), as_role(postgres_url, app, password), app, owner
        )
        await migrate_database(made.owner_url)
        yield made
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{owner}" CASCADE')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)",
            created,
        )
        for role in reversed(created):
            await admin.execute(f'DROP OWNED BY "{role}"')
            await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


def env_of(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DASHCORE_DATABASE_URL": url,
        "DASHCORE_DATA_DIR": str(tmp_path),
        "DASHCORE_ENV": "development",
    }


async def invoke(env: dict[str, str], *args: str) -> Result:
    """The command as an operator runs it, on a thread: it runs an event loop of its own."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)


def refusal(result: Result) -> str:
    """The one line a refused command prints (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def event(number: int) -> AuditEvent:
    return AuditEvent(
        id=uuid.UUID(f"00000000-0000-7000-8000-{number:012x}"),
        occurred_at=NOW,
        action="key_rotated",
        outcome=AuditOutcome.SUCCESS,
        actor="cli:keys",
        target=f"key:{number}",
    )


async def table_grants(owner: asyncpg.Connection, role: str, schema: str) -> set[tuple[str, str]]:
    rows = await owner.fetch(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = $1 AND table_schema = $2",
        role,
        schema,
    )
    return {(row["table_name"], row["privilege_type"]) for row in rows}


async def test_the_app_role_appends_audit_events_but_cannot_change_or_remove_them(
    roles: Roles, tmp_path: Path
) -> None:
    granted = await invoke(env_of(roles.owner_url, tmp_path), "db", "grant-app-role", roles.app)
    assert granted.exit_code == 0, granted.output
    assert f"role {roles.app} in schema {roles.schema}" in granted.output

    engine = create_engine(roles.app_url)
    try:
        heads = ChainHeads()
        for number in (1, 2, 3):  # 1 creates the head, 2 moves it on from memory, 3 from a
            async with unit_of_work(engine) as uow:  # process that remembers nothing
                log = SqlAuditLog(uow, heads=heads if number < 3 else None)
                await log.append(event(number))
                await uow.commit()
        async with unit_of_work(engine) as uow:
            log = SqlAuditLog(uow)
            assert (await log.heads())["cli:keys"].seq == 3
            assert (await VerifyAuditChain(log)()).intact

        async with unit_of_work(engine) as uow:  # an everyday table: the full round
            repository = SqlUserRepository(uow)
            user = person(1, NOW)
            await repository.add(user)
            await repository.save(replace(user, display_name="Ada"))
            stored = await repository.get(user.id)
            assert stored is not None and stored.display_name == "Ada"
            removed = await uow.execute(delete(users).where(users.c.id == user.id))
            assert removed.rowcount == 1
            await uow.commit()
    finally:
        await engine.dispose()

    verified = await invoke(env_of(roles.app_url, tmp_path), "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact: 3 event(s) in 1 chain(s)" in verified.output

    app = await asyncpg.connect(dsn(roles.app_url))
    try:
        for statement in (
            "UPDATE audit_events SET target = 'key:forged' WHERE seq = 2",
            "DELETE FROM audit_events WHERE seq = 3",
            "TRUNCATE audit_events",
            "DELETE FROM audit_chain_heads",
            "UPDATE alembic_version SET version_num = 'forged'",
            "DELETE FROM alembic_version",
            "CREATE TABLE forged (id integer)",
        ):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await app.execute(statement)
        assert await app.fetchval("SELECT count(*) FROM audit_events") == 3
    finally:
        await app.close()


async def test_granting_again_or_after_hand_made_grants_leaves_exactly_the_app_grants(
    roles: Roles, tmp_path: Path
) -> None:
    env = env_of(roles.owner_url, tmp_path)
    owner = await asyncpg.connect(dsn(roles.owner_url))
    try:
        await owner.execute(f'GRANT ALL ON audit_events, users TO "{roles.app}"')
        await owner.execute(f'GRANT CREATE ON SCHEMA "{roles.schema}" TO "{roles.app}"')
        first = await invoke(env, "db", "grant-app-role", roles.app)
        assert first.exit_code == 0, first.output
        once = await table_grants(owner, roles.app, roles.schema)
        again = await invoke(env, "db", "grant-app-role", roles.app)
        assert again.output == first.output
        twice = await table_grants(owner, roles.app, roles.schema)

        tables = [*metadata.tables, "alembic_version"]
        expected = {(t, p) for t in tables for p in RESTRICTED.get(t, EVERYDAY)}
        assert once == twice == expected
        usage, create = await owner.fetchrow(
            "SELECT has_schema_privilege($1, $2, 'USAGE'), has_schema_privilege($1, $2, 'CREATE')",
            roles.app,
            roles.schema,
        )
        assert (usage, create) == (True, False)
        # Ids are UUIDs made by the application: were a sequence added, the app role would
        # need USAGE on it, and `grant-app-role` grants none.
        sequences = "SELECT count(*) FROM information_schema.sequences WHERE sequence_schema = $1"
        assert await owner.fetchval(sequences, roles.schema) == 0
    finally:
        await owner.close()


async def test_only_the_owner_grants_and_a_role_grants_cannot_restrict_is_refused(
    roles: Roles, tmp_path: Path
) -> None:
    owner_env, app_env = env_of(roles.owner_url, tmp_path), env_of(roles.app_url, tmp_path)
    unusable = refusal(await invoke(app_env, "db", "grant-app-role", roles.app))
    assert f"No schema on the search path ({roles.schema}) exists" in unusable
    assert (await invoke(owner_env, "db", "grant-app-role", roles.app)).exit_code == 0
    not_owner = refusal(await invoke(app_env, "db", "grant-app-role", roles.app))
    assert "Run this as the owner" in not_owner and "[not_schema_owner]" in not_owner

    owner = await asyncpg.connect(dsn(roles.owner_url))
    try:
        granted = await table_grants(owner, roles.app, roles.schema)
        itself = refusal(await invoke(owner_env, "db", "grant-app-role", roles.schema))
        assert "owns schema" in itself and "[app_role_not_restricted]" in itself

        await owner.execute(f'GRANT UPDATE ON audit_events TO PUBLIC, "{roles.app}"')
        through_public = refusal(await invoke(owner_env, "db", "grant-app-role", roles.app))
        assert "would still hold UPDATE on audit_events" in through_public
        assert "nothing was changed" in through_public
        assert await table_grants(owner, roles.app, roles.schema) == {
            *granted,
            ("audit_events", "UPDATE"),
        }
    finally:
        await owner.close()


async def test_a_missing_role_is_one_clean_line(roles: Roles, tmp_path: Path) -> None:
    missing = f"t_missing_{uuid.uuid4().hex[:12]}"
    line = refusal(await invoke(env_of(roles.owner_url, tmp_path), "db", "grant-app-role", missing))
    assert line == (
        f"Error: Role '{missing}' does not exist: create it first "
        f"(CREATE ROLE {missing} LOGIN …). [role_not_found]"
    )


@pytest.mark.parametrize(
    "name",
    ['app"; DROP TABLE users; --', "App", "1app", "pg_read_all_data", "", "a" * 64, "app\nx"],
)
async def test_a_bad_role_name_is_refused_before_any_sql(name: str, tmp_path: Path) -> None:
    """Nothing listens on port 1: reaching the database would be a different error."""
    unreachable = env_of("postgresql+asyncpg://postgres@127.0.0.1:1/test", tmp_path)
    line = refusal(await invoke(unreachable, "db", "grant-app-role", name))
    assert line.startswith(f"Error: {name!r} is not a role name this command accepts")
    assert line.endswith("[invalid_role_name]")


async def test_sqlite_has_no_roles_and_is_refused(tmp_path: Path) -> None:
    env = {"DASHCORE_DATA_DIR": str(tmp_path), "DASHCORE_ENV": "development"}
    line = refusal(await invoke(env, "db", "grant-app-role", "dashcore_app"))
    assert "sqlite, which has no roles" in line and "PostgreSQL only" in line
