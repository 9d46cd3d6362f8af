"""Exports of a user's transactions (issue #7): a CSV or JSON file of raw rows, or of sums per
period, made in the background and downloaded when ready.

Rules:
- An export covers the owner's transactions with ``since <= occurred_at < until`` (removed ones
  left out), optionally of some of the owner's accounts only, oldest first.
- **Raw rows** list each transaction. **Totals** sum the signed amounts per ``(period,
  category, currency)``, where the category is the activity type (``buy``, ``dividend``, …) and
  the period a UTC ``day``, ``week``, ``month`` or ``year``. Weeks are ISO 8601 weeks: they
  start on Monday and belong to the ISO year of their Thursday (``2025-W01`` starts on
  2024-12-30). Amounts in different currencies are never added together. Sums are exact
  :class:`~decimal.Decimal` arithmetic, whatever the number of rows.
- Totals are computed while the rows stream by, oldest first: only the period being read is
  held in memory, so an export of any size runs in constant memory.
- An :class:`Export` goes ``queued → running → succeeded | failed``; any other move is a
  ``Conflict`` (``invalid_export_transition``). While it runs, ``rows_read`` counts the
  transactions read so far out of ``rows_estimated`` (the rows that matched when it started;
  the file is made from one consistent snapshot, so the final count may differ slightly) and
  ``heartbeat_at`` moves.
- A finished export is kept until ``expires_at``; its file can be downloaded only once it
  ``succeeded`` (``Conflict`` ``export_not_ready`` before) and until it expires
  (``Conflict`` ``export_expired``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, Inexact, Overflow
from enum import StrEnum
from uuid import UUID

from dashcore.domain.aggregation import StoredTransaction, TransactionFilter
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.portfolio import ActivityType
from dashcore.domain.time import ensure_utc

__all__ = [
    "EARLIEST_EXPORT_INSTANT",
    "LATEST_EXPORT_INSTANT",
    "MAX_EXPORT_ACCOUNTS",
    "Export",
    "ExportFailure",
    "ExportFormat",
    "ExportPeriod",
    "ExportRequest",
    "ExportStatus",
    "PeriodTotal",
    "PeriodTotals",
    "check_file_key",
    "export_file_key",
]

EARLIEST_EXPORT_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_EXPORT_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
MAX_EXPORT_ACCOUNTS = 100
FAILURE_MESSAGE_MAX = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FILE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}(\.[a-z0-9]{1,8})?", re.ASCII)
_EXACT = Context(prec=200, traps=[Inexact, Overflow])
"""Sums never round: 200 significant digits hold any realistic total, and an inexact one would
raise rather than silently lose a cent."""


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"

    @property
    def extension(self) -> str:
        return self.value

    @property
    def media_type(self) -> str:
        return "text/csv" if self is ExportFormat.CSV else "application/json"


class ExportPeriod(StrEnum):
    """The span that totals are summed over, in UTC."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    def start_of(self, instant: datetime) -> date:
        """The first day of the period ``instant`` falls in (weeks start on Monday)."""
        day = ensure_utc(instant, field="occurred_at").date()
        if self is ExportPeriod.DAY:
            return day
        if self is ExportPeriod.WEEK:
            return day - timedelta(days=day.weekday())
        if self is ExportPeriod.MONTH:
            return day.replace(day=1)
        return day.replace(month=1, day=1)

    def end_of(self, start: date) -> date:
        """The first day after the period that starts on ``start``."""
        if self is ExportPeriod.DAY:
            return start + timedelta(days=1)
        if self is ExportPeriod.WEEK:
            return start + timedelta(days=7)
        if self is ExportPeriod.MONTH:
            return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start.replace(year=start.year + 1)

    def label(self, start: date) -> str:
        """``2026-03-09`` (day), ``2026-W11`` (ISO week), ``2026-03`` (month), ``2026``."""
        if self is ExportPeriod.DAY:
            return start.isoformat()
        if self is ExportPeriod.WEEK:
            year, week, _ = start.isocalendar()
            return f"{year:04d}-W{week:02d}"
        if self is ExportPeriod.MONTH:
            return f"{start.year:04d}-{start.month:02d}"
        return f"{start.year:04d}"


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export (validated). ``period`` ``None`` asks for raw rows."""

    format: ExportFormat
    since: datetime
    until: datetime
    account_ids: frozenset[UUID] = frozenset()
    period: ExportPeriod | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.format, ExportFormat):
            raise InvalidInput("A format is csv or json.", field="format")
        if self.period is not None and not isinstance(self.period, ExportPeriod):
            raise InvalidInput("A period is day, week, month or year.", field="period")
        since = ensure_utc(self.since, field="since")
        until = ensure_utc(self.until, field="until")
        if since < EARLIEST_EXPORT_INSTANT:
            raise InvalidInput("An export starts in 1900 or later.", field="since")
        if until > LATEST_EXPORT_INSTANT:
            raise InvalidInput("An export ends before the year 9999.", field="until")
        if since >= until:
            raise InvalidInput("The range ends before it starts.", field="until")
        if len(self.account_ids) > MAX_EXPORT_ACCOUNTS:
            raise InvalidInput(
                f"An export names at most {MAX_EXPORT_ACCOUNTS} accounts.", field="account_ids"
            )
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)
        object.__setattr__(self, "account_ids", frozenset(self.account_ids))

    @property
    def transactions(self) -> TransactionFilter:
        """Which transactions the export reads (removed ones excluded)."""
        return TransactionFilter(account_ids=self.account_ids, since=self.since, until=self.until)

    @property
    def file_name(self) -> str:
        """What a download is saved as: ``transactions-20260101-20260401-month.csv``."""
        last_day = (self.until - timedelta(microseconds=1)).date()
        span = f"{self.since:%Y%m%d}-{last_day:%Y%m%d}"
        suffix = "" if self.period is None else f"-{self.period.value}"
        return f"transactions-{span}{suffix}.{self.format.extension}"


# ------------------------------------------------------------------------- totals per period


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    """The sum of one category's amounts in one currency over one period, and how many rows
    made it."""

    period: ExportPeriod
    start: date
    category: ActivityType
    currency: str
    amount: Decimal
    count: int

    @property
    def label(self) -> str:
        return self.period.label(self.start)

    @property
    def end(self) -> date:
        return self.period.end_of(self.start)


class PeriodTotals:
    """Sums transactions per ``(period, category, currency)`` as they stream by, oldest first.

    Feed rows with :meth:`add`: when a row opens a later period, the totals of the period
    before come back (in category, then currency order) and are forgotten; :meth:`finish`
    gives the last period's. A row older than the period being summed is an error of the
    caller (``ValueError``): rows must come in ``occurred_at`` order.
    """

    def __init__(self, period: ExportPeriod) -> None:
        self._period = period
        self._start: date | None = None
        self._sums: dict[tuple[ActivityType, str], tuple[Decimal, int]] = {}

    def add(self, transaction: StoredTransaction) -> list[PeriodTotal]:
        start = self._period.start_of(transaction.occurred_at)
        closed: list[PeriodTotal] = []
        if self._start is None or start > self._start:
            closed = self.finish()
            self._start = start
        elif start < self._start:
            raise ValueError("transactions come oldest first")
        key = (transaction.activity, transaction.amount.currency.code)
        amount, count = self._sums.get(key, (Decimal(0), 0))
        self._sums[key] = (_EXACT.add(amount, transaction.amount.amount), count + 1)
        return closed

    def finish(self) -> list[PeriodTotal]:
        """The totals of the period being summed (none before the first row), then forgets
        them."""
        if self._start is None:
            return []
        start, sums = self._start, self._sums
        self._sums = {}
        return [
            PeriodTotal(self._period, start, category, currency, amount, count)
            for (category, currency), (amount, count) in sorted(sums.items())
        ]


# ------------------------------------------------------------------------------- the export


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self in (ExportStatus.QUEUED, ExportStatus.RUNNING)


_TRANSITIONS: dict[ExportStatus, frozenset[ExportStatus]] = {
    ExportStatus.QUEUED: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
    ExportStatus.RUNNING: frozenset({ExportStatus.SUCCEEDED, ExportStatus.FAILED}),
    ExportStatus.SUCCEEDED: frozenset(),
    ExportStatus.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """Why an export failed: a stable ``code`` and words for people (never a secret)."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > 64:
            raise ValueError("a failure code is 1-64 characters")
        object.__setattr__(self, "message", self.message[:FAILURE_MESSAGE_MAX])


@dataclass(frozen=True, slots=True)
class Export:
    """One export of one user. Immutable: each change returns the next state."""

    id: UUID
    user_id: UUID
    request: ExportRequest
    status: ExportStatus
    created_at: datetime
    heartbeat_at: datetime
    rows_read: int = 0
    rows_estimated: int | None = None
    row_count: int | None = None
    """Lines of data in the file (transactions, or period totals), once it succeeded."""
    byte_size: int | None = None
    file_key: str | None = None
    """Where the file store keeps the file (named by the export's id, never by user input)."""
    error: ExportFailure | None = None
    job_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "heartbeat_at", "started_at", "finished_at", "expires_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        counts = (self.rows_read, self.rows_estimated, self.row_count, self.byte_size)
        if any(count is not None and count < 0 for count in counts):
            raise ValueError("counts are never negative")
        if (self.status is ExportStatus.SUCCEEDED) != (self.file_key is not None):
            raise ValueError("an export has a file exactly when it succeeded")
        if (self.status is ExportStatus.FAILED) != (self.error is not None):
            raise ValueError("an export carries an error exactly when it failed")

    @classmethod
    def queued(
        cls, export_id: UUID, user_id: UUID, request: ExportRequest, now: datetime
    ) -> Export:
        return cls(
            id=export_id,
            user_id=user_id,
            request=request,
            status=ExportStatus.QUEUED,
            created_at=now,
            heartbeat_at=now,
        )

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def progress(self) -> float | None:
        """How far it is, from 0 to 1 (``None`` before the estimate is known)."""
        if self.status is ExportStatus.SUCCEEDED:
            return 1.0
        if self.rows_estimated is None:
            return None
        if self.rows_estimated == 0:
            return 0.0
        return min(self.rows_read / self.rows_estimated, 1.0)

    def _to(self, status: ExportStatus, **changes: object) -> Export:
        if status not in _TRANSITIONS[self.status]:
            raise Conflict(
                f"A {self.status} export cannot become {status}.",
                code="invalid_export_transition",
            )
        return replace(self, status=status, **changes)  # type: ignore[arg-type]

    def with_job(self, job_id: str) -> Export:
        return replace(self, job_id=job_id)

    def started(self, now: datetime, estimated: int) -> Export:
        return self._to(
            ExportStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            rows_read=0,
            rows_estimated=estimated,
        )

    def restarted(self, now: datetime, estimated: int) -> Export:
        """Running again from the first row, as a new attempt (a new ``started_at``): the
        worker of the previous attempt died. Only a running export restarts."""
        if self.status is not ExportStatus.RUNNING:
            raise Conflict(
                f"A {self.status} export cannot restart.", code="invalid_export_transition"
            )
        return replace(
            self, started_at=now, heartbeat_at=now, rows_read=0, rows_estimated=estimated
        )

    def same_attempt(self, other: Export) -> bool:
        """Whether ``other`` is this export in the same attempt (started at the same
        instant): a worker whose attempt was taken over must stop."""
        return self.id == other.id and self.started_at == other.started_at

    def progressed(self, rows_read: int, now: datetime) -> Export:
        """Rows read so far, and a heartbeat (only while running)."""
        if self.status is not ExportStatus.RUNNING:
            raise Conflict(
                f"A {self.status} export is not running.", code="invalid_export_transition"
            )
        if rows_read < self.rows_read:
            raise ValueError("rows read never go down")
        return replace(self, rows_read=rows_read, heartbeat_at=now)

    def succeeded(
        self, now: datetime, *, row_count: int, byte_size: int, file_key: str, keep: timedelta
    ) -> Export:
        """The file is complete; it is kept for ``keep``."""
        return self._to(
            ExportStatus.SUCCEEDED,
            row_count=row_count,
            byte_size=byte_size,
            file_key=file_key,
            heartbeat_at=now,
            finished_at=now,
            expires_at=now + keep,
        )

    def failed(self, now: datetime, error: ExportFailure, *, keep: timedelta) -> Export:
        """Stopped for ``error``; the record is kept for ``keep`` for its owner to see why."""
        return self._to(
            ExportStatus.FAILED,
            error=error,
            heartbeat_at=now,
            finished_at=now,
            expires_at=now + keep,
        )

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def downloadable_file(self, now: datetime) -> str:
        """The key of the file to download (``Conflict`` while not ready or once expired)."""
        if self.status is ExportStatus.FAILED:
            raise Conflict("This export failed; it has no file.", code="export_failed")
        if self.file_key is None:
            raise Conflict(
                f"This export is {self.status}; its file is not ready yet.",
                code="export_not_ready",
            )
        if self.is_expired(now):
            raise Conflict(
                "This export's file has expired; request a new export.", code="export_expired"
            )
        return self.file_key


def export_file_key(export: Export) -> str:
    """The name of the file an attempt of an export writes: the export's id, the attempt's
    start in microseconds since the epoch, and the format's extension
    (``<uuid>-1795393519000000.csv``). Two attempts never write one file, so one that lost
    its export to a takeover cannot replace or delete the other's."""
    if export.started_at is None:
        raise ValueError("an export that never started has no file")
    micros = (export.started_at - _EPOCH) // _MICROSECOND
    return f"{export.id}-{micros}.{export.request.format.extension}"


def check_file_key(key: str) -> str:
    """A key that names a file safely anywhere: letters, digits, ``_`` and ``-``, and one
    short extension; nothing that could climb out of a directory (``InvalidInput``)."""
    if not isinstance(key, str) or not _FILE_KEY.fullmatch(key):
        raise InvalidInput("Not an export file key.", code="invalid_file_key", field="key")
    return key
