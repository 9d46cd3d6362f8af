"""Exporting a user's transactions to a CSV or JSON file, in the background (issue #7).

Rules:
- **Who may export.** The owner, of their own accounts only (another user's account is a 404
  ``account_not_found``, as everywhere). Where the deployment sells exports with a plan
  (``ExportPolicy.plans``, from ``DASHCORE_EXPORT_PLANS``), the user must hold one of those
  plans (403 ``plan_required``, as the HTTP plan guards answer); an admin always may. No plan
  listed: every user may export.
- **In the background.** A request records a ``queued`` export and enqueues the ``run_export``
  job; the caller follows it with ``GetExport``. A request that could not be queued fails its
  export with the reason and raises it.
- **Once.** The job runs a *queued* export, claimed under its row lock: a duplicate delivery
  finds it running or finished and does nothing. A running export whose heartbeat is older
  than ``takeover_after`` (2 minutes; heartbeats come every ``progress_every`` rows, within a
  second or so) lost its worker: a delivery of its job, the one the job queue makes again
  after the worker was killed, takes it over and starts it again from the first row, as a new
  attempt (a new ``started_at``). Each attempt writes a file of its own
  (:func:`~dashcore.domain.exports.export_file_key`) and stops at its next heartbeat once it is
  no longer the export's attempt, so a slow worker that was not dead after all neither
  replaces nor deletes the new attempt's file. Found by QA: a killed worker's export stayed
  ``running`` until the cleanup, and its job ended ``succeeded`` having done nothing. An export
  nobody takes over (no job queue that delivers again, such as the in-process one) is failed
  ``stale_export`` by the cleanup once its heartbeat is ``stale_after`` old. Taking over and
  the cleanup both remove what the dead attempt's unfinished write left in the file store.
- **Constant memory.** Rows stream from one consistent snapshot of the store, oldest first,
  ``batch_size`` at a time; they are encoded as they arrive and handed to the file store in
  chunks of about ``chunk_bytes``; totals per period are summed as the rows go by (only the
  current period is held). Nothing grows with the number of rows.
- **Progress.** ``rows_estimated`` is the count of matching rows when the export starts;
  ``rows_read`` and the heartbeat are saved every ``progress_every`` rows.
- **Files** are named by export id and attempt; a failed or abandoned attempt leaves no file.
  A finished export (its file, or its failure) is kept for ``retention``, then the cleanup
  deletes both.
- Asking for an export and downloading its file are audited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from dashcore.application.accounts import owned_account
from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import DashcoreError, Forbidden, NotFound
from dashcore.domain.export_formats import (
    ROW_COLUMNS,
    TOTAL_COLUMNS,
    Cell,
    ExportWriter,
    total_cells,
    transaction_cells,
    writer_for,
)
from dashcore.domain.exports import (
    Export,
    ExportFailure,
    ExportRequest,
    ExportStatus,
    PeriodTotals,
    export_file_key,
)
from dashcore.domain.users import Role, User
from dashcore.ports.aggregation import StoredAccountRepository, TransactionStream
from dashcore.ports.clock import Clock
from dashcore.ports.exports import ExportFileStore, ExportRepository, TransactionCounter
from dashcore.ports.ids import IdGenerator
from dashcore.ports.jobs import JobQueue
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "EXPORT_CLEANUP_TASK",
    "EXPORT_TASK",
    "CleanExports",
    "ExportCleanup",
    "ExportFile",
    "ExportPolicy",
    "GetExport",
    "OpenExportFile",
    "RequestExport",
    "RunExport",
]

EXPORT_TASK = "run_export"
"""The job that makes one export's file: ``run_export(export_id=<uuid>)``."""
EXPORT_CLEANUP_TASK = "export_cleanup"
"""The periodic job that fails stale exports and deletes expired ones."""


@dataclass(frozen=True, slots=True)
class ExportPolicy:
    plans: frozenset[str] = frozenset()
    """Plans that include exports (an admin always may); empty: every user may export."""
    retention: timedelta = timedelta(hours=24)
    """How long a finished export (its file, or its failure) is kept."""
    stale_after: timedelta = timedelta(minutes=15)
    """An active export without a heartbeat for this long is dead (``stale_export``)."""
    takeover_after: timedelta = timedelta(minutes=2)
    """A running export without a heartbeat for this long is taken over by its job delivered
    again (its worker was killed); shorter than ``stale_after``, so that the redelivery
    (``DASHCORE_JOBS_REDELIVER_AFTER``) finds it before the cleanup gives it up."""
    progress_every: int = 2000
    """Rows between two saves of the progress (and heartbeats)."""
    batch_size: int = 1000
    """Rows fetched from the store at a time."""
    chunk_bytes: int = 64 * 1024
    """About how many bytes are handed to the file store at a time."""

    def __post_init__(self) -> None:
        if self.retention <= timedelta(0) or self.stale_after <= timedelta(0):
            raise ValueError("an export policy needs a positive retention and stale age")
        if not timedelta(0) < self.takeover_after < self.stale_after:
            raise ValueError("an export is taken over before it is given up as stale")
        if min(self.progress_every, self.batch_size, self.chunk_bytes) < 1:
            raise ValueError("progress, batch and chunk sizes are positive")

    def allows(self, user: User) -> bool:
        return not self.plans or user.role is Role.ADMIN or user.plan in self.plans


def _export_not_found() -> NotFound:
    return NotFound("No such export.", code="export_not_found")


def _failure(error: DashcoreError) -> ExportFailure:
    return ExportFailure(error.code, error.message)


async def _owned(exports: ExportRepository, user_id: UUID, export_id: UUID) -> Export:
    export = await exports.get(export_id)
    if export is None or export.user_id != user_id:
        raise _export_not_found()
    return export


class RequestExport:
    """Asking for an export: a queued export and its ``run_export`` job."""

    def __init__(
        self,
        users: UserRepository,
        accounts: StoredAccountRepository,
        exports: ExportRepository,
        jobs: JobQueue,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
        policy: ExportPolicy,
    ) -> None:
        self._users = users
        self._accounts = accounts
        self._exports = exports
        self._jobs = jobs
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def __call__(
        self, user_id: UUID, request: ExportRequest, caller: CallerContext
    ) -> Export:
        user = await self._users.get(user_id)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        if not self._policy.allows(user):
            plans = ", ".join(sorted(self._policy.plans))
            raise Forbidden(f"Exports need one of the plans: {plans}.", code="plan_required")
        for account_id in sorted(request.account_ids):
            await owned_account(self._accounts, user_id, account_id)
        export = Export.queued(self._ids.new_id(), user_id, request, self._clock.now())
        await self._exports.add(export)
        await self._audit.record(
            "export_requested",
            caller=caller,
            target=f"export:{export.id}",
            metadata={
                "format": request.format.value,
                "period": "rows" if request.period is None else request.period.value,
                "since": request.since.isoformat(),
                "until": request.until.isoformat(),
                "accounts": len(request.account_ids),
            },
        )
        await self._uow.commit()
        try:
            job = await self._jobs.enqueue(EXPORT_TASK, export_id=str(export.id))
        except DashcoreError as error:
            failure = _failure(error)
            await self._settle(export.id, lambda current: self._failed(current, failure))
            raise
        return await self._settle(export.id, lambda current: current.with_job(job))

    def _failed(self, export: Export, failure: ExportFailure) -> Export:
        if not export.is_active:
            return export
        return export.failed(self._clock.now(), failure, keep=self._policy.retention)

    async def _settle(self, export_id: UUID, change: Callable[[Export], Export]) -> Export:
        """Apply ``change`` to the export as it is now (its job may have moved it already)."""
        current = await self._exports.lock(export_id)
        if current is None:
            raise _export_not_found()
        changed = change(current)
        await self._exports.save(changed)
        await self._uow.commit()
        return changed


class _Abandoned(Exception):
    """The export stopped being ``running`` under us (the cleanup gave it up)."""


@dataclass
class _Progress:
    """A running export: its state and what it wrote so far."""

    export: Export
    rows_read: int = 0
    row_count: int = 0


class RunExport:
    """Making one queued export's file (the ``run_export`` job)."""

    def __init__(
        self,
        exports: ExportRepository,
        counter: TransactionCounter,
        stream: TransactionStream,
        files: ExportFileStore,
        uow: UnitOfWork,
        clock: Clock,
        policy: ExportPolicy,
    ) -> None:
        self._exports = exports
        self._counter = counter
        self._stream = stream
        self._files = files
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self, export_id: UUID) -> Export | None:
        """The export as it ended (or as another worker left it); ``None`` for an unknown id."""
        export = await self._exports.lock(export_id)
        now = self._clock.now()
        abandoned = export is not None and self._abandoned(export, now)
        if export is None or not (export.status is ExportStatus.QUEUED or abandoned):
            await self._uow.rollback()
            return export
        estimated = await self._counter.count_transactions(
            export.user_id, export.request.transactions
        )
        start = export.restarted if abandoned else export.started
        progress = _Progress(start(now, estimated))
        await self._exports.save(progress.export)
        await self._uow.commit()
        if abandoned:
            await self._files.discard_partial(export_file_key(export))
        key = export_file_key(progress.export)
        try:
            size = await self._files.write(key, self._encoded(progress))
        except _Abandoned:
            await self._uow.rollback()
            return await self._exports.get(export_id)
        except DashcoreError as error:
            return await self._fail(progress, _failure(error))
        except Exception:
            unexpected = ExportFailure("export_error", "The export stopped on an unexpected error.")
            await self._fail(progress, unexpected)
            raise
        return await self._finish(progress, key, size)

    async def _encoded(self, progress: _Progress) -> AsyncIterator[bytes]:
        """The file's bytes in chunks of about ``chunk_bytes``, saving progress as rows go."""
        request = progress.export.request
        if request.period is None:
            writer, totals = writer_for(request.format, ROW_COLUMNS), None
        else:
            writer, totals = writer_for(request.format, TOTAL_COLUMNS), PeriodTotals(request.period)
        chunks = _Chunks(self._policy.chunk_bytes)
        chunks.add(writer.begin())
        rows = self._stream.stream_transactions(
            progress.export.user_id, request.transactions, batch_size=self._policy.batch_size
        )
        async for transaction in rows:
            progress.rows_read += 1
            if totals is None:
                _write(writer, chunks, progress, [transaction_cells(transaction)])
            else:
                _write(writer, chunks, progress, map(total_cells, totals.add(transaction)))
            if chunks.full:
                yield chunks.take()
            if progress.rows_read % self._policy.progress_every == 0:
                await self._heartbeat(progress)
        if totals is not None:
            _write(writer, chunks, progress, map(total_cells, totals.finish()))
        chunks.add(writer.end())
        yield chunks.take()

    def _abandoned(self, export: Export, now: datetime) -> bool:
        """A running export whose worker stopped beating ``takeover_after`` ago: a job
        delivered again (its worker was killed) takes it over from the first row."""
        return (
            export.status is ExportStatus.RUNNING
            and export.heartbeat_at <= now - self._policy.takeover_after
        )

    def _still_ours(self, progress: _Progress, current: Export | None) -> bool:
        return (
            current is not None
            and current.status is ExportStatus.RUNNING
            and current.same_attempt(progress.export)
        )

    async def _heartbeat(self, progress: _Progress) -> None:
        current = await self._exports.lock(progress.export.id)
        if current is None or not self._still_ours(progress, current):
            await self._uow.rollback()
            raise _Abandoned
        progress.export = current.progressed(progress.rows_read, self._clock.now())
        await self._exports.save(progress.export)
        await self._uow.commit()

    async def _finish(self, progress: _Progress, key: str, size: int) -> Export | None:
        current = await self._exports.lock(progress.export.id)
        if current is None or not self._still_ours(progress, current):
            await self._uow.rollback()
            await self._files.delete(key)  # this attempt's own file (export_file_key)
            return current
        now = self._clock.now()
        finished = current.progressed(progress.rows_read, now).succeeded(
            now,
            row_count=progress.row_count,
            byte_size=size,
            file_key=key,
            keep=self._policy.retention,
        )
        await self._exports.save(finished)
        await self._uow.commit()
        return finished

    async def _fail(self, progress: _Progress, failure: ExportFailure) -> Export | None:
        await self._uow.rollback()
        current = await self._exports.lock(progress.export.id)
        if current is None or not self._still_ours(progress, current):
            await self._uow.rollback()
            return current
        now = self._clock.now()
        failed = current.progressed(progress.rows_read, now).failed(
            now, failure, keep=self._policy.retention
        )
        await self._exports.save(failed)
        await self._uow.commit()
        return failed


def _write(
    writer: ExportWriter, chunks: _Chunks, progress: _Progress, lines: Iterable[Sequence[Cell]]
) -> None:
    for cells in lines:
        chunks.add(writer.row(cells))
        progress.row_count += 1


class _Chunks:
    """Encoded text gathered until about ``size`` bytes are ready to go."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._parts: list[str] = []
        self._length = 0

    @property
    def full(self) -> bool:
        return self._length >= self._size

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def take(self) -> bytes:
        data = "".join(self._parts).encode("utf-8")
        self._parts.clear()
        self._length = 0
        return data


class GetExport:
    """Where one of the caller's exports stands (another user's is a 404)."""

    def __init__(self, exports: ExportRepository) -> None:
        self._exports = exports

    async def __call__(self, user_id: UUID, export_id: UUID) -> Export:
        return await _owned(self._exports, user_id, export_id)


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A finished export's file, ready to stream: ``chunks`` reads it from the start."""

    export: Export
    size: int
    chunks: AsyncIterator[bytes]

    @property
    def media_type(self) -> str:
        return self.export.request.format.media_type

    @property
    def file_name(self) -> str:
        return self.export.request.file_name


class OpenExportFile:
    """Downloading one of the caller's exports: only once it succeeded and until it expires
    (``Conflict`` ``export_not_ready`` / ``export_failed`` / ``export_expired``)."""

    def __init__(
        self,
        exports: ExportRepository,
        files: ExportFileStore,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._exports = exports
        self._files = files
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(self, user_id: UUID, export_id: UUID, caller: CallerContext) -> ExportFile:
        export = await _owned(self._exports, user_id, export_id)
        key = export.downloadable_file(self._clock.now())
        size = await self._files.size(key)
        if size is None:
            raise NotFound(
                "This export's file is gone; request a new export.", code="export_file_missing"
            )
        await self._audit.record(
            "export_downloaded",
            caller=caller,
            target=f"export:{export.id}",
            metadata={"bytes": size, "rows": export.row_count or 0},
        )
        await self._uow.commit()
        return ExportFile(export, size, self._files.read(key))


@dataclass(frozen=True, slots=True)
class ExportCleanup:
    stale: int
    expired: int


class CleanExports:
    """The periodic cleanup: fail exports whose worker died (``stale_export``), then delete
    expired exports with their files."""

    def __init__(
        self,
        exports: ExportRepository,
        files: ExportFileStore,
        uow: UnitOfWork,
        clock: Clock,
        policy: ExportPolicy,
    ) -> None:
        self._exports = exports
        self._files = files
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self, *, limit: int = 100) -> ExportCleanup:
        return ExportCleanup(await self._fail_stale(limit), await self._delete_expired(limit))

    async def _fail_stale(self, limit: int) -> int:
        now = self._clock.now()
        cutoff = now - self._policy.stale_after
        candidates = await self._exports.stale(cutoff, limit=limit)
        await self._uow.rollback()
        failure = ExportFailure("stale_export", "The export stopped answering; it was given up.")
        failed = 0
        for candidate in candidates:
            export = await self._exports.lock(candidate.id)
            if export is None or not export.is_active or export.heartbeat_at >= cutoff:
                await self._uow.rollback()
                continue
            await self._exports.save(export.failed(now, failure, keep=self._policy.retention))
            await self._uow.commit()
            if export.started_at is not None:
                await self._files.discard_partial(export_file_key(export))
            failed += 1
        return failed

    async def _delete_expired(self, limit: int) -> int:
        expired = await self._exports.expired(self._clock.now(), limit=limit)
        await self._uow.rollback()
        for export in expired:
            if export.file_key is not None:
                await self._files.delete(export.file_key)
            await self._exports.delete(export.id)
            await self._uow.commit()
        return len(expired)
