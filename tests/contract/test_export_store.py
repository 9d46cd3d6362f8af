"""The export store contracts (``dashcore.ports.exports``): the export repository and the
transaction counter on memory, SQLite and PostgreSQL (every field round-trips, an owner's save
only, stale and expired listings, deletion, counts under the export filter), and the file
store on memory and the local file system (whole files or nothing, safe keys only)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from dashcore.domain.aggregation import ManualEntry, StoredTransaction
from dashcore.domain.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound
from dashcore.domain.exports import (
    Export,
    ExportFailure,
    ExportFormat,
    ExportPeriod,
    ExportRequest,
)
from dashcore.domain.money import Money
from dashcore.domain.portfolio import ActivityType
from dashcore.domain.users import User
from dashcore.ports.aggregation import StoredAccountRepository, TransactionRepository
from dashcore.ports.exports import ExportFileStore, ExportRepository, TransactionCounter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.aggregation import MemoryStoredAccountRepository, MemoryTransactionRepository
from dashcore_memory.exports import (
    MemoryExportFileStore,
    MemoryExportRepository,
    MemoryTransactionCounter,
)
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.aggregation import SqlStoredAccountRepository, SqlTransactionRepository
from dashcore_sql.exports import SqlExportRepository, SqlTransactionCounter
from dashcore_sql.users import SqlUserRepository
from dashcore_system.export_files import LocalExportFileStore
from tests.contract.conftest import Backend, Work
from tests.contract.people import person
from tests.unit.aggregation_factories import manual_account

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
KEEP = timedelta(hours=24)
_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    accounts: StoredAccountRepository
    transactions: TransactionRepository
    exports: ExportRepository
    counter: TransactionCounter

    @property
    def uow(self) -> UnitOfWork:
        return self.work.uow


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Repos(
                work,
                MemoryUserRepository(native),
                MemoryStoredAccountRepository(native),
                MemoryTransactionRepository(native),
                MemoryExportRepository(native),
                MemoryTransactionCounter(native),
            )
        else:
            yield Repos(
                work,
                SqlUserRepository(native),
                SqlStoredAccountRepository(native),
                SqlTransactionRepository(native),
                SqlExportRepository(native),
                SqlTransactionCounter(native),
            )


def ident(number: int) -> UUID:
    return UUID(f"00000000-0000-7000-8e00-{number:012x}")


async def user(backend: Backend) -> User:
    someone = person(next(_numbers), NOW)
    async with repos(backend) as r:
        await r.users.add(someone)
        await r.uow.commit()
    return someone


def request(**changes: object) -> ExportRequest:
    base = ExportRequest(
        format=ExportFormat.CSV,
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 4, 1, tzinfo=UTC),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def queued(owner: User, *, at: datetime = NOW, **changes: object) -> Export:
    return Export.queued(ident(next(_numbers)), owner.id, request(**changes), at)


async def added(backend: Backend, *exports: Export) -> None:
    async with repos(backend) as r:
        for export in exports:
            await r.exports.add(export)
        await r.uow.commit()


async def test_every_field_round_trips_through_each_state(backend: Backend) -> None:
    owner = await user(backend)
    accounts = frozenset({ident(900), ident(901)})
    export = queued(owner, format=ExportFormat.JSON, account_ids=accounts, period=ExportPeriod.WEEK)
    await added(backend, export)
    running = export.with_job("job-7").started(NOW + timedelta(seconds=1), 1_000_000)
    moved = running.progressed(2_000, NOW + timedelta(seconds=2))
    done = moved.succeeded(
        NOW + timedelta(seconds=3),
        row_count=52,
        byte_size=9_876_543_210,
        file_key=f"{export.id}.json",
        keep=KEEP,
    )
    for state in (export, running, moved, done):
        async with repos(backend) as r:
            if state is not export:
                await r.exports.save(state)
            await r.uow.commit()
        async with repos(backend) as r:
            assert await r.exports.get(export.id) == state
            assert await r.exports.lock(export.id) == state


async def test_a_copy_read_before_the_job_was_set_keeps_the_job(backend: Backend) -> None:
    """A worker may begin an export before the API has stored its job id; the worker's later
    saves of its copy (without the id) must not clear it."""
    owner = await user(backend)
    export = queued(owner)
    await added(backend, export)
    async with repos(backend) as r:
        await r.exports.save(export.with_job("job-8"))
        await r.uow.commit()
    running = export.started(NOW, 10)
    async with repos(backend) as r:
        await r.exports.save(running)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.exports.get(export.id) == running.with_job("job-8")


async def test_a_failure_round_trips_and_rows_mode_has_no_period(backend: Backend) -> None:
    owner = await user(backend)
    export = queued(owner)
    failed = export.failed(NOW, ExportFailure("dependency_unavailable", "Disk full."), keep=KEEP)
    await added(backend, export)
    async with repos(backend) as r:
        await r.exports.save(failed)
        await r.uow.commit()
    async with repos(backend) as r:
        stored = await r.exports.get(export.id)
    assert stored == failed
    assert stored.request.period is None
    assert stored.error == ExportFailure("dependency_unavailable", "Disk full.")


async def test_ids_are_unique_and_only_stored_exports_of_their_owner_are_saved(
    backend: Backend,
) -> None:
    owner, other = await user(backend), await user(backend)
    export = queued(owner)
    await added(backend, export)
    with pytest.raises(Conflict) as taken:
        await added(backend, export)
    assert taken.value.code == "exports_exists"
    async with repos(backend) as r:
        assert await r.exports.get(ident(999_999)) is None
        with pytest.raises(NotFound) as unknown:
            await r.exports.save(queued(owner))
        assert unknown.value.code == "export_not_found"
        with pytest.raises(NotFound):
            await r.exports.save(replace(export, user_id=other.id))


async def test_uncommitted_writes_vanish(backend: Backend) -> None:
    owner = await user(backend)
    export = queued(owner)
    async with repos(backend) as r:
        await r.exports.add(export)
    async with repos(backend) as r:
        assert await r.exports.get(export.id) is None


async def test_stale_lists_active_exports_with_an_old_heartbeat_oldest_first(
    backend: Backend,
) -> None:
    owner = await user(backend)
    old_queued = queued(owner, at=NOW - timedelta(hours=2))
    old_running = queued(owner, at=NOW - timedelta(hours=3)).started(NOW - timedelta(hours=1), 5)
    fresh = queued(owner, at=NOW)
    old_finished = queued(owner, at=NOW - timedelta(hours=5)).failed(
        NOW - timedelta(hours=4), ExportFailure("x", "y"), keep=KEEP
    )
    await added(backend, old_queued, old_running, fresh, old_finished)
    cutoff = NOW - timedelta(minutes=30)
    async with repos(backend) as r:
        stale = await r.exports.stale(cutoff, limit=10)
        assert [e.id for e in stale] == [old_queued.id, old_running.id]
        assert [e.id for e in await r.exports.stale(cutoff, limit=1)] == [old_queued.id]
        assert await r.exports.stale(cutoff, limit=0) == []
        with pytest.raises(ValueError, match="limit"):
            await r.exports.stale(cutoff, limit=-1)


async def test_expired_lists_finished_exports_past_their_time_and_delete_forgets(
    backend: Backend,
) -> None:
    owner = await user(backend)

    def finished(hours_ago: int) -> Export:
        export = queued(owner, at=NOW - timedelta(hours=hours_ago + 1))
        at = NOW - timedelta(hours=hours_ago)
        return export.failed(at, ExportFailure("x", "y"), keep=timedelta(hours=1))

    long_gone, just_expired, still_kept = finished(5), finished(1), finished(0)
    active = queued(owner, at=NOW - timedelta(days=30))
    await added(backend, long_gone, just_expired, still_kept, active)
    async with repos(backend) as r:
        expired = await r.exports.expired(NOW, limit=10)
        assert [e.id for e in expired] == [long_gone.id, just_expired.id]
        assert len(await r.exports.expired(NOW, limit=1)) == 1
        await r.exports.delete(long_gone.id)
        await r.exports.delete(ident(999_998))
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.exports.get(long_gone.id) is None
        assert [e.id for e in await r.exports.expired(NOW, limit=10)] == [just_expired.id]


async def test_the_counter_counts_what_an_export_reads(backend: Backend) -> None:
    owner, other = await user(backend), await user(backend)
    box = manual_account(ident(next(_numbers)), user_id=owner.id)
    second = manual_account(ident(next(_numbers)), user_id=owner.id)
    foreign = manual_account(ident(next(_numbers)), user_id=other.id)
    jan, feb, apr = (datetime(2026, month, 2, tzinfo=UTC) for month in (1, 2, 4))
    ledgers = {box: [jan, feb, apr, feb], second: [jan], foreign: [jan]}
    written: list[StoredTransaction] = []
    async with repos(backend) as r:
        for account, instants in ledgers.items():
            await r.accounts.add(account)
            for at in instants:
                entry = ManualEntry(ActivityType.DEPOSIT, at, Money.of("10.00", "USD"))
                row = StoredTransaction.manual(ident(next(_numbers)), account, entry, NOW)
                written.append(await r.transactions.add(row))
        await r.uow.commit()
    async with repos(backend) as r:
        second_feb = written[3]
        await r.transactions.mark_removed(box.id, [second_feb.provider_transaction_id], NOW)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.counter.count_transactions(owner.id, request().transactions) == 3
        only_box = request(account_ids=frozenset({box.id})).transactions
        assert await r.counter.count_transactions(owner.id, only_box) == 2
        assert await r.counter.count_transactions(other.id, request().transactions) == 1
        assert await r.counter.count_transactions(ident(999_997), request().transactions) == 0


# -- the file store ------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "local"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> ExportFileStore:
    if request.param == "memory":
        return MemoryExportFileStore()
    return LocalExportFileStore(tmp_path / "exports" / "not-yet-made")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing_after(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise DependencyUnavailable("The database went away.", dependency="database")


async def read_all(files: ExportFileStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in files.read(key)])


async def test_a_file_is_written_whole_read_back_in_chunks_and_deleted(
    files: ExportFileStore,
) -> None:
    big = os.urandom(200_000)
    assert await files.write("0190-a.csv", chunks(b"id,amount\r\n", big, b"")) == 200_011
    assert await files.size("0190-a.csv") == 200_011
    pieces = [chunk async for chunk in files.read("0190-a.csv")]
    assert len(pieces) > 1
    assert b"".join(pieces) == b"id,amount\r\n" + big
    assert await files.delete("0190-a.csv") is True
    assert await files.delete("0190-a.csv") is False
    assert await files.size("0190-a.csv") is None
    with pytest.raises(NotFound) as missing:
        await read_all(files, "0190-a.csv")
    assert missing.value.code == "export_file_missing"


async def test_a_rewrite_replaces_the_file_and_an_empty_file_is_a_file(
    files: ExportFileStore,
) -> None:
    await files.write("k.json", chunks(b"[old]"))
    await files.write("k.json", chunks(b"[new", b"er]"))
    assert await read_all(files, "k.json") == b"[newer]"
    assert await files.write("empty.csv", chunks()) == 0
    assert await files.size("empty.csv") == 0
    assert await read_all(files, "empty.csv") == b""


async def test_a_write_that_fails_midway_stores_nothing_and_keeps_the_old_file(
    files: ExportFileStore,
) -> None:
    with pytest.raises(DependencyUnavailable):
        await files.write("k.csv", failing_after(b"half of it"))
    assert await files.size("k.csv") is None
    await files.write("k.csv", chunks(b"complete"))
    with pytest.raises(DependencyUnavailable):
        await files.write("k.csv", failing_after(b"half of a new one"))
    assert await read_all(files, "k.csv") == b"complete"


@pytest.mark.parametrize(
    "key", ["../k.csv", "a/b.csv", ".hidden", "", "k..csv", "k.csv/", "é.csv", "k.CSV", "x" * 101]
)
async def test_keys_that_could_leave_the_directory_are_refused(
    files: ExportFileStore, key: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await files.write(key, chunks(b"x"))
    assert refused.value.code == "invalid_file_key"
    with pytest.raises(InvalidInput):
        await files.size(key)
    with pytest.raises(InvalidInput):
        await files.delete(key)
    with pytest.raises(InvalidInput):
        await read_all(files, key)


async def test_local_files_are_private_and_leave_no_temporary_file(tmp_path: Path) -> None:
    directory = tmp_path / "exports"
    files = LocalExportFileStore(directory)
    await files.write("k.csv", chunks(b"data"))
    with pytest.raises(DependencyUnavailable):
        await files.write("j.csv", failing_after(b"part"))
    assert sorted(path.name for path in directory.iterdir()) == ["k.csv"]
    assert (directory / "k.csv").stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700


async def test_what_an_unfinished_write_left_is_discarded_and_nothing_else(
    tmp_path: Path,
) -> None:
    """A worker killed mid-export leaves its temporary file (found by QA: up to the whole
    partial export, for ever); the cleanup, in another process, discards it by key."""
    directory = tmp_path / "exports"
    files = LocalExportFileStore(directory)
    await files.write("k.csv", chunks(b"the finished file"))
    halfway = [asyncio.Event(), asyncio.Event()]

    async def never_ends(written: asyncio.Event) -> AsyncIterator[bytes]:
        yield b"half of it"
        written.set()  # the first chunk is in the temporary file
        await asyncio.Event().wait()

    writes = [
        asyncio.create_task(files.write(key, never_ends(written)))
        for key, written in zip(("k.csv", "j.csv"), halfway, strict=True)
    ]
    await asyncio.gather(*(written.wait() for written in halfway))

    cleaner = LocalExportFileStore(directory)
    assert await cleaner.discard_partial("k.csv") == 1
    assert await cleaner.discard_partial("k.csv") == 0
    assert await read_all(cleaner, "k.csv") == b"the finished file"
    assert [p.name.startswith(".j.csv.") for p in directory.glob("*.part")] == [True]
    assert await MemoryExportFileStore().discard_partial("k.csv") == 0
    for write in writes:
        write.cancel()
    await asyncio.gather(*writes, return_exceptions=True)


async def test_an_unwritable_directory_is_a_dependency_failure(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_bytes(b"")
    with pytest.raises(DependencyUnavailable) as failed:
        await LocalExportFileStore(blocked).write("k.csv", chunks(b"x"))
    assert failed.value.dependency == "export_files"
