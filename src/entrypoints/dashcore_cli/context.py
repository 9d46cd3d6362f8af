"""What every command needs: validated settings and a way to run async work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.errors import DashcoreError
from dashcore_app import Settings, SettingsError, StartupError
from dashcore_app.providers import require_configured_extras, require_database_extra
from dashcore_sql import COMMAND_TIMEOUT, create_engine, sqlite_file

__all__ = [
    "load_settings",
    "open_engine",
    "require_database",
    "require_extras",
    "run",
    "with_engine",
]

T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _as_cli_error() -> Iterator[None]:
    """A ``StartupError`` (a misconfiguration, with its fix) as a one-line CLI error."""
    try:
        yield
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc


def require_extras(settings: Settings) -> Settings:
    """``settings``, after checking that every configured adapter's library is installed
    (a missing extra is the ``pip install`` line that fixes it, not a traceback)."""
    with _as_cli_error():
        require_configured_extras(settings)
    return settings


def require_database(settings: Settings) -> Settings:
    """``settings``, after checking that an SQLite database file exists: a command that reads
    the database must not create an empty one at a mistyped path (only ``migrate up`` and
    ``serve`` create it). Other databases answer for themselves when connected to."""
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise click.ClickException(
            f"the database file {path} does not exist: check DASHCORE_DATABASE_URL or "
            "DASHCORE_DATA_DIR, or create it with `dashcore migrate up`"
        )
    return settings


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run async work on the loop ``serve`` runs the app on (uvloop where it is installed:
    the worker's jobs hop to the database driver as requests do); configuration and domain
    errors become clean CLI errors."""
    try:
        with _as_cli_error():
            return _on_the_servers_loop(coroutine)
    except DashcoreError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from exc


def _on_the_servers_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # no uvloop for this platform (Windows, PyPy): asyncio's own loop
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def open_engine(
    settings: Settings, *, command_timeout: float | None = COMMAND_TIMEOUT
) -> AsyncEngine:
    """An engine for the configured database; ``command_timeout=None`` for migrations (see
    ``dashcore_sql.create_engine``)."""
    if settings.uses_memory_database:
        raise click.ClickException("DASHCORE_DATABASE_URL=memory:// has no schema to manage")
    with _as_cli_error():
        require_database_extra(settings)
    return create_engine(settings.database_url, command_timeout=command_timeout)


async def with_engine(
    settings: Settings,
    work: Callable[[AsyncEngine], Awaitable[T]],
    *,
    command_timeout: float | None = COMMAND_TIMEOUT,
) -> T:
    """Run ``work`` on an engine for the configured database, disposed afterwards."""
    engine = open_engine(settings, command_timeout=command_timeout)
    try:
        return await work(engine)
    finally:
        await engine.dispose()
