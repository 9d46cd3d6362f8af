"""``POST /api/v1/providers/{id}/syncs`` and ``GET /api/v1/syncs/{id}``: asking for a sync of a
connection and following it.

A request answers 202 with the run: a new one queued for a background worker, or the one
already queued or running for that connection (one sync at a time). Owner-checked: another
user's connection is 404 ``connection_not_found``, another user's run 404 ``sync_run_not_found``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED

from dashcore.application.sync import RequestSync
from dashcore.application.sync_runs import GetSyncRun
from dashcore.domain.aggregation import SyncRun
from dashcore_http.authentication import principal
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.syncs import SyncCountsView, SyncFailureView, SyncRunView

__all__ = ["SyncsController", "sync_run_view"]


def sync_run_view(run: SyncRun) -> SyncRunView:
    counts, error = run.counts, run.error
    return SyncRunView(
        id=run.id,
        connection_id=run.connection_id,
        trigger=run.trigger.value,
        status=run.status.value,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
        counts=SyncCountsView(
            accounts=counts.accounts,
            holdings=counts.holdings,
            positions=counts.positions,
            transactions_added=counts.transactions_added,
            transactions_modified=counts.transactions_modified,
            transactions_removed=counts.transactions_removed,
        ),
        error=None if error is None else SyncFailureView(error.code, error.message),
        suspicious=list(run.suspicious),
        job_id=run.job_id,
    )


class SyncsController(Controller):
    path = "/"
    tags = ("syncs",)

    @post(
        "/providers/{connection_id:uuid}/syncs",
        status_code=HTTP_202_ACCEPTED,
        summary="Sync a connection's accounts, holdings and transactions",
        responses=problems({409: "`connection_not_usable`: connect it (again) first"}),
    )
    @inject
    async def request_sync(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        syncs: FromDishka[RequestSync],
    ) -> SyncRunView:
        """202 with the run (poll ``GET /syncs/{id}``); 409 ``connection_not_usable`` when the
        connection needs to be (re)connected first."""
        return sync_run_view(await syncs(principal(request).subject, connection_id))

    @get("/syncs/{run_id:uuid}", summary="Where a sync stands")
    @inject
    async def get_run(
        self,
        run_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        runs: FromDishka[GetSyncRun],
    ) -> SyncRunView:
        return sync_run_view(await runs(principal(request).subject, run_id))
