"""Exports in SQL (issue #7), with explicit row <-> entity mapping.

- ``lock`` is ``SELECT … FOR UPDATE`` (SQLite runs one writer at a time): the export job claims
  a queued export under it, so two deliveries of one job never both run it.
- The counter estimates an export with ``count(*)`` under the very filter the export stream
  applies (``dashcore_sql.aggregation``'s), over the ``(user_id, occurred_at, id)`` index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, func, insert, select, update

from dashcore.domain.aggregation import TransactionFilter
from dashcore.domain.errors import NotFound
from dashcore.domain.exports import (
    Export,
    ExportFailure,
    ExportFormat,
    ExportPeriod,
    ExportRequest,
    ExportStatus,
)
from dashcore.ports.exports import ExportRepository, TransactionCounter
from dashcore_sql.aggregation import filtered_transactions
from dashcore_sql.tables import exports, transactions
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlExportRepository", "SqlTransactionCounter"]

_exports = exports.c
_ACTIVE = [status.value for status in ExportStatus if status.is_active]


class SqlExportRepository(ExportRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, export: Export) -> None:
        await self._uow.execute(insert(exports).values(_export_row(export)))

    async def get(self, export_id: UUID) -> Export | None:
        row = (
            await self._uow.execute(select(exports).where(_exports.id == export_id))
        ).one_or_none()
        return None if row is None else _export(row)

    async def lock(self, export_id: UUID) -> Export | None:
        query = select(exports).where(_exports.id == export_id).with_for_update()
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _export(row)

    async def save(self, export: Export) -> None:
        row = _export_row(export)
        statement = (
            update(exports)
            .where(_exports.id == export.id, _exports.user_id == export.user_id)
            .values({name: value for name, value in row.items() if name != "id"})
            .values(job_id=func.coalesce(row["job_id"], _exports.job_id))
        )
        if (await self._uow.execute(statement)).rowcount != 1:
            raise NotFound("No such export.", code="export_not_found")

    async def stale(self, before: datetime, *, limit: int) -> Sequence[Export]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = (
            select(exports)
            .where(_exports.status.in_(_ACTIVE), _exports.heartbeat_at < before)
            .order_by(_exports.heartbeat_at, _exports.id)
            .limit(limit)
        )
        return [_export(row) for row in await self._uow.execute(query)]

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Export]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = (
            select(exports)
            .where(_exports.expires_at <= now)
            .order_by(_exports.expires_at, _exports.id)
            .limit(limit)
        )
        return [_export(row) for row in await self._uow.execute(query)]

    async def delete(self, export_id: UUID) -> None:
        await self._uow.execute(delete(exports).where(_exports.id == export_id))


class SqlTransactionCounter(TransactionCounter):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def count_transactions(self, user_id: UUID, query: TransactionFilter) -> int:
        statement = filtered_transactions(
            select(func.count()).select_from(transactions), user_id, query, self._uow.dialect_name
        )
        count: int = (await self._uow.execute(statement)).scalar_one()
        return count


def _export_row(export: Export) -> dict[str, Any]:
    request, error = export.request, export.error
    return {
        "id": export.id,
        "user_id": export.user_id,
        "format": request.format.value,
        "since": request.since,
        "until": request.until,
        "account_ids": json.dumps(sorted(str(account) for account in request.account_ids)),
        "period": None if request.period is None else request.period.value,
        "status": export.status.value,
        "created_at": export.created_at,
        "heartbeat_at": export.heartbeat_at,
        "started_at": export.started_at,
        "finished_at": export.finished_at,
        "expires_at": export.expires_at,
        "rows_read": export.rows_read,
        "rows_estimated": export.rows_estimated,
        "row_count": export.row_count,
        "byte_size": export.byte_size,
        "file_key": export.file_key,
        "error_code": None if error is None else error.code,
        "error_message": None if error is None else error.message,
        "job_id": export.job_id,
    }


def _export(row: Row[Any]) -> Export:
    accounts: list[str] = json.loads(row.account_ids)
    return Export(
        id=row.id,
        user_id=row.user_id,
        request=ExportRequest(
            format=ExportFormat(row.format),
            since=row.since,
            until=row.until,
            account_ids=frozenset(UUID(account) for account in accounts),
            period=None if row.period is None else ExportPeriod(row.period),
        ),
        status=ExportStatus(row.status),
        created_at=row.created_at,
        heartbeat_at=row.heartbeat_at,
        rows_read=row.rows_read,
        rows_estimated=row.rows_estimated,
        row_count=row.row_count,
        byte_size=row.byte_size,
        file_key=row.file_key,
        error=None if row.error_code is None else ExportFailure(row.error_code, row.error_message),
        job_id=row.job_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
    )
