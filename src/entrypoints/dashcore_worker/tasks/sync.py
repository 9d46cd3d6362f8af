"""Syncing connections' data (issue #7): one sync run, the periodic sync, stale-run cleanup."""

from __future__ import annotations

from uuid import UUID

import structlog
from dishka import FromDishka

from dashcore.application.sync import (
    SYNC_TASK,
    CleanStaleRuns,
    PurgeRawPayloads,
    RunSync,
    ScheduleSyncs,
)
from dashcore.domain.aggregation import ACTIVE_SYNC_STATUSES
from dashcore.domain.errors import InvalidInput
from dashcore_worker.registry import job_task

__all__ = ["sync_cleanup", "sync_connection", "sync_connections"]

_log = structlog.get_logger("dashcore_worker")


@job_task(SYNC_TASK)
async def sync_connection(run_id: str, run: FromDishka[RunSync]) -> None:
    """Run one queued sync (a duplicate delivery, or a run another worker holds, is a no-op,
    logged ``sync_run_skipped``); a failed sync is recorded on its run, and the job succeeds."""
    try:
        identifier = UUID(run_id)
    except ValueError:
        raise InvalidInput("Not a sync run id.", field="run_id") from None
    ended = await run(identifier)
    if ended is None:
        return
    if ended.status in ACTIVE_SYNC_STATUSES:
        # A duplicate delivery, or the run another worker holds: that worker ends it.
        _log.info("sync_run_skipped", run_id=run_id, status=ended.status.value)
        return
    _log.info(
        "sync_run_ended",
        run_id=run_id,
        status=ended.status.value,
        error=None if ended.error is None else ended.error.code,
        suspicious=ended.is_suspicious,
    )


@job_task("sync_connections")
async def sync_connections(schedule: FromDishka[ScheduleSyncs]) -> None:
    """Queue a scheduled sync of every usable connection (one active run per connection)."""
    queued = await schedule()
    _log.info("syncs_scheduled", connections=queued)


@job_task("sync_cleanup")
async def sync_cleanup(
    clean: FromDishka[CleanStaleRuns], purge: FromDishka[PurgeRawPayloads]
) -> None:
    """Give up the syncs whose worker stopped answering; delete raw payloads past retention."""
    cleaned = await clean()
    purged = await purge()
    if cleaned or purged:
        _log.info("sync_cleanup_done", stale_runs=cleaned, raw_payloads=purged)
