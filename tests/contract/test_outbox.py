"""The ``Outbox`` contract and outbox delivery, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from dashcore.application.outbox import (
    DeliverOutbox,
    DeliveryReport,
    ExpiredMail,
    MailQueue,
    OutboxDispatcher,
)
from dashcore.domain.errors import Conflict, DashcoreError, DependencyUnavailable
from dashcore.domain.mail import MailBody, MailMessage, MailRejected, OutboxEntry, OutboxStatus
from dashcore.ports.mail import Mailer, Outbox
from dashcore.ports.uow import UnitOfWork
from dashcore.testing import FakeClock, SequentialIds
from dashcore_mail.memory import MemoryMailer
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_security import AesGcmVault, KeyRing
from dashcore_sql import SqlUnitOfWork, create_engine, unit_of_work
from dashcore_sql.outbox import SqlOutbox
from dashcore_sql.tables import mail_outbox
from tests.conftest import PostgresSchema
from tests.contract.conftest import Backend
from tests.migrated import migrate

T0 = datetime(2026, 3, 1, 12, 30, 15, 654321, tzinfo=UTC)
LEASE = timedelta(minutes=5)
VAULT = AesGcmVault(KeyRing.generate())
DOWN = DependencyUnavailable("SMTP: ConnectionRefusedError", dependency="mail")


def outbox_of(uow: UnitOfWork) -> Outbox:
    if isinstance(uow, MemoryUnitOfWork):
        return MemoryOutbox(uow)
    assert isinstance(uow, SqlUnitOfWork)
    return SqlOutbox(uow)


@asynccontextmanager
async def outbox(backend: Backend) -> AsyncIterator[tuple[UnitOfWork, Outbox]]:
    async with backend.work() as work:
        yield work.native, outbox_of(work.native)


def entry(
    number: int,
    *,
    at: datetime = T0,
    to: str | None = None,
    expires_at: datetime | None = None,
) -> OutboxEntry:
    entry_id = UUID(f"00000000-0000-7000-8000-{number:012x}")
    message = MailMessage(
        to or f"user{number}@example.org",
        f"Message {number}",
        MailBody(f"text {number}", f"<p>{number}</p>"),
        "welcome",
        at,
        expires_at,
    )
    return OutboxEntry.new(entry_id, message, bytes(range(256)) + number.to_bytes(2, "big"))


async def seed(backend: Backend, *entries: OutboxEntry) -> None:
    async with outbox(backend) as (uow, box):
        for each in entries:
            await box.add(each)
        await uow.commit()


async def claim(
    backend: Backend, now: datetime, limit: int = 10, lease: timedelta = LEASE
) -> list[OutboxEntry]:
    async with outbox(backend) as (uow, box):
        claimed = list(await box.claim_due(now, limit=limit, lease=lease))
        await uow.commit()
        return claimed


async def counts(backend: Backend) -> dict[OutboxStatus, int]:
    async with outbox(backend) as (_, box):
        return await box.counts()


# -- the port ---------------------------------------------------------------------------------


async def test_an_added_entry_is_claimed_exactly_as_stored(backend: Backend) -> None:
    added = entry(1)
    await seed(backend, added)
    [claimed] = await claim(backend, T0)
    assert claimed.locked_until == T0 + LEASE
    assert claimed == OutboxEntry(**{**_fields(added), "locked_until": T0 + LEASE})


async def test_an_expiring_entry_keeps_its_expiry(backend: Backend) -> None:
    added = entry(1, expires_at=T0 + timedelta(minutes=30))
    await seed(backend, added)
    [claimed] = await claim(backend, T0)
    assert claimed.expires_at == T0 + timedelta(minutes=30)
    assert claimed == OutboxEntry(**{**_fields(added), "locked_until": T0 + LEASE})


async def test_counts_cover_every_status(backend: Backend) -> None:
    assert await counts(backend) == dict.fromkeys(OutboxStatus, 0)
    await seed(backend, entry(1), entry(2), entry(3), entry(4, expires_at=T0 + LEASE))
    first, second, third, fourth = await claim(backend, T0)
    async with outbox(backend) as (uow, box):
        assert await box.mark_sent(first, at=T0)
        assert await box.mark_failed(second, next_attempt_at=T0 + timedelta(minutes=1), error="x")
        assert await box.mark_dead(third, error="rejected")
        assert await box.mark_expired(fourth)
        await uow.commit()
    assert await counts(backend) == {
        OutboxStatus.PENDING: 0,
        OutboxStatus.FAILED: 1,
        OutboxStatus.SENT: 1,
        OutboxStatus.DEAD: 1,
        OutboxStatus.EXPIRED: 1,
    }


async def test_a_second_entry_with_the_same_id_is_a_conflict(backend: Backend) -> None:
    await seed(backend, entry(1))
    with pytest.raises(Conflict):
        await seed(backend, entry(1))


async def test_uncommitted_entries_are_never_claimed(backend: Backend) -> None:
    async with outbox(backend) as (uow, box):
        await box.add(entry(1))
        await uow.rollback()
    assert await claim(backend, T0 + timedelta(days=1)) == []


async def test_claims_take_the_oldest_due_entries_first_up_to_the_limit(
    backend: Backend,
) -> None:
    await seed(
        backend,
        entry(1, at=T0 + timedelta(seconds=3)),
        entry(2, at=T0 + timedelta(seconds=1)),
        entry(3, at=T0 + timedelta(seconds=2)),
        entry(4, at=T0 + timedelta(hours=1)),
    )
    now = T0 + timedelta(seconds=10)
    assert [e.subject for e in await claim(backend, now, limit=2)] == ["Message 2", "Message 3"]
    assert [e.subject for e in await claim(backend, now, limit=2)] == ["Message 1"]
    assert await claim(backend, now) == []


async def test_a_lease_hides_the_entry_until_it_runs_out(backend: Backend) -> None:
    await seed(backend, entry(1))
    [first] = await claim(backend, T0)
    assert await claim(backend, T0 + LEASE - timedelta(microseconds=1)) == []
    [again] = await claim(backend, T0 + LEASE)
    assert again.id == first.id
    assert again.locked_until == T0 + 2 * LEASE


async def test_sent_entries_drop_their_body_and_are_never_claimed_again(
    backend: Backend,
) -> None:
    await seed(backend, entry(1))
    [claimed] = await claim(backend, T0)
    async with outbox(backend) as (uow, box):
        assert await box.mark_sent(claimed, at=T0 + timedelta(seconds=1))
        await uow.commit()
    assert await claim(backend, T0 + timedelta(days=30)) == []
    assert await _stored_body(backend, claimed.id) is None


async def test_a_failed_entry_comes_back_at_its_next_attempt(backend: Backend) -> None:
    await seed(backend, entry(1))
    [claimed] = await claim(backend, T0)
    retry_at = T0 + timedelta(seconds=45)
    async with outbox(backend) as (uow, box):
        assert await box.mark_failed(claimed, next_attempt_at=retry_at, error="SMTP 421\r\nX")
        await uow.commit()
    assert await claim(backend, retry_at - timedelta(microseconds=1)) == []
    [again] = await claim(backend, retry_at)
    assert (again.status, again.attempts, again.last_error) == (
        OutboxStatus.FAILED,
        1,
        "SMTP 421 X",
    )
    assert again.body == claimed.body


async def test_a_dead_entry_drops_its_body_and_stays_dead(backend: Backend) -> None:
    await seed(backend, entry(1))
    [claimed] = await claim(backend, T0)
    async with outbox(backend) as (uow, box):
        assert await box.mark_dead(claimed, error="rejected: 550")
        await uow.commit()
    assert await claim(backend, T0 + timedelta(days=30)) == []
    assert await _stored_body(backend, claimed.id) is None
    assert (await counts(backend))[OutboxStatus.DEAD] == 1


async def test_an_expired_entry_drops_its_body_counts_no_attempt_and_stays_expired(
    backend: Backend,
) -> None:
    await seed(backend, entry(1, expires_at=T0 + timedelta(minutes=30)))
    [claimed] = await claim(backend, T0 + timedelta(minutes=30))
    async with outbox(backend) as (uow, box):
        assert await box.mark_expired(claimed)
        await uow.commit()
    assert await claim(backend, T0 + timedelta(days=30)) == []
    assert await _stored_body(backend, claimed.id) is None
    assert await _state(backend, claimed.id) == (
        OutboxStatus.EXPIRED,
        0,
        None,
        T0 + timedelta(minutes=30),
    )


async def test_an_entry_expired_after_a_failed_attempt_counts_that_attempt(
    backend: Backend,
) -> None:
    await seed(backend, entry(1, expires_at=T0 + timedelta(minutes=5)))
    [claimed] = await claim(backend, T0)
    async with outbox(backend) as (uow, box):
        assert await box.mark_expired(claimed, error="unavailable: SMTP 421\r\nX")
        await uow.commit()
    assert await _state(backend, claimed.id) == (
        OutboxStatus.EXPIRED,
        1,
        "unavailable: SMTP 421 X",
        T0 + timedelta(minutes=5),
    )


async def test_a_released_entry_is_due_again_at_once_with_nothing_counted(
    backend: Backend,
) -> None:
    await seed(backend, entry(1))
    [first] = await claim(backend, T0)
    retry_at = T0 + timedelta(seconds=45)
    async with outbox(backend) as (uow, box):
        assert await box.mark_failed(first, next_attempt_at=retry_at, error="SMTP 421")
        await uow.commit()
    [claimed] = await claim(backend, retry_at)
    async with outbox(backend) as (uow, box):
        assert await box.release(claimed)
        await uow.commit()
    [again] = await claim(backend, retry_at)
    assert again == claimed
    assert (again.status, again.attempts, again.next_attempt_at, again.last_error) == (
        OutboxStatus.FAILED,
        1,
        retry_at,
        "SMTP 421",
    )


async def test_a_claim_whose_lease_ran_out_cannot_record_an_outcome(backend: Backend) -> None:
    await seed(backend, entry(1))
    [stale] = await claim(backend, T0)
    [current] = await claim(backend, T0 + LEASE)
    async with outbox(backend) as (uow, box):
        assert not await box.mark_sent(stale, at=T0 + LEASE)
        assert not await box.mark_failed(stale, next_attempt_at=T0, error="late")
        assert not await box.mark_dead(stale, error="late")
        assert not await box.mark_expired(stale)
        assert not await box.release(stale)
        assert await box.mark_sent(current, at=T0 + LEASE)
        assert not await box.mark_dead(current, error="twice")
        assert not await box.mark_expired(current)
        assert not await box.release(current)
        await uow.commit()
    assert (await counts(backend))[OutboxStatus.SENT] == 1


@pytest.mark.postgres
async def test_concurrent_claimers_never_get_the_same_entry(
    postgres_schema: PostgresSchema,
) -> None:
    engine = create_engine(postgres_schema.url, schema=postgres_schema.schema)
    try:
        await migrate(engine)
        async with unit_of_work(engine) as uow:
            for number in range(1, 41):
                await SqlOutbox(uow).add(entry(number))
            await uow.commit()
        async with unit_of_work(engine) as holder:
            held = await SqlOutbox(holder).claim_due(T0, limit=5, lease=LEASE)
            # The holder has not committed: its rows stay locked, and a second claimer skips
            # them instead of waiting or taking them.
            async with unit_of_work(engine) as other:
                skipped = await asyncio.wait_for(
                    SqlOutbox(other).claim_due(T0, limit=5, lease=LEASE), timeout=5
                )
                await other.commit()
            await holder.commit()
        assert len(held) == len(skipped) == 5
        assert not {e.id for e in held} & {e.id for e in skipped}

        async def claimer() -> list[UUID]:
            taken: list[UUID] = []
            while True:
                async with unit_of_work(engine) as uow:
                    batch = await SqlOutbox(uow).claim_due(T0, limit=3, lease=LEASE)
                    await uow.commit()
                if not batch:
                    return taken
                taken.extend(e.id for e in batch)

        results = await asyncio.gather(*(claimer() for _ in range(4)))
        everything = [*held, *skipped]
        claimed_ids = [entry_id for taken in results for entry_id in taken]
        claimed_ids += [e.id for e in everything]
        assert len(claimed_ids) == len(set(claimed_ids)) == 40
    finally:
        await engine.dispose()


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class Harness:
    backend: Backend
    clock: FakeClock
    mailer: Mailer
    ids: SequentialIds

    async def enqueue(self, count: int, *, valid_for: timedelta | None = None) -> list[OutboxEntry]:
        """``count`` messages; with ``valid_for``, their link stops working that long from now."""
        now = self.clock.now()
        async with outbox(self.backend) as (uow, box):
            queue = MailQueue(box, VAULT, self.ids)
            entries = [
                await queue.add(
                    MailMessage(
                        f"user{n}@example.org",
                        f"Hello {n}",
                        MailBody(f"link https://app.test/verify-email#token=t{n}"),
                        "verification",
                        now,
                        None if valid_for is None else now + valid_for,
                    )
                )
                for n in range(count)
            ]
            await uow.commit()
        return entries

    async def deliver(self, batch_size: int = 50, vault: AesGcmVault = VAULT) -> DeliveryReport:
        async with outbox(self.backend) as (uow, box):
            use_case = DeliverOutbox(
                uow, box, self.mailer, vault, self.clock, batch_size=batch_size, lease=LEASE,
                random=lambda: 0.0,
            )  # fmt: skip
            return await use_case()


@pytest.fixture
def harness(backend: Backend) -> Harness:
    return Harness(backend, FakeClock(T0), MemoryMailer(), SequentialIds())


async def test_delivery_sends_each_due_message_once(harness: Harness) -> None:
    entries = await harness.enqueue(3)
    assert await harness.deliver() == DeliveryReport(claimed=3, sent=3)
    assert await harness.deliver() == DeliveryReport()
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    assert [m.to for m in mailer.sent] == [e.recipient for e in entries]
    assert mailer.sent[0].text == "link https://app.test/verify-email#token=t0"
    assert mailer.sent[0].created_at == T0
    assert (await counts(harness.backend))[OutboxStatus.SENT] == 3


async def test_an_outage_reschedules_with_backoff_and_nothing_is_lost(harness: Harness) -> None:
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    await harness.enqueue(2)
    mailer.fail_next(DOWN, times=2)
    assert await harness.deliver() == DeliveryReport(claimed=2, retrying=1, released=1)
    assert await harness.deliver() == DeliveryReport(claimed=1, retrying=1)
    harness.clock.advance(seconds=14)
    assert await harness.deliver() == DeliveryReport()
    harness.clock.advance(seconds=1)  # jitter 0: half of the 30 s ceiling
    assert await harness.deliver() == DeliveryReport(claimed=2, sent=2)
    assert len(mailer.sent) == 2


async def test_an_unavailable_mail_service_stops_the_batch_and_puts_the_rest_back(
    harness: Harness,
) -> None:
    """A hung mail service used to cost its timeout for every message of a batch: 50 × 10 s
    outlived the 5-minute lease, so another process could claim the same messages and, once
    the service answered, send them twice."""
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    entries = await harness.enqueue(3)
    mailer.fail_next(DOWN)
    assert await harness.deliver() == DeliveryReport(claimed=3, retrying=1, released=2)
    assert mailer.sent == []
    assert await counts(harness.backend) == {
        OutboxStatus.PENDING: 2,
        OutboxStatus.FAILED: 1,
        OutboxStatus.SENT: 0,
        OutboxStatus.DEAD: 0,
        OutboxStatus.EXPIRED: 0,
    }
    assert await harness.deliver() == DeliveryReport(claimed=2, sent=2)
    assert [m.to for m in mailer.sent] == [e.recipient for e in entries[1:]]


async def test_a_rejected_message_is_dead_at_once(harness: Harness) -> None:
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    await harness.enqueue(2)
    mailer.fail_next(MailRejected("SMTP 550: no such user"))
    assert await harness.deliver() == DeliveryReport(claimed=2, sent=1, dead=1)
    harness.clock.advance(days=1)
    assert await harness.deliver() == DeliveryReport()


async def test_a_message_is_dead_once_its_attempts_run_out(harness: Harness) -> None:
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    await harness.enqueue(1)
    mailer.fail_next(DOWN, times=12)
    reports = []
    for _ in range(12):
        reports.append(await harness.deliver())
        harness.clock.advance(hours=1)
    assert [r.retrying for r in reports] == [1] * 11 + [0]
    assert reports[-1].dead == 1
    assert mailer.sent == []
    assert (await counts(harness.backend))[OutboxStatus.DEAD] == 1


async def test_a_body_that_no_longer_opens_is_dead_not_retried(harness: Harness) -> None:
    await harness.enqueue(1)
    other_vault = AesGcmVault(KeyRing.generate())
    assert await harness.deliver(vault=other_vault) == DeliveryReport(claimed=1, dead=1)


class Crash(BaseException):
    """The process dying mid-batch (not an error the use case could handle)."""


class CrashingMailer(MemoryMailer):
    def __init__(self, after: int) -> None:
        super().__init__()
        self._after = after

    async def send(self, message: MailMessage) -> None:
        if len(self.sent) == self._after:
            raise Crash
        await super().send(message)


async def test_a_crash_mid_batch_loses_nothing(harness: Harness) -> None:
    await harness.enqueue(4)
    harness.mailer = CrashingMailer(after=2)
    with pytest.raises(Crash):
        await harness.deliver()
    harness.mailer = MemoryMailer()
    assert await harness.deliver() == DeliveryReport()  # still leased to the dead dispatcher
    harness.clock.advance(LEASE)
    assert await harness.deliver() == DeliveryReport(claimed=2, sent=2)
    assert await counts(harness.backend) == {
        OutboxStatus.PENDING: 0,
        OutboxStatus.FAILED: 0,
        OutboxStatus.SENT: 4,
        OutboxStatus.DEAD: 0,
        OutboxStatus.EXPIRED: 0,
    }


class BrokenMailer(MemoryMailer):
    async def send(self, message: MailMessage) -> None:
        raise RuntimeError("a bug in an adapter")


async def test_an_unexpected_mailer_error_is_retried_not_fatal(harness: Harness) -> None:
    """A defect in one message's delivery is not an outage: the rest of the batch is tried."""
    await harness.enqueue(2)
    harness.mailer = BrokenMailer()
    assert await harness.deliver() == DeliveryReport(claimed=2, retrying=2)


async def test_a_mail_claimed_once_its_link_has_expired_is_never_sent(harness: Harness) -> None:
    """The mail service was down past the link's lifetime: a dead link sent late would only
    mislead; the entry is expired untried, with no attempt counted."""
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    expiring, lasting = [
        *await harness.enqueue(1, valid_for=timedelta(minutes=30)),
        *await harness.enqueue(1),
    ]
    harness.clock.advance(minutes=30)
    report = await harness.deliver()
    assert report == DeliveryReport(
        claimed=2, sent=1, expired_mail=(ExpiredMail(expiring.id, "verification"),)
    )
    assert report.expired == 1
    assert [m.to for m in mailer.sent] == [lasting.recipient]
    assert (await _state(harness.backend, expiring.id))[:2] == (OutboxStatus.EXPIRED, 0)
    assert await _stored_body(harness.backend, expiring.id) is None


async def test_a_mail_still_valid_when_claimed_is_sent_with_its_expiry(harness: Harness) -> None:
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    await harness.enqueue(1, valid_for=timedelta(minutes=30))
    harness.clock.advance(timedelta(minutes=30) - timedelta(microseconds=1))
    assert await harness.deliver() == DeliveryReport(claimed=1, sent=1)
    assert mailer.sent[0].expires_at == T0 + timedelta(minutes=30)


async def test_a_failure_whose_retry_would_come_after_the_expiry_expires_at_once(
    harness: Harness,
) -> None:
    """A code valid 5 minutes and a mail service down: the waits of 15, 30, 60 and 120 s
    (jitter 0) end before the code does; the 5th failure, at 3 min 45 s, would wait 240 s,
    past the expiry, so the entry is given up at once instead of sending a dead code."""
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    [code] = await harness.enqueue(1, valid_for=timedelta(minutes=5))
    mailer.fail_next(DOWN, times=10)
    reports = []
    for _ in range(40):  # ten minutes, a run every 15 s
        reports.append(await harness.deliver())
        harness.clock.advance(seconds=15)
    tried = [report for report in reports if report.claimed]
    assert [(r.retrying, r.expired) for r in tried] == [(1, 0)] * 4 + [(0, 1)]
    assert mailer.sent == []
    status, attempts, last_error, _ = await _state(harness.backend, code.id)
    assert (status, attempts) == (OutboxStatus.EXPIRED, 5)
    assert last_error is not None and last_error.startswith("unavailable:")


async def test_a_mail_without_expiry_keeps_retrying_for_as_long_as_the_policy_allows(
    harness: Harness,
) -> None:
    mailer = harness.mailer
    assert isinstance(mailer, MemoryMailer)
    await harness.enqueue(1)
    mailer.fail_next(DOWN, times=11)
    for _ in range(11):
        assert await harness.deliver() == DeliveryReport(claimed=1, retrying=1)
        harness.clock.advance(hours=1)
    assert await harness.deliver() == DeliveryReport(claimed=1, sent=1)


async def test_delivery_works_in_batches(harness: Harness) -> None:
    await harness.enqueue(5)
    assert (await harness.deliver(batch_size=2)).sent == 2
    assert (await harness.deliver(batch_size=2)).sent == 2
    assert (await harness.deliver(batch_size=2)).sent == 1


# -- the dispatcher loop ----------------------------------------------------------------------


async def test_the_dispatcher_drains_full_batches_and_stops_when_told(harness: Harness) -> None:
    await harness.enqueue(5)
    stop = asyncio.Event()
    reports: list[DeliveryReport] = []

    async def deliver() -> DeliveryReport:
        report = await harness.deliver(batch_size=2)
        reports.append(report)
        if report.claimed < 2:
            stop.set()
        return report

    dispatcher = OutboxDispatcher(deliver, batch_size=2, on_error=_fail, poll_interval=60)
    await asyncio.wait_for(dispatcher.run(stop), timeout=10)
    assert [r.sent for r in reports] == [2, 2, 1]


async def test_the_dispatcher_survives_a_failing_run(harness: Harness) -> None:
    stop = asyncio.Event()
    errors: list[Exception] = []
    runs = 0

    async def deliver() -> DeliveryReport:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise DependencyUnavailable(dependency="database")
        stop.set()
        return DeliveryReport()

    dispatcher = OutboxDispatcher(deliver, batch_size=2, on_error=errors.append, poll_interval=0.01)
    await asyncio.wait_for(dispatcher.run(stop), timeout=10)
    assert runs == 2
    assert [type(e) for e in errors] == [DependencyUnavailable]


async def test_a_batch_cut_short_by_a_mail_outage_waits_for_the_next_poll() -> None:
    stop = asyncio.Event()
    runs = 0

    async def deliver() -> DeliveryReport:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0)
        return DeliveryReport(claimed=2, retrying=1, released=1)

    dispatcher = OutboxDispatcher(deliver, batch_size=2, on_error=_fail, poll_interval=60)
    running = asyncio.create_task(dispatcher.run(stop))
    for _ in range(20):
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(running, timeout=10)
    assert runs == 1


def test_the_dispatcher_needs_a_positive_poll_interval() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        OutboxDispatcher(_no_run, batch_size=1, on_error=_fail, poll_interval=0)


# -- helpers ----------------------------------------------------------------------------------


def _fields(value: OutboxEntry) -> dict[str, object]:
    return {name: getattr(value, name) for name in OutboxEntry.__dataclass_fields__}


async def _stored_body(backend: Backend, entry_id: UUID) -> bytes | None:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            stored: OutboxEntry = native.get("mail_outbox", entry_id)
            return stored.body
        query = mail_outbox.select().where(mail_outbox.c.id == entry_id)
        row = (await native.execute(query)).one()
        assert row.status in ("sent", "dead", "expired")
        return None if row.body is None else bytes(row.body)


async def _state(
    backend: Backend, entry_id: UUID
) -> tuple[OutboxStatus, int, str | None, datetime | None]:
    """Status, attempts, last error and expiry of the entry as stored."""
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            stored: OutboxEntry = native.get("mail_outbox", entry_id)
            return stored.status, stored.attempts, stored.last_error, stored.expires_at
        query = mail_outbox.select().where(mail_outbox.c.id == entry_id)
        row = (await native.execute(query)).one()
        return OutboxStatus(row.status), row.attempts, row.last_error, row.expires_at


def _fail(error: Exception) -> None:
    raise AssertionError(f"unexpected error {error!r}")


async def _no_run() -> DeliveryReport:
    raise DashcoreError("never called")
