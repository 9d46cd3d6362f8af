"""Reading one sync run (``GET /syncs/{id}``): where a requested sync stands.

Owner-checked: another user's run, like an unknown one, is a 404 ``sync_run_not_found``.
"""

from __future__ import annotations

from uuid import UUID

from dashcore.domain.aggregation import SyncRun
from dashcore.domain.errors import NotFound
from dashcore.ports.aggregation import SyncRunRepository

__all__ = ["GetSyncRun"]


class GetSyncRun:
    def __init__(self, runs: SyncRunRepository) -> None:
        self._runs = runs

    async def __call__(self, user_id: UUID, run_id: UUID) -> SyncRun:
        run = await self._runs.get(run_id)
        if run is None or run.user_id != user_id:
            raise NotFound("No such sync run.", code="sync_run_not_found")
        return run
