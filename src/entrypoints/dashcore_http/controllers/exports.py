"""``/api/v1/exports``: exporting the signed-in user's transactions to CSV or JSON.

``POST /exports`` answers 202 with a queued export (a background job makes the file); poll
``GET /exports/{id}`` for its status and progress, then ``GET /exports/{id}/file`` streams the
file as an attachment (409 ``export_not_ready`` / ``export_failed`` / ``export_expired``
otherwise). Owner-checked: another user's export is 404 ``export_not_found``, another user's
account 404 ``account_not_found``; where plans include exports, 403 ``plan_required``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from dashcore.application.exports import GetExport, OpenExportFile, RequestExport
from dashcore.domain.exports import Export, ExportFormat, ExportPeriod, ExportRequest
from dashcore.ports.clock import Clock
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.exports import (
    ExportCreate,
    ExportFailureView,
    ExportProgressView,
    ExportView,
)

__all__ = ["ExportsController", "export_view"]

EXPORTS_PATH = "/api/v1/exports"


def export_view(export: Export, now: datetime) -> ExportView:
    """``export`` as the caller sees it at ``now``: past ``expires_at`` it is ``expired``,
    with no ``file_url`` (the download is refused; the export is forgotten soon after)."""
    request, error, progress = export.request, export.error, export.progress
    expired = export.is_expired(now)
    return ExportView(
        id=export.id,
        status="expired" if expired else export.status.value,
        format=request.format.value,
        period=None if request.period is None else request.period.value,
        since=request.since,
        until=request.until,
        account_ids=sorted(request.account_ids),
        progress=ExportProgressView(
            rows_read=export.rows_read,
            rows_estimated=export.rows_estimated,
            fraction=None if progress is None else round(progress, 4),
        ),
        row_count=export.row_count,
        byte_size=export.byte_size,
        file_url=None if export.file_key is None or expired else f"{EXPORTS_PATH}/{export.id}/file",
        error=None if error is None else ExportFailureView(error.code, error.message),
        job_id=export.job_id,
        created_at=export.created_at,
        started_at=export.started_at,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
    )


def _request(data: ExportCreate) -> ExportRequest:
    return ExportRequest(
        format=ExportFormat(data.format),
        since=data.since,
        until=data.until,
        account_ids=frozenset(data.account_ids),
        period=None if data.period is None else ExportPeriod(data.period),
    )


class ExportsController(Controller):
    path = "/exports"
    tags = ("exports",)

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        summary="Export transactions to CSV or JSON",
        responses=problems(
            {
                403: "`plan_required` (where `DASHCORE_EXPORT_PLANS` is set)",
                404: "`account_not_found`: one of `account_ids` is not the caller's",
            }
        ),
    )
    @inject
    async def request_export(
        self,
        data: JSONBody[ExportCreate],
        request: Request[Any, Any, Any],
        exports: FromDishka[RequestExport],
        clock: FromDishka[Clock],
    ) -> ExportView:
        """202 with the queued export; follow it with ``GET /exports/{id}``."""
        export = await exports(principal(request).subject, _request(data), caller_of(request))
        return export_view(export, clock.now())

    @get("/{export_id:uuid}", summary="Where an export stands")
    @inject
    async def get_export(
        self,
        export_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        exports: FromDishka[GetExport],
        clock: FromDishka[Clock],
    ) -> ExportView:
        return export_view(await exports(principal(request).subject, export_id), clock.now())

    @get(
        "/{export_id:uuid}/file",
        summary="Download a finished export's file",
        responses=problems(
            {
                404: "`export_not_found`, `export_file_missing` (request a new export)",
                409: "`export_not_ready`, `export_failed`, `export_expired`",
            }
        ),
    )
    @inject
    async def download(
        self,
        export_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        files: FromDishka[OpenExportFile],
    ) -> Stream:
        """The file as an attachment (``text/csv`` or ``application/json``), streamed."""
        opened = await files(principal(request).subject, export_id, caller_of(request))
        return Stream(
            opened.chunks,
            media_type=opened.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{opened.file_name}"',
                "Content-Length": str(opened.size),
                "Cache-Control": "no-store",
            },
        )
