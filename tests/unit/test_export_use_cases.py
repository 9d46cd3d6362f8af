"""The export use cases on the memory store with a fake clock: requesting (owner-checked
accounts, plan entitlement, the job, a queue that is down), running (raw rows and totals in both
formats, progress saved every N rows, once only, failures leaving no file, an export given up
under a running job), reading, downloading (only when ready, until it expires) and the
cleanup."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from dashcore.application.exports import (
    EXPORT_TASK,
    CleanExports,
    ExportCleanup,
    ExportPolicy,
    GetExport,
    OpenExportFile,
    RequestExport,
    RunExport,
)
from dashcore.domain.aggregation import StoredAccount, StoredTransaction, TransactionFilter
from dashcore.domain.email import Email
from dashcore.domain.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    NotFound,
)
from dashcore.domain.exports import (
    Export,
    ExportFailure,
    ExportFormat,
    ExportPeriod,
    ExportRequest,
    ExportStatus,
    export_file_key,
)
from dashcore.domain.users import Role, User
from dashcore.ports.aggregation import TransactionStream
from dashcore.testing import FakeClock
from dashcore_memory.aggregation import MemoryStoredAccountRepository, MemoryTransactionStream
from dashcore_memory.exports import (
    MemoryExportFileStore,
    MemoryExportRepository,
    MemoryTransactionCounter,
)
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from tests.unit.accounts_world import CALLER, OTHER, OWNER, AccountsWorld
from tests.unit.aggregation_factories import T0
from tests.unit.test_sync import RecordingJobs

JAN = datetime(2026, 1, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


class ObservedFiles(MemoryExportFileStore):
    """Keeps files in memory; after each chunk it is handed, it reads the export as committed
    (what ``GET /exports/{id}`` would show then) and runs ``between_chunks``."""

    def __init__(self, world: ExportsWorld) -> None:
        super().__init__()
        self._world = world
        self.seen: list[int] = []
        self.writes = 0
        self.discarded: list[str] = []
        self.between_chunks: list[Callable[[UUID], Awaitable[None]]] = []
        """Run once, with the export's id, after the first chunk the next write is handed."""

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        self.writes += 1

        async def observed() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk
                export = await self._world.committed(UUID(key[:36]))
                self.seen.append(export.rows_read)
                if self.between_chunks:
                    step = self.between_chunks.pop()
                    await step(export.id)

        return await super().write(key, observed())

    async def discard_partial(self, key: str) -> int:
        self.discarded.append(key)
        return await super().discard_partial(key)

    def stored(self, export_id: UUID) -> list[str]:
        """The keys of the files kept for ``export_id`` (any attempt)."""
        return [key for key in self._files if key.startswith(str(export_id))]


async def exporting_rows(count: int, *, progress_every: int) -> tuple[ExportsWorld, Export]:
    """A world whose user has ``count`` synced transactions, a day apart, and one queued
    export of them; progress saved every ``progress_every`` rows, a chunk per row."""
    world = ExportsWorld(policy=ExportPolicy(progress_every=progress_every, chunk_bytes=1))
    await world.user()
    account = await world.store.synced()
    await world.store.synced_transactions(
        account, [(f"T-{n}", JAN + timedelta(days=n), "1.00") for n in range(count)]
    )
    return world, await world.requested()


class BrokenStream(TransactionStream):
    """Gives ``good`` rows of the real stream, then fails with ``error``."""

    def __init__(self, inner: TransactionStream, good: int, error: Exception) -> None:
        self._inner, self._good, self._error = inner, good, error

    async def stream_transactions(
        self, user_id: UUID, query: TransactionFilter, *, batch_size: int = 1000
    ) -> AsyncIterator[StoredTransaction]:
        given = 0
        async for row in self._inner.stream_transactions(user_id, query, batch_size=batch_size):
            if given == self._good:
                break
            given += 1
            yield row
        raise self._error


@dataclass
class ExportsWorld:
    store: AccountsWorld = field(default_factory=AccountsWorld)
    jobs: RecordingJobs = field(default_factory=RecordingJobs)
    policy: ExportPolicy = field(default_factory=ExportPolicy)
    files: ObservedFiles = field(init=False)

    def __post_init__(self) -> None:
        self.files = ObservedFiles(self)

    @property
    def clock(self) -> FakeClock:
        return self.store.clock

    def uow(self) -> MemoryUnitOfWork:
        return self.store.uow()

    async def user(
        self, user_id: UUID = OWNER, *, plan: str | None = None, role: Role = Role.USER
    ) -> User:
        uow = self.uow()
        now = self.clock.now()
        someone = User(
            id=user_id,
            email=Email(f"{user_id.hex[-4:]}@example.org"),
            password_hash="$argon2id$hash",
            created_at=now,
            updated_at=now,
            verified=True,
            role=role,
            plan=plan,
        )
        await MemoryUserRepository(uow).add(someone)
        await uow.commit()
        return someone

    def request_export(self) -> RequestExport:
        uow = self.uow()
        return RequestExport(
            MemoryUserRepository(uow),
            MemoryStoredAccountRepository(uow),
            MemoryExportRepository(uow),
            self.jobs,
            self.store.audit(uow),
            uow,
            self.clock,
            self.store.ids,
            self.policy,
        )

    def run_export(self, stream: TransactionStream | None = None) -> RunExport:
        uow = self.uow()
        return RunExport(
            MemoryExportRepository(uow),
            MemoryTransactionCounter(uow),
            stream or MemoryTransactionStream(uow),
            self.files,
            uow,
            self.clock,
            self.policy,
        )

    def get_export(self) -> GetExport:
        return GetExport(MemoryExportRepository(self.uow()))

    def open_file(self) -> OpenExportFile:
        uow = self.uow()
        return OpenExportFile(
            MemoryExportRepository(uow), self.files, self.store.audit(uow), uow, self.clock
        )

    def clean(self) -> CleanExports:
        uow = self.uow()
        return CleanExports(MemoryExportRepository(uow), self.files, uow, self.clock, self.policy)

    async def committed(self, export_id: UUID) -> Export:
        export = await MemoryExportRepository(self.uow()).get(export_id)
        assert export is not None
        return export

    async def give_up(self, export_id: UUID) -> None:
        """What the cleanup does to an export whose worker looks dead."""
        uow = self.uow()
        repository = MemoryExportRepository(uow)
        export = await repository.get(export_id)
        assert export is not None
        failure = ExportFailure("stale_export", "given up")
        await repository.save(export.failed(self.clock.now(), failure, keep=self.policy.retention))
        await uow.commit()

    async def requested(self, **changes: object) -> Export:
        fields: dict[str, object] = {"format": ExportFormat.CSV, "since": JAN, "until": APR}
        fields.update(changes)
        return await self.request_export()(OWNER, ExportRequest(**fields), CALLER)  # type: ignore[arg-type]

    async def file_of(self, export: Export) -> bytes:
        opened = await self.open_file()(export.user_id, export.id, CALLER)
        return b"".join([chunk async for chunk in opened.chunks])

    async def ledger(self) -> tuple[StoredAccount, StoredAccount]:
        """Two synced accounts of the owner with a few rows in Q1 2026 (and some outside it),
        and one row of another user."""
        brokerage = await self.store.synced()
        savings = await self.store.synced(provider_account_id="ACC-2")
        await self.store.synced_transactions(
            brokerage,
            [
                ("B-1", datetime(2026, 1, 5, 10, tzinfo=UTC), "-100.00"),
                ("B-2", datetime(2026, 1, 20, 10, tzinfo=UTC), "25.50"),
                ("B-3", datetime(2026, 2, 2, 10, tzinfo=UTC), "-0.05"),
                ("B-OUT", datetime(2026, 4, 1, tzinfo=UTC), "-1.00"),
            ],
        )
        await self.store.synced_transactions(
            savings, [("S-1", datetime(2026, 1, 20, 9, tzinfo=UTC), "1000.00")]
        )
        foreign = await self.store.synced(OTHER, provider_account_id="ACC-9")
        await self.store.synced_transactions(
            foreign, [("F-1", datetime(2026, 1, 7, tzinfo=UTC), "5.00")]
        )
        return brokerage, savings


@pytest.fixture
async def world() -> ExportsWorld:
    made = ExportsWorld()
    await made.user()
    await made.user(OTHER)
    return made


# -- requesting --------------------------------------------------------------------------------


async def test_a_request_queues_an_export_with_its_job_and_is_audited(world: ExportsWorld) -> None:
    brokerage, _ = await world.ledger()
    export = await world.requested(account_ids=frozenset({brokerage.id}), period=ExportPeriod.DAY)
    assert export.status is ExportStatus.QUEUED
    assert (export.user_id, export.created_at, export.job_id) == (OWNER, T0, "job-1")
    assert world.jobs.enqueued == [(EXPORT_TASK, {"export_id": str(export.id)})]
    assert await world.committed(export.id) == export
    assert world.store.actions() == ["export_requested"]


async def test_another_users_account_is_not_found_and_nothing_is_queued(
    world: ExportsWorld,
) -> None:
    foreign = await world.store.synced(OTHER, provider_account_id="ACC-9")
    with pytest.raises(NotFound) as refused:
        await world.requested(account_ids=frozenset({foreign.id}))
    assert refused.value.code == "account_not_found"
    assert world.jobs.enqueued == []
    assert world.store.actions() == []


async def test_plans_gate_exports_where_the_deployment_says_so() -> None:
    world = ExportsWorld(policy=ExportPolicy(plans=frozenset({"pro", "premium"})))
    await world.user()
    with pytest.raises(Forbidden) as refused:
        await world.requested()
    assert refused.value.code == "plan_required"
    assert "premium, pro" in refused.value.message
    pro, admin = UUID(int=0x70), UUID(int=0xAD)
    await world.user(pro, plan="pro")
    await world.user(admin, role=Role.ADMIN)
    request = ExportRequest(ExportFormat.CSV, JAN, APR)
    for entitled in (pro, admin):
        export = await world.request_export()(entitled, request, CALLER)
        assert export.status is ExportStatus.QUEUED
    with pytest.raises(NotFound):
        await world.request_export()(UUID(int=0xDEAD), request, CALLER)


async def test_a_queue_that_is_down_fails_the_export_with_the_reason(world: ExportsWorld) -> None:
    world.jobs.down = True
    with pytest.raises(DependencyUnavailable):
        await world.requested()
    (stored,) = world.store.database.table("exports").values()
    assert stored.status is ExportStatus.FAILED
    assert stored.error is not None and stored.error.code == "dependency_unavailable"
    assert stored.expires_at == T0 + world.policy.retention


# -- running -----------------------------------------------------------------------------------


async def test_raw_rows_in_csv_are_every_matching_row_oldest_first(world: ExportsWorld) -> None:
    await world.ledger()
    export = await world.requested()
    done = await world.run_export()(export.id)
    assert done is not None and done.status is ExportStatus.SUCCEEDED
    data = await world.file_of(done)
    rows = csv_rows(data)
    assert [(r["occurred_at"][:10], r["amount"]) for r in rows] == [
        ("2026-01-05", "-100.00"),
        ("2026-01-20", "1000.00"),
        ("2026-01-20", "25.50"),
        ("2026-02-02", "-0.05"),
    ]
    assert (done.rows_estimated, done.rows_read, done.row_count) == (4, 4, 4)
    assert done.byte_size == len(data)
    assert done.file_key == export_file_key(done)
    assert (done.started_at, done.finished_at) == (T0, T0)


async def test_totals_in_json_sum_per_month_category_and_currency(world: ExportsWorld) -> None:
    brokerage, _ = await world.ledger()
    export = await world.requested(format=ExportFormat.JSON, period=ExportPeriod.MONTH)
    done = await world.run_export()(export.id)
    assert done is not None
    totals = json.loads(await world.file_of(done))
    assert [(t["period"], t["category"], t["amount"], t["count"]) for t in totals] == [
        ("2026-01", "buy", "925.50", 3),
        ("2026-02", "buy", "-0.05", 1),
    ]
    assert (done.rows_read, done.row_count) == (4, 2)
    only = await world.requested(account_ids=frozenset({brokerage.id}), period=ExportPeriod.YEAR)
    finished = await world.run_export()(only.id)
    assert finished is not None
    (year,) = csv_rows(await world.file_of(finished))
    assert (year["period"], year["amount"], year["count"]) == ("2026", "-74.55", "3")
    assert Decimal(year["amount"]) == Decimal("-100.00") + Decimal("25.50") + Decimal("-0.05")


async def test_an_empty_export_succeeds_with_only_a_header(world: ExportsWorld) -> None:
    export = await world.requested()
    done = await world.run_export()(export.id)
    assert done is not None
    assert (done.status, done.row_count, done.rows_estimated) == (ExportStatus.SUCCEEDED, 0, 0)
    assert (await world.file_of(done)).startswith(b"id,account_id,occurred_at")


async def test_progress_is_saved_every_n_rows_while_the_file_is_written() -> None:
    world, export = await exporting_rows(5, progress_every=2)
    world.clock.advance(seconds=30)
    done = await world.run_export()(export.id)
    # one chunk per row, then the end; each seen as committed right after it was handed over
    assert world.files.seen == [0, 0, 2, 2, 4, 4]
    assert done is not None and (done.rows_read, done.progress) == (5, 1.0)
    assert done.heartbeat_at == T0 + timedelta(seconds=30)


async def test_a_second_delivery_does_nothing(world: ExportsWorld) -> None:
    await world.ledger()
    export = await world.requested()
    first = await world.run_export()(export.id)
    again = await world.run_export()(export.id)
    assert again == first
    assert world.files.writes == 1
    assert await world.run_export()(UUID(int=1)) is None


async def test_a_store_that_fails_midway_fails_the_export_and_leaves_no_file(
    world: ExportsWorld,
) -> None:
    await world.ledger()
    export = await world.requested()
    down = DependencyUnavailable("The database is unavailable.", dependency="database")
    broken = BrokenStream(MemoryTransactionStream(world.uow()), 2, down)
    failed = await world.run_export(broken)(export.id)
    assert failed is not None and failed.status is ExportStatus.FAILED
    assert failed.error == ExportFailure("dependency_unavailable", "The database is unavailable.")
    assert failed.rows_read == 2
    assert world.files.stored(export.id) == []
    with pytest.raises(Conflict) as refused:
        await world.file_of(failed)
    assert refused.value.code == "export_failed"


async def test_an_unexpected_error_fails_the_export_safely_and_propagates(
    world: ExportsWorld,
) -> None:
    await world.ledger()
    export = await world.requested()
    broken = BrokenStream(MemoryTransactionStream(world.uow()), 1, RuntimeError("bug: secret=1"))
    with pytest.raises(RuntimeError):
        await world.run_export(broken)(export.id)
    failed = await world.committed(export.id)
    assert failed.error == ExportFailure(
        "export_error", "The export stopped on an unexpected error."
    )


async def test_an_export_given_up_while_it_runs_stops_without_a_file() -> None:
    world, export = await exporting_rows(4, progress_every=1)
    world.files.between_chunks.append(world.give_up)
    ended = await world.run_export()(export.id)
    assert ended is not None and ended.status is ExportStatus.FAILED
    assert ended.error is not None and ended.error.code == "stale_export"
    assert world.files.stored(export.id) == []


async def test_a_job_delivered_again_takes_over_an_export_whose_worker_died(
    world: ExportsWorld,
) -> None:
    """Found by QA: a killed worker's export stayed ``running`` until the cleanup gave it up
    (15 minutes and more), and the job delivered again ended ``succeeded`` doing nothing."""
    account = await world.store.synced()
    await world.store.synced_transactions(
        account, [(f"T-{n}", JAN + timedelta(days=n), "1.00") for n in range(3)]
    )
    export = await world.requested()
    uow = world.uow()
    dead = export.started(world.clock.now(), 3)
    await MemoryExportRepository(uow).save(dead.progressed(1, world.clock.now()))
    await uow.commit()

    world.clock.advance(world.policy.takeover_after - timedelta(seconds=1))
    alive = await world.run_export()(export.id)
    assert alive is not None and alive.status is ExportStatus.RUNNING, "a recent heartbeat"
    assert alive.started_at == dead.started_at

    world.clock.advance(seconds=2)
    done = await world.run_export()(export.id)
    assert done is not None and done.status is ExportStatus.SUCCEEDED
    assert done.started_at == world.clock.now() and done.row_count == 3
    assert world.files.discarded == [export_file_key(dead)], "the dead attempt's leftovers"
    assert world.files.stored(export.id) == [done.file_key]


async def test_an_attempt_that_was_taken_over_stops_and_leaves_the_new_file_alone() -> None:
    """A worker that was slow, not dead: its export was taken over meanwhile. At its next
    heartbeat it stops; the new attempt's file, finished by then, stays the export's."""
    world, export = await exporting_rows(4, progress_every=1)
    taken_over: list[Export | None] = []

    async def take_over(export_id: UUID) -> None:
        world.clock.advance(world.policy.takeover_after + timedelta(seconds=1))
        taken_over.append(await world.run_export()(export_id))

    world.files.between_chunks.append(take_over)
    slow = await world.run_export()(export.id)

    (new,) = taken_over
    assert new is not None and new.status is ExportStatus.SUCCEEDED and new.row_count == 4
    assert slow == new, "the slow attempt returns the export as the new one left it"
    assert world.files.stored(export.id) == [new.file_key]
    assert await world.committed(export.id) == new


# -- reading and downloading -------------------------------------------------------------------


async def test_only_the_owner_reads_an_export(world: ExportsWorld) -> None:
    export = await world.requested()
    assert await world.get_export()(OWNER, export.id) == export
    for user_id, export_id in ((OTHER, export.id), (OWNER, UUID(int=5))):
        with pytest.raises(NotFound) as hidden:
            await world.get_export()(user_id, export_id)
        assert hidden.value.code == "export_not_found"
        with pytest.raises(NotFound):
            await world.open_file()(user_id, export_id, CALLER)


async def test_the_file_opens_once_ready_until_it_expires_and_is_audited(
    world: ExportsWorld,
) -> None:
    await world.ledger()
    export = await world.requested(format=ExportFormat.JSON)
    with pytest.raises(Conflict) as early:
        await world.open_file()(OWNER, export.id, CALLER)
    assert early.value.code == "export_not_ready"
    done = await world.run_export()(export.id)
    assert done is not None
    opened = await world.open_file()(OWNER, export.id, CALLER)
    assert (opened.size, opened.media_type) == (done.byte_size, "application/json")
    assert opened.file_name == "transactions-20260101-20260331.json"
    assert len(json.loads(b"".join([c async for c in opened.chunks]))) == 4
    assert world.store.actions() == ["export_requested", "export_downloaded"]
    world.clock.advance(world.policy.retention)
    with pytest.raises(Conflict) as late:
        await world.open_file()(OWNER, export.id, CALLER)
    assert late.value.code == "export_expired"


async def test_a_lost_file_is_reported_as_missing(world: ExportsWorld) -> None:
    export = await world.requested()
    done = await world.run_export()(export.id)
    assert done is not None and done.file_key is not None
    await world.files.delete(done.file_key)
    with pytest.raises(NotFound) as missing:
        await world.open_file()(OWNER, export.id, CALLER)
    assert missing.value.code == "export_file_missing"


# -- the cleanup -------------------------------------------------------------------------------


async def test_the_cleanup_fails_stale_exports_and_deletes_expired_ones(
    world: ExportsWorld,
) -> None:
    stuck_queued = await world.requested()
    finished = await world.requested()
    await world.run_export()(finished.id)
    stuck_running = await world.requested()
    uow = world.uow()
    running = stuck_running.started(world.clock.now(), 10)
    await MemoryExportRepository(uow).save(running)
    await uow.commit()
    world.clock.advance(world.policy.stale_after - timedelta(seconds=1))
    fresh = await world.requested()
    world.clock.advance(seconds=2)

    assert await world.clean()() == ExportCleanup(stale=2, expired=0)
    for export_id in (stuck_queued.id, stuck_running.id):
        gone = await world.committed(export_id)
        assert gone.error is not None and gone.error.code == "stale_export"
    assert (await world.committed(fresh.id)).status is ExportStatus.QUEUED
    assert world.files.discarded == [export_file_key(running)], "the queued one wrote nothing"

    world.clock.set(T0 + world.policy.retention)
    assert await world.clean()() == ExportCleanup(stale=1, expired=1)
    assert await MemoryExportRepository(world.uow()).get(finished.id) is None
    assert world.files.stored(finished.id) == []
    assert await world.clean()() == ExportCleanup(stale=0, expired=0)
