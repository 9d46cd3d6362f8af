"""Exports (issue #7): making one export's file, and the periodic cleanup."""

from __future__ import annotations

from uuid import UUID

import structlog
from dishka import FromDishka

from dashcore.application.exports import EXPORT_CLEANUP_TASK, EXPORT_TASK, CleanExports, RunExport
from dashcore.domain.errors import InvalidInput
from dashcore_worker.registry import job_task

__all__ = ["export_cleanup", "run_export"]

_log = structlog.get_logger("dashcore_worker")


@job_task(EXPORT_TASK)
async def run_export(export_id: str, run: FromDishka[RunExport]) -> None:
    """Make one queued export's file (a duplicate delivery is a no-op); a failed export is
    recorded on the export, and the job succeeds."""
    try:
        identifier = UUID(export_id)
    except ValueError:
        raise InvalidInput("Not an export id.", field="export_id") from None
    ended = await run(identifier)
    if ended is not None:
        _log.info(
            "export_ended",
            export_id=export_id,
            status=ended.status.value,
            rows=ended.row_count,
            bytes=ended.byte_size,
            error=None if ended.error is None else ended.error.code,
        )


@job_task(EXPORT_CLEANUP_TASK)
async def export_cleanup(clean: FromDishka[CleanExports]) -> None:
    """Fail the exports whose worker stopped answering; delete expired ones and their files."""
    cleaned = await clean()
    if cleaned.stale or cleaned.expired:
        _log.info("export_cleanup_done", stale=cleaned.stale, expired=cleaned.expired)
