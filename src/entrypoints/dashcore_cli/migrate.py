"""``dashcore migrate``: the database schema, shipped inside the package (works from a wheel)."""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_cli.context import load_settings, run, with_engine
from dashcore_sql import migrate as migrations

__all__ = ["migrate"]


@click.group()
def migrate() -> None:
    """Upgrade, downgrade or inspect the database schema."""


@migrate.command("up")
@click.argument("revision", default="head")
def up(revision: str) -> None:
    """Upgrade to REVISION (default: the newest)."""

    async def upgrade(engine: AsyncEngine) -> str | None:
        await migrations.upgrade(engine, revision)
        return await migrations.current(engine)

    click.echo(f"database at revision {run(with_engine(load_settings(), upgrade)) or 'base'}")


@migrate.command("down")
@click.argument("revision", default="-1")
def down(revision: str) -> None:
    """Downgrade to REVISION (default: one step back; `base` removes every table)."""

    async def downgrade(engine: AsyncEngine) -> str | None:
        await migrations.downgrade(engine, revision)
        return await migrations.current(engine)

    click.echo(f"database at revision {run(with_engine(load_settings(), downgrade)) or 'base'}")


@migrate.command("current")
def current() -> None:
    """Print the revision the database is at."""
    click.echo(run(with_engine(load_settings(), migrations.current)) or "base")


@migrate.command("history")
def history() -> None:
    """List every revision, oldest first."""
    for revision, down_revision, message in migrations.history():
        click.echo(f"{down_revision or 'base'} -> {revision}  {message}")
