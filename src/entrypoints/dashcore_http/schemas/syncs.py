"""Bodies of the sync endpoints (``POST /providers/{id}/syncs``, ``GET /syncs/{id}``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

__all__ = ["SyncCountsView", "SyncFailureView", "SyncRunView"]


class SyncCountsView(msgspec.Struct, frozen=True, kw_only=True):
    """What the run wrote so far: accounts seen, snapshot lines stored, transactions changed."""

    accounts: int
    holdings: int
    positions: int
    transactions_added: int
    transactions_modified: int
    transactions_removed: int


class SyncFailureView(msgspec.Struct, frozen=True):
    code: str
    message: str


class SyncRunView(msgspec.Struct, frozen=True, kw_only=True):
    """One sync of one connection: ``queued`` → ``running`` → ``succeeded`` | ``failed``
    (with ``error``). ``suspicious`` lists answers that looked wrong, whose previous data was
    kept. ``heartbeat_at`` moves while it runs; ``job_id`` is the background job running it."""

    id: UUID
    connection_id: UUID
    trigger: str
    status: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime
    counts: SyncCountsView
    error: SyncFailureView | None
    suspicious: list[str]
    job_id: str | None
