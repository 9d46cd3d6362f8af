"""``dashcore sync <connection-id>``: sync one connection now, in the foreground, with a
progress bar.

The sync is requested as the API requests it (one sync at a time per connection: an active
run is followed instead of starting another) and run in this process. The bar counts the
transactions written (new, changed and removed) as the run saves its counts; the line ends
with the run's outcome. A failed run exits 1 with its reason.
"""

from __future__ import annotations

from typing import TextIO
from uuid import UUID

import click
from click._termui_impl import ProgressBar

from dashcore.application.sync import RequestSync, RunSync
from dashcore.application.sync_runs import GetSyncRun
from dashcore.domain.aggregation import SyncRun
from dashcore.domain.errors import NotFound
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore_app import Dashcore
from dashcore_app.logging import configure_logging
from dashcore_cli.context import load_settings, require_database, run
from dashcore_cli.progress import follow, progress_stream, unbounded

__all__ = ["sync", "sync_connection"]


def _written(run: SyncRun) -> int:
    counts = run.counts
    return counts.transactions_added + counts.transactions_modified + counts.transactions_removed


def _describe(run: SyncRun | None) -> str | None:
    if run is None:
        return None
    counts = run.counts
    return (
        f"{counts.accounts} accounts, +{counts.transactions_added} "
        f"~{counts.transactions_modified} -{counts.transactions_removed} transactions"
    )


class _SyncBar:
    def __init__(self, bar: ProgressBar[SyncRun]) -> None:
        self._bar = bar

    def __call__(self, run: SyncRun) -> bool:
        self._bar.update(_written(run) - self._bar.pos, current_item=run)
        self._bar.render_progress()  # counts may change while the position does not
        return not run.is_active


async def sync_connection(core: Dashcore, connection_id: UUID, *, progress: TextIO) -> SyncRun:
    """Request a sync of the connection (or find the active one), run it here and follow it
    to its end, drawing the bar on ``progress``."""
    async with core.scope() as scope:
        connection = await (await scope.get(ProviderConnectionRepository)).get(connection_id)
        if connection is None:
            raise NotFound("No such connection.", code="connection_not_found")
        requested = await (await scope.get(RequestSync))(connection.user_id, connection_id)

    async def make() -> None:
        async with core.scope() as scope:
            await (await scope.get(RunSync))(requested.id)

    async def read() -> SyncRun:
        async with core.scope() as scope:
            return await (await scope.get(GetSyncRun))(requested.user_id, requested.id)

    with click.progressbar(
        unbounded(SyncRun),
        label=f"Syncing {connection.provider}",
        show_pos=True,
        item_show_func=_describe,
        file=progress,
    ) as bar:
        return await follow(make(), read, _SyncBar(bar))


@click.command("sync")
@click.argument("connection_id", type=click.UUID)
def sync(connection_id: UUID) -> None:
    """Sync CONNECTION_ID's accounts, holdings and transactions now, showing progress."""
    settings = require_database(load_settings())
    if settings.uses_memory_database:
        raise click.ClickException("DASHCORE_DATABASE_URL=memory:// has no connection to sync")
    configure_logging(settings, to_stderr=True)

    async def work() -> SyncRun:
        async with Dashcore.open(settings) as core:
            return await sync_connection(core, connection_id, progress=progress_stream())

    ended = run(work())
    if ended.error is not None:
        raise click.ClickException(
            f"sync {ended.id} failed: {ended.error.message} [{ended.error.code}]"
        )
    note = f" ({len(ended.suspicious)} suspicious answers kept out)" if ended.suspicious else ""
    click.echo(f"sync {ended.id} {ended.status}: {_describe(ended)}{note}")
