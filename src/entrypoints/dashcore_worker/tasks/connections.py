"""Provider-connection upkeep (issue #5): refresh ahead of expiry, re-login warnings."""

from __future__ import annotations

import structlog
from dishka import FromDishka

from dashcore.application.connections import ReauthWarnings, RefreshConnections
from dashcore_worker.registry import job_task

__all__ = ["reauth_warnings", "refresh_connections"]

_log = structlog.get_logger("dashcore_worker")


@job_task("refresh_connections")
async def refresh_connections(refresh: FromDishka[RefreshConnections]) -> None:
    """Refresh every connection whose access ends within 5 minutes (single flight per
    connection across processes; one failure stops nothing)."""
    done = await refresh.refresh_due()
    if done.refreshed or done.failed:
        _log.info("connections_refreshed", refreshed=done.refreshed, failed=done.failed)


@job_task("reauth_warnings")
async def reauth_warnings(warn: FromDishka[ReauthWarnings]) -> None:
    """Warn owners whose connections need a new login soon (once per credential end)."""
    warned = await warn()
    if warned:
        _log.info("reauth_warnings_sent", warned=warned)
