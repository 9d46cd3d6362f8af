"""The export jobs on the embedded default (memory database, taskiq's in-memory broker): a
requested export is made by its ``run_export`` job, whose status ends ``succeeded``; a job with
a malformed id fails by name; ``export_cleanup`` runs from the queue like the schedule runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from dishka import AsyncContainer
from taskiq import AsyncBroker, InMemoryBroker

from dashcore.application.accounts import ManualAccounts
from dashcore.application.exports import (
    EXPORT_CLEANUP_TASK,
    EXPORT_TASK,
    GetExport,
    OpenExportFile,
    RequestExport,
)
from dashcore.application.transactions import EntryInput, ManualTransactions
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.exports import Export, ExportFormat, ExportRequest, ExportStatus
from dashcore.domain.jobs import JobId, JobStatus
from dashcore.domain.money import Currency
from dashcore.domain.portfolio import AccountType, ActivityType
from dashcore.domain.users import User
from dashcore.ports.jobs import JobQueue
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app.providers import build_container
from dashcore_app.settings import MailerKind, Settings
from dashcore_security import KeyRing

CALLER = CallerContext(actor="test")
ADA = UUID("00000000-0000-7000-8000-00000000ada0")
JAN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def container() -> AsyncIterator[AsyncContainer]:
    settings = Settings(
        database_url="memory://",
        vault_keys=KeyRing.generate().to_env_value(),
        hash_profile="test",
        mailer=MailerKind.MEMORY,
    )
    built = build_container(settings)
    yield built
    await built.close()


async def jobs_done(container: AsyncContainer) -> JobQueue:
    broker = await container.get(AsyncBroker)
    assert isinstance(broker, InMemoryBroker)
    await broker.wait_all()
    queue: JobQueue = await container.get(JobQueue)
    return queue


async def ledger(container: AsyncContainer) -> None:
    async with container() as scope:
        now = datetime.now(UTC)
        user = User(ADA, Email("ada@example.org"), "$argon2id$x", now, now, verified=True)
        await (await scope.get(UserRepository)).add(user)
        await (await scope.get(UnitOfWork)).commit()
    async with container() as scope:
        account = await (await scope.get(ManualAccounts)).create(
            ADA, CALLER, name="Box", account_type=AccountType.CASH, base_currency=Currency("USD")
        )
    for day in range(3):
        async with container() as scope:
            entry = EntryInput(
                activity=ActivityType.DEPOSIT,
                occurred_at=JAN + timedelta(days=day),
                amount=Decimal(f"{day}.50"),
            )
            await (await scope.get(ManualTransactions)).create(ADA, account.id, entry, CALLER)


async def test_a_requested_export_is_made_by_its_job(container: AsyncContainer) -> None:
    await ledger(container)
    request = ExportRequest(ExportFormat.CSV, JAN, JAN + timedelta(days=31))
    async with container() as scope:
        queued = await (await scope.get(RequestExport))(ADA, request, CALLER)
    assert queued.job_id is not None
    queue = await jobs_done(container)
    state = await queue.status(JobId(queued.job_id))
    assert (state.task, state.status) == (EXPORT_TASK, JobStatus.SUCCEEDED)
    async with container() as scope:
        done: Export = await (await scope.get(GetExport))(ADA, queued.id)
    assert (done.status, done.row_count) == (ExportStatus.SUCCEEDED, 3)
    async with container() as scope:
        opened = await (await scope.get(OpenExportFile))(ADA, queued.id, CALLER)
        data = b"".join([chunk async for chunk in opened.chunks])
    assert data.count(b"\r\n") == 4


async def test_a_malformed_export_id_fails_its_job_by_name(container: AsyncContainer) -> None:
    queue: JobQueue = await container.get(JobQueue)
    job = await queue.enqueue(EXPORT_TASK, export_id="not-a-uuid")
    state = await (await jobs_done(container)).status(job)
    assert state.status is JobStatus.FAILED
    assert state.error == "invalid_input: Not an export id."
    unknown = await queue.enqueue(EXPORT_TASK, export_id=str(UUID(int=9)))
    assert (await (await jobs_done(container)).status(unknown)).status is JobStatus.SUCCEEDED


async def test_the_cleanup_job_runs_from_the_queue(container: AsyncContainer) -> None:
    queue: JobQueue = await container.get(JobQueue)
    job = await queue.enqueue(EXPORT_CLEANUP_TASK)
    assert (await (await jobs_done(container)).status(job)).status is JobStatus.SUCCEEDED
