"""``dashcore migrate``: the database schema, shipped inside the package (works from a wheel)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import click
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_cli.context import load_settings, require_database, run, with_engine
from dashcore_sql import migrate as migrations

__all__ = ["migrate"]


def _move(change: Callable[[AsyncEngine, str], Awaitable[None]], revision: str) -> None:
    """Apply ``change`` towards ``revision`` and print where the schema ends up; a revision
    that does not exist or a step past either end is a one-line error."""

    async def work(engine: AsyncEngine) -> str | None:
        await change(engine, revision)
        return await migrations.current(engine)

    try:
        reached = run(with_engine(load_settings(), work, command_timeout=None))
    except CommandError as exc:
        raise click.ClickException(f"cannot migrate to {revision!r}: {exc}") from exc
    click.echo(f"database at revision {reached or 'base'}")


@click.group()
def migrate() -> None:
    """Upgrade, downgrade or inspect the database schema."""


@migrate.command("up")
@click.argument("revision", default="head")
def up(revision: str) -> None:
    """Upgrade to REVISION (default: the newest)."""
    _move(migrations.upgrade, revision)


# A relative step such as `-1` is the revision, not an option.
@migrate.command("down", context_settings={"ignore_unknown_options": True})
@click.argument("revision", default="-1")
def down(revision: str) -> None:
    """Downgrade to REVISION (default: one step back, like -1; `base` removes every table)."""
    _move(migrations.downgrade, revision)


@migrate.command("current")
def current() -> None:
    """Print the revision the database is at."""
    click.echo(run(with_engine(require_database(load_settings()), migrations.current)) or "base")


@migrate.command("history")
def history() -> None:
    """List every revision, oldest first."""
    for revision, down_revision, message in migrations.history():
        click.echo(f"{down_revision or 'base'} -> {revision}  {message}")
