"""``dashcore export``: export a user's transactions to a CSV or JSON file, with a progress bar.

    dashcore export --user ada@example.com --format csv --from 2026-01-01 --to 2026-03-31 \
        --period month -o q1.csv

The export is requested as the API requests it (the user's plan and accounts are checked, and
it is audited) and made in this process; the file is written next to ``-o`` and renamed into
place once complete. Days are UTC: ``--from`` starts at its first instant and ``--to`` includes
its whole day; an ISO 8601 instant with an offset is taken as it is (``--to`` excluded).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from uuid import UUID

import click
from click._termui_impl import ProgressBar

from dashcore.application.exports import GetExport, OpenExportFile, RequestExport, RunExport
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.errors import InvalidInput, NotFound
from dashcore.domain.exports import Export, ExportFormat, ExportPeriod, ExportRequest, ExportStatus
from dashcore.domain.time import parse_utc
from dashcore.ports.users import UserRepository
from dashcore_app import Dashcore
from dashcore_app.logging import configure_logging
from dashcore_cli.context import load_settings, require_database, run
from dashcore_cli.progress import follow, progress_stream

__all__ = ["export", "export_transactions"]

CLI_CALLER = CallerContext(actor="cli:export", user_agent="dashcore-cli")


class _Moment(click.ParamType[date | datetime, object]):
    """A UTC day (``2026-03-31``) or an ISO 8601 instant with an offset."""

    name = "day-or-instant"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> date | datetime:
        if isinstance(value, date):
            return value
        text = str(value)
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return parse_utc(text)
        except InvalidInput:
            self.fail(
                f"{text!r} is neither a day (YYYY-MM-DD) nor an ISO 8601 instant with an "
                "offset (2026-03-31T00:00:00Z)",
                param,
                ctx,
            )


def _instant(moment: date | datetime, *, end_of_day: bool) -> datetime:
    """An instant as it is; a day from its first instant, or (``end_of_day``) to its last."""
    if isinstance(moment, datetime):
        return moment
    start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return start + timedelta(days=1) if end_of_day else start


async def _user_id(core: Dashcore, who: str) -> UUID:
    """The user named by an id or an email address (``NotFound`` otherwise)."""
    async with core.scope() as scope:
        users = await scope.get(UserRepository)
        try:
            user = await users.get(UUID(who))
        except ValueError:
            user = await users.get_by_email_key(Email(who).key)
    if user is None:
        raise NotFound(f"No user {who}.", code="user_not_found")
    return user.id


class _ExportBar:
    """Draws an export's progress once its size is known (rows read / rows expected)."""

    def __init__(self, stack: contextlib.ExitStack, progress: TextIO) -> None:
        self._stack = stack
        self._progress = progress
        self._bar: ProgressBar[int] | None = None

    def __call__(self, export: Export) -> bool:
        if self._bar is None and export.rows_estimated is not None:
            self._bar = self._stack.enter_context(
                click.progressbar(
                    length=export.rows_estimated,
                    label="Exporting",
                    show_pos=True,
                    show_percent=True,
                    file=self._progress,
                )
            )
        if self._bar is not None and self._bar.length is not None:
            done = export.status is ExportStatus.SUCCEEDED
            target = self._bar.length if done else min(export.rows_read, self._bar.length)
            self._bar.update(target - self._bar.pos)
        return not export.is_active


async def export_transactions(
    core: Dashcore, who: str, request: ExportRequest, output: Path, *, progress: TextIO
) -> Export:
    """Request the export for the user ``who`` (an email address or an id), make it here,
    following it on ``progress``, and write its file to ``output`` (whole, or not at all)."""
    user_id = await _user_id(core, who)
    async with core.scope() as scope:
        queued = await (await scope.get(RequestExport))(user_id, request, CLI_CALLER)

    async def make() -> None:
        async with core.scope() as scope:
            await (await scope.get(RunExport))(queued.id)

    async def read() -> Export:
        async with core.scope() as scope:
            return await (await scope.get(GetExport))(user_id, queued.id)

    with contextlib.ExitStack() as bar:
        ended = await follow(make(), read, _ExportBar(bar, progress))
    if ended.error is not None:
        raise click.ClickException(
            f"export {ended.id} failed: {ended.error.message} [{ended.error.code}]"
        )
    part = output.with_name(f".{output.name}.part")
    try:
        async with core.scope() as scope:
            opened = await (await scope.get(OpenExportFile))(user_id, queued.id, CLI_CALLER)
            with part.open("wb") as handle:
                async for chunk in opened.chunks:
                    handle.write(chunk)
        os.replace(part, output)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
    finally:
        part.unlink(missing_ok=True)
    return ended


@click.command("export")
@click.option("--user", "who", required=True, help="The owner: an email address or a user id.")
@click.option(
    "--format",
    "export_format",
    type=click.Choice([f.value for f in ExportFormat]),
    default="csv",
    show_default=True,
)
@click.option(
    "--from", "since", required=True, type=_Moment(), help="First day (YYYY-MM-DD) or an instant."
)
@click.option(
    "--to",
    "until",
    required=True,
    type=_Moment(),
    help="Last day, included, or an instant, excluded.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    type=click.UUID,
    help="Only this account (repeatable; default: all of the user's).",
)
@click.option(
    "--period",
    type=click.Choice([p.value for p in ExportPeriod]),
    default=None,
    help="Sums per period, category and currency instead of raw rows.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write.",
)
def export(
    who: str,
    export_format: str,
    since: date | datetime,
    until: date | datetime,
    accounts: tuple[UUID, ...],
    period: str | None,
    output: Path,
) -> None:
    """Export a user's transactions to a CSV or JSON file, showing progress."""
    settings = require_database(load_settings())
    if settings.uses_memory_database:
        raise click.ClickException("DASHCORE_DATABASE_URL=memory:// keeps nothing to export")
    if not output.parent.is_dir():
        raise click.BadParameter(f"{output.parent} is not a directory", param_hint="'-o'")
    try:
        last = _instant(until, end_of_day=True)
    except OverflowError as exc:
        raise click.BadParameter(f"{until} is the last day there is", param_hint="'--to'") from exc
    configure_logging(settings, to_stderr=True)

    async def work() -> Export:
        request = ExportRequest(
            format=ExportFormat(export_format),
            since=_instant(since, end_of_day=False),
            until=last,
            account_ids=frozenset(accounts),
            period=None if period is None else ExportPeriod(period),
        )
        async with Dashcore.open(settings) as core:
            return await export_transactions(core, who, request, output, progress=progress_stream())

    done = run(work())
    click.echo(f"export {done.id}: {done.row_count} rows, {done.byte_size} bytes -> {output}")
