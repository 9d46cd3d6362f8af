"""The webhook inbox contract (``WebhookEventRepository``) on memory, SQLite and PostgreSQL:
exact round trips, one row per ``(provider, event id)``, concurrent deliveries of one event
stored exactly once, and the retention purge (old rows go in bounded batches, recent ones and
their dedupe stay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import func, select

from dashcore.application.webhooks_retention import PurgeWebhookEvents
from dashcore.domain.errors import Conflict
from dashcore.domain.webhooks import (
    STORED_BODY_MAX,
    Delivery,
    Verification,
    VerifiedBy,
    WebhookEvent,
    WebhookPolicy,
)
from dashcore.ports.webhooks import DUPLICATE_EVENT, WebhookEventRepository
from dashcore.testing.clock import FakeClock
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.webhooks import MemoryWebhookEventRepository
from dashcore_sql.tables import webhook_events
from dashcore_sql.webhooks import SqlWebhookEventRepository
from tests.contract.conftest import Backend, SqlBackend, Work

NOW = datetime(2026, 6, 1, 9, 15, 30, 123456, tzinfo=UTC)
KOLKATA = timezone(timedelta(hours=5, minutes=30))


@dataclass(frozen=True, slots=True)
class Inbox:
    work: Work
    events: WebhookEventRepository


@asynccontextmanager
async def inbox(backend: Backend) -> AsyncIterator[Inbox]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Inbox(work, MemoryWebhookEventRepository(native))
        else:
            yield Inbox(work, SqlWebhookEventRepository(native))


def event(
    number: int,
    *,
    provider: str = "zerodha",
    event_id: str | None = None,
    body: bytes = b'{"order_id": "220303000308932", "status": "COMPLETE"}',
    received_at: datetime = NOW,
) -> WebhookEvent:
    delivery = Delivery(
        event_id=event_id or f"220303000308932|2022-03-03 09:24:25|COMPLETE|{number}",
        kind="order_update",
        verified_by=VerifiedBy(Verification.KITE_CHECKSUM),
        broker_order_id="220303000308932",
        account_id="AB1234",
    )
    event_uuid = UUID(f"00000000-0000-7000-8000-{number:012x}")
    return WebhookEvent.received(event_uuid, provider, delivery, body, received_at)


async def record(backend: Backend, item: WebhookEvent) -> bool:
    async with inbox(backend) as box:
        is_new = await box.events.record(item)
        await box.work.uow.commit()
    return is_new


async def stored(backend: Backend, item: WebhookEvent) -> WebhookEvent | None:
    async with inbox(backend) as box:
        return await box.events.get(item.provider, item.event_id)


async def test_a_new_event_reads_back_exactly(backend: Backend) -> None:
    item = event(1, received_at=NOW.astimezone(KOLKATA))
    assert await record(backend, item)
    found = await stored(backend, item)
    assert found == item
    assert found is not None and found.received_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("verified_by", "broker_order_id", "account_id"),
    [
        (VerifiedBy(Verification.HMAC_SHA256, "additional_2"), "ORD-1", None),
        (VerifiedBy(Verification.UNSIGNED), None, None),
    ],
)
async def test_every_kind_of_event_reads_back_exactly(
    backend: Backend,
    verified_by: VerifiedBy,
    broker_order_id: str | None,
    account_id: str | None,
) -> None:
    item = replace(
        event(1, provider="upstox"),
        verified_by=verified_by,
        kind="gtt_order_update",
        broker_order_id=broker_order_id,
        account_id=account_id,
    )
    assert await record(backend, item)
    assert await stored(backend, item) == item


async def test_any_bytes_and_a_cut_body_read_back_exactly(backend: Backend) -> None:
    every_byte = event(1, body=bytes(range(256)))
    large = event(2, body=b"\x00\xff" * STORED_BODY_MAX)
    empty = event(3, body=b"")
    for item in (every_byte, large, empty):
        assert await record(backend, item)
        assert await stored(backend, item) == item
    assert large.body_truncated


async def test_a_redelivery_is_not_stored_again(backend: Backend) -> None:
    first = event(1, event_id="evt_1")
    assert await record(backend, first)
    again = event(2, event_id="evt_1", body=b"{}", received_at=NOW + timedelta(minutes=1))
    assert not await record(backend, again)
    assert await stored(backend, again) == first


async def test_a_redelivery_within_one_unit_of_work_is_not_stored_again(backend: Backend) -> None:
    async with inbox(backend) as box:
        assert await box.events.record(event(1, event_id="evt_1"))
        assert not await box.events.record(event(2, event_id="evt_1"))
        await box.work.uow.commit()
    assert await stored(backend, event(1, event_id="evt_1")) == event(1, event_id="evt_1")


async def test_event_ids_are_unique_per_provider_only(backend: Backend) -> None:
    assert await record(backend, event(1, provider="zerodha", event_id="evt_1"))
    assert await record(backend, event(2, provider="upstox", event_id="evt_1"))
    assert await record(backend, event(3, provider="zerodha", event_id="evt_2"))


async def test_an_event_not_committed_is_not_stored(backend: Backend) -> None:
    item = event(1)
    async with inbox(backend) as box:
        assert await box.events.record(item)
        assert await box.events.get(item.provider, item.event_id) == item
    assert await stored(backend, item) is None
    assert await record(backend, item)


async def test_an_unknown_event_is_none(backend: Backend) -> None:
    assert await stored(backend, event(1)) is None


async def test_two_events_with_one_id_are_a_conflict(backend: Backend) -> None:
    assert await record(backend, event(1, event_id="evt_1"))
    with pytest.raises(Conflict) as refused:
        await record(backend, event(1, event_id="evt_2"))
    assert refused.value.code == "webhook_events_id_taken"


async def test_two_concurrent_deliveries_of_one_event_store_it_once(backend: Backend) -> None:
    """The first holds its uncommitted row while the second records the same event. In SQL
    the second waits for the first's transaction and then finds the row (``False``); in
    memory both record, and the later commit is refused with ``DUPLICATE_EVENT``."""
    first_recorded = asyncio.Event()
    refusals: list[str] = []

    async def deliver(number: int, first: bool) -> bool | None:
        if not first:
            await first_recorded.wait()
        async with inbox(backend) as box:
            is_new = await box.events.record(event(number, event_id="evt_1"))
            if first:
                first_recorded.set()
                await backend.let_contender_run(box.work)
            try:
                await box.work.uow.commit()
            except Conflict as refused:
                refusals.append(refused.code)
                return None
            return is_new

    outcomes = list(await asyncio.gather(deliver(1, True), deliver(2, False)))
    if backend.name == "memory":
        assert sorted(outcomes, key=repr) == [None, True]
        assert refusals == [DUPLICATE_EVENT]
    else:
        assert outcomes == [True, False]
        assert refusals == []
    assert await stored(backend, event(1, event_id="evt_1")) is not None


async def test_ten_concurrent_deliveries_leave_one_row(sql_backend: SqlBackend) -> None:
    """Each delivery in its own unit of work and commit, all at once: exactly one is new."""

    async def deliver(number: int) -> bool:
        return await record(sql_backend, event(number, event_id="evt_1"))

    outcomes = await asyncio.gather(*(deliver(n) for n in range(1, 11)))
    assert sorted(outcomes) == [False] * 9 + [True]
    async with sql_backend.engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(webhook_events))
    assert rows == 1


# -- retention (security.md WH-3) -----------------------------------------------------------------


async def count_stored(backend: Backend, items: list[WebhookEvent]) -> int:
    return sum([await stored(backend, item) is not None for item in items])


async def purge(backend: Backend, before: datetime, *, limit: int) -> int:
    async with inbox(backend) as box:
        purged = await box.events.purge(before, limit=limit)
        await box.work.uow.commit()
    return purged


async def test_a_purge_deletes_only_events_received_before_the_cut(backend: Backend) -> None:
    old = [event(n, received_at=NOW - timedelta(days=8, minutes=n)) for n in range(1, 4)]
    at_cut = event(4, received_at=NOW - timedelta(days=7))
    recent = event(5, received_at=NOW - timedelta(hours=1))
    for item in (*old, at_cut, recent):
        assert await record(backend, item)
    assert await purge(backend, NOW - timedelta(days=7), limit=100) == 3
    assert await count_stored(backend, old) == 0
    assert await stored(backend, at_cut) == at_cut
    assert await stored(backend, recent) == recent
    assert await purge(backend, NOW - timedelta(days=7), limit=100) == 0


async def test_a_purge_takes_at_most_limit_events_oldest_first(backend: Backend) -> None:
    items = [
        event(n, received_at=NOW - timedelta(days=30) + timedelta(minutes=n)) for n in range(5)
    ]
    for item in reversed(items):
        assert await record(backend, item)
    assert await purge(backend, NOW, limit=2) == 2
    assert [await stored(backend, item) is None for item in items] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert await purge(backend, NOW, limit=2) == 2
    assert await purge(backend, NOW, limit=2) == 1
    assert await count_stored(backend, items) == 0


async def test_a_purge_not_committed_deletes_nothing(backend: Backend) -> None:
    item = event(1, received_at=NOW - timedelta(days=8))
    assert await record(backend, item)
    async with inbox(backend) as box:
        assert await box.events.purge(NOW, limit=10) == 1
    assert await stored(backend, item) == item


async def test_a_replay_inside_the_retention_stays_a_duplicate_after_a_purge(
    backend: Backend,
) -> None:
    """Rows past the retention go; a redelivery of a kept event is still refused, and only
    an event already forgotten can be stored anew."""
    forgotten = event(1, event_id="evt_old", received_at=NOW - timedelta(days=8))
    kept = event(2, event_id="evt_new", received_at=NOW - timedelta(minutes=4))
    for item in (forgotten, kept):
        assert await record(backend, item)
    assert await purge(backend, NOW - timedelta(days=7), limit=1000) == 1
    assert not await record(backend, event(3, event_id="evt_new", received_at=NOW))
    assert await stored(backend, kept) == kept
    assert await record(backend, event(4, event_id="evt_old", received_at=NOW))


async def test_the_use_case_purges_a_backlog_batch_by_batch(backend: Backend) -> None:
    """Five expired events with batches of two: three committed batches, the recent one
    kept; a run with nothing expired deletes nothing."""
    expired = [event(n, received_at=NOW - timedelta(days=9, minutes=n)) for n in range(1, 6)]
    recent = event(9, received_at=NOW - timedelta(days=6))
    for item in (*expired, recent):
        assert await record(backend, item)
    clock = FakeClock(NOW)
    async with inbox(backend) as box:
        purge_events = PurgeWebhookEvents(
            box.events, box.work.uow, clock, WebhookPolicy(), batch_size=2
        )
        assert await purge_events() == 5
        assert await purge_events() == 0
    assert await count_stored(backend, expired) == 0
    assert await stored(backend, recent) == recent
