"""The migrated schema for a test's own database, copied rather than migrated each time.

``dashcore_sql.upgrade`` runs every revision (0.3–0.7 s on this machine), and most tests that use
a database need a fresh one of their own. :func:`migrate` gives the same schema from a copy
made once per test process: on SQLite the migrated template file, on PostgreSQL the DDL that
``pg_dump --schema-only`` prints for a migrated template schema (with the ``alembic_version``
row), replayed in the test's schema. Where ``pg_dump`` is not installed, every test migrates.
``tests/integration/test_migrations.py`` still runs the revisions themselves, up and down, and
checks that they build exactly ``metadata``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_sql import create_engine, upgrade
from tests.services import database_url

__all__ = ["migrate", "migrate_database"]

_templates = tempfile.TemporaryDirectory(prefix="dashcore-migrated-")
_sqlite_template: Path | None = None
_postgres_script: str | None = None


async def migrate(engine: AsyncEngine) -> None:
    """Bring ``engine``'s empty database (a SQLite file, or the PostgreSQL schema its search
    path names) to the latest revision, as ``upgrade(engine)`` would."""
    if engine.dialect.name == "sqlite":
        await _copy_sqlite(engine)
    elif shutil.which("pg_dump") is None:  # no PostgreSQL client tools here: migrate each time
        await upgrade(engine)
    else:
        await _replay_postgres(engine)


async def migrate_database(url: str, schema: str | None = None) -> None:
    """:func:`migrate` the empty database at ``url`` (``schema`` on PostgreSQL) through an
    engine of its own, disposed of after."""
    engine = create_engine(url, schema=schema)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _copy_sqlite(engine: AsyncEngine) -> None:
    global _sqlite_template
    if _sqlite_template is None:
        template = Path(_templates.name) / "template.db"
        made = create_engine(f"sqlite+aiosqlite:///{template}")
        await upgrade(made)
        await made.dispose()
        _sqlite_template = template
    await engine.dispose()  # no connection may hold the file it is copied over
    database = engine.url.database
    assert database, "a SQLite file, not an in-memory database"
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, database)


def _dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _replay_postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
    script = await _postgres_template()
    admin = await asyncpg.connect(_dsn(engine))
    try:
        await admin.execute(script.replace("{schema}", schema))
    finally:
        await admin.close()


async def _postgres_template() -> str:
    """The DDL of a migrated schema with ``{schema}`` where its name goes, made once: a
    template schema is migrated, printed by ``pg_dump`` and dropped. It is made on the test
    database's own URL (``tests.services.database_url``), not the test's engine: that engine
    may log in as a role that cannot create schemas, and whichever test comes first in a
    process must not decide whether the template can be made."""
    global _postgres_script
    if _postgres_script is not None:
        return _postgres_script
    template = f"tmpl_{uuid.uuid4().hex[:16]}"
    engine = create_engine(database_url())
    admin = await asyncpg.connect(_dsn(engine))
    try:
        await admin.execute(f'CREATE SCHEMA "{template}"')
        made = create_engine(engine.url, schema=template)
        await upgrade(made)
        await made.dispose()
        version = await admin.fetchval(
            f'SELECT version_num FROM "{template}".alembic_version'  # noqa: S608 - our own name
        )
        dumped = await asyncio.to_thread(_schema_only, engine, template)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{template}" CASCADE')
        await admin.close()
        await engine.dispose()
    statements = [
        line
        for line in dumped.splitlines()
        if not line.startswith("\\") and not line.startswith("CREATE SCHEMA ")
    ]
    row = f"INSERT INTO {template}.alembic_version VALUES ('{version}');"  # noqa: S608 - ours
    statements.append(row)
    _postgres_script = "\n".join(statements).replace(f"{template}.", '"{schema}".')
    return _postgres_script


def _schema_only(engine: AsyncEngine, schema: str) -> str:
    """``pg_dump --schema-only`` of one schema of ``engine``'s database."""
    url = engine.url
    command = [
        "pg_dump",
        f"--host={url.host or '127.0.0.1'}",
        f"--port={url.port or 5432}",
        f"--username={url.username or 'postgres'}",
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        f"--schema={schema}",
        url.database or "postgres",
    ]
    environment = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    return done.stdout
