"""Bodies of the export endpoints (``POST /exports``, ``GET /exports/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

__all__ = ["ExportCreate", "ExportFailureView", "ExportProgressView", "ExportView"]

PeriodText = Literal["day", "week", "month", "year"]


class ExportCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What to export: transactions with ``since <= occurred_at < until`` (instants with a
    time zone), of some accounts (all of the caller's when left out), as raw rows or, with a
    ``period``, as sums per period, category and currency."""

    format: Literal["csv", "json"]
    since: datetime
    until: datetime
    account_ids: Annotated[list[UUID], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    period: PeriodText | None = None


class ExportProgressView(msgspec.Struct, frozen=True, kw_only=True):
    """Transactions read so far out of those that matched when the export started;
    ``fraction`` is 0 to 1 (``null`` until the export starts)."""

    rows_read: int
    rows_estimated: int | None
    fraction: float | None


class ExportFailureView(msgspec.Struct, frozen=True):
    code: str
    message: str


class ExportView(msgspec.Struct, frozen=True, kw_only=True):
    """One export: ``queued`` → ``running`` → ``succeeded`` (download ``file_url``) |
    ``failed`` (with ``error``), then ``expired`` past ``expires_at`` (no ``file_url``; the
    export and its file are deleted soon after). ``row_count`` is the number of data lines in
    the file (rows, or period totals)."""

    id: UUID
    status: str
    format: str
    period: str | None
    since: datetime
    until: datetime
    account_ids: list[UUID]
    progress: ExportProgressView
    row_count: int | None
    byte_size: int | None
    file_url: str | None
    error: ExportFailureView | None
    job_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
