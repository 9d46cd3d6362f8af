"""Schema migrations, shipped inside this package and run on the application's own engine.

The Alembic scripts live in ``dashcore_sql/migrations``, found through ``importlib.resources``
so they work from a wheel and from any working directory; no ``alembic.ini`` is involved. Each
upgrade or downgrade runs in one transaction: on PostgreSQL and SQLite (both have transactional
DDL) a failed migration leaves the schema as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_sql.errors import database_errors

__all__ = ["current", "downgrade", "history", "upgrade"]


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    location = str(files("dashcore_sql") / "migrations")
    config.set_main_option("script_location", location.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


async def _run(
    engine: AsyncEngine, operation: Callable[[Config, str], None], revision: str
) -> None:
    with database_errors():
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: operation(_config(sync), revision))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema down to ``revision`` (``"-1"`` for one step, ``"base"`` for empty)."""
    await _run(engine, command.downgrade, revision)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated."""
    with database_errors():
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )


def history() -> list[tuple[str, str | None, str]]:
    """Every revision, oldest first, as ``(revision, down_revision, message)``."""
    scripts = ScriptDirectory.from_config(_config())
    return [
        (script.revision, _joined(script.down_revision), script.doc)
        for script in reversed(list(scripts.walk_revisions()))
    ]


def _joined(revisions: str | Sequence[str] | None) -> str | None:
    """A merge revision has several parents; they are reported comma-separated."""
    if revisions is None or isinstance(revisions, str):
        return revisions
    return ",".join(revisions)
