"""The ``AuditLog`` contract: per-actor hash chains that verify, never fork, expose tampering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from dashcore.application.verify_audit_chain import AuditVerification, VerifyAuditChain
from dashcore.domain.audit import (
    GENESIS_HASH,
    SYSTEM_CHAIN,
    AuditEvent,
    AuditOutcome,
    RecordedAuditEvent,
    compute_event_hash,
)
from dashcore.domain.errors import Conflict
from tests.contract.conftest import Backend, Work

START = datetime(2026, 1, 1, 9, 0, 0, 250000, tzinfo=UTC)


def event(
    number: int, actor: str | None = "user:1", **metadata: str | int | bool | None
) -> AuditEvent:
    return AuditEvent(
        id=UUID(f"00000000-0000-7000-8000-{number:012x}"),
        occurred_at=START + timedelta(seconds=number, microseconds=number),
        action="authn_login_success",
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        target=f"session:{number}",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (X11) ünïcode\r\n",
        request_id=f"req-{number}",
        metadata=metadata or {"amount": "10.50", "attempt": number, "mfa": True, "note": None},
    )


async def append_committed(backend: Backend, *events: AuditEvent) -> list[RecordedAuditEvent]:
    async with backend.work() as work:
        recorded = [await work.audit.append(item) for item in events]
        await work.uow.commit()
    return recorded


async def all_records(backend: Backend) -> list[RecordedAuditEvent]:
    async with backend.work() as work:
        return [record async for record in work.audit.records()]


async def verify(backend: Backend) -> AuditVerification:
    async with backend.work() as work:
        return await VerifyAuditChain(work.audit)()


async def test_a_chain_numbers_events_from_one_and_links_each_to_its_predecessor(
    backend: Backend,
) -> None:
    recorded = await append_committed(backend, event(1), event(2), event(3))
    assert [r.seq for r in recorded] == [1, 2, 3]
    assert [r.chain for r in recorded] == ["user:1"] * 3
    assert [r.prev_hash for r in recorded] == [GENESIS_HASH, recorded[0].hash, recorded[1].hash]
    for record in recorded:
        assert record.hash == compute_event_hash(
            record.event, chain=record.chain, seq=record.seq, prev_hash=record.prev_hash
        )


async def test_records_read_back_identical_in_chain_then_seq_order(backend: Backend) -> None:
    offset = timezone(timedelta(hours=-4))
    odd = AuditEvent(
        id=UUID(int=99),
        occurred_at=datetime(2026, 5, 1, 23, 59, 59, 999999, tzinfo=offset),
        action="key_rotated",
        outcome=AuditOutcome.FAILURE,
        metadata={"big": 2**62, "zero": 0, "empty": "", "flag": False, "text": "日本\u2028"},
    )
    appended = await append_committed(
        backend, event(1, "user:2"), event(2, "user:1"), odd, event(3, "user:2"), event(4, "user:1")
    )
    records = await all_records(backend)
    assert records == sorted(appended, key=lambda r: (r.chain, r.seq))
    assert {r.chain for r in records} == {"user:1", "user:2", SYSTEM_CHAIN}
    assert records[[r.event.id for r in records].index(UUID(int=99))].event == odd


async def test_chains_are_per_actor_and_independent(backend: Backend) -> None:
    appended = await append_committed(
        backend, event(1, "user:1"), event(2, "user:2"), event(3, "user:1"), event(4, None)
    )
    assert [(r.chain, r.seq) for r in appended] == [
        ("user:1", 1),
        ("user:2", 1),
        ("user:1", 2),
        (SYSTEM_CHAIN, 1),
    ]
    assert appended[1].prev_hash == GENESIS_HASH
    async with backend.work() as work:
        heads = await work.audit.heads()
    assert {chain: (h.seq, h.hash) for chain, h in heads.items()} == {
        "user:1": (2, appended[2].hash),
        "user:2": (1, appended[1].hash),
        SYSTEM_CHAIN: (1, appended[3].hash),
    }
    result = await verify(backend)
    assert result.intact
    assert (result.events_checked, result.chains_checked) == (4, 3)


async def test_appends_commit_and_roll_back_with_their_unit_of_work(backend: Backend) -> None:
    await append_committed(backend, event(1))
    async with backend.work() as work:
        assert (await work.audit.append(event(2))).seq == 2
        assert (await work.audit.append(event(3, "user:9"))).seq == 1
    async with backend.work() as work:
        assert {c: h.seq for c, h in (await work.audit.heads()).items()} == {"user:1": 1}
        assert (await work.audit.append(event(4))).seq == 2
        await work.uow.commit()
    assert [r.event.id for r in await all_records(backend)] == [event(1).id, event(4).id]
    assert (await verify(backend)).intact


@pytest.mark.parametrize("earlier_events", [0, 1], ids=["new-chain", "existing-chain"])
async def test_concurrent_appends_to_one_chain_never_fork_it(
    backend: Backend, earlier_events: int
) -> None:
    """Two units of work append to the same chain at once; the second must wait for the first
    (SQL) or fail its commit with a Conflict and retry (memory): the chain never forks."""
    await append_committed(backend, *(event(100 + n) for n in range(earlier_events)))
    first_appended = asyncio.Event()
    attempts: list[str] = []

    async def append(
        item: AuditEvent, name: str, before_commit: Callable[[Work], Awaitable[None]]
    ) -> RecordedAuditEvent:
        for _ in range(3):
            attempts.append(name)
            async with backend.work() as work:
                recorded = await work.audit.append(item)
                await before_commit(work)
                try:
                    await work.uow.commit()
                except Conflict:
                    continue
                return recorded
        raise AssertionError(f"{name} never committed")

    async def let_second_contend(work: Work) -> None:
        first_appended.set()
        await backend.let_contender_run(work)

    async def commit_at_once(work: Work) -> None:
        return None

    async def second() -> RecordedAuditEvent:
        await first_appended.wait()
        return await append(event(2), "second", commit_at_once)

    first, second_record = await asyncio.gather(
        append(event(1), "first", let_second_contend), second()
    )
    assert sorted([first.seq, second_record.seq]) == [earlier_events + 1, earlier_events + 2]
    records = await all_records(backend)
    assert [r.seq for r in records] == list(range(1, earlier_events + 3))
    assert (await verify(backend)).intact
    if backend.name != "memory":
        assert sorted(attempts) == ["first", "second"], "SQL appends serialize, never conflict"


# -- tampering ------------------------------------------------------------------------------


async def chain_of_four(backend: Backend) -> list[RecordedAuditEvent]:
    recorded = await append_committed(
        backend, event(1), event(2), event(3), event(4), event(5, "user:2")
    )
    assert (await verify(backend)).intact
    return recorded


async def test_an_edited_action_is_detected_at_its_event(backend: Backend) -> None:
    recorded = await chain_of_four(backend)
    await backend.tamper_event("user:1", 2, action="authn_login_fail")
    result = await verify(backend)
    assert result.first_break is not None
    assert (result.first_break.chain, result.first_break.seq) == ("user:1", 2)
    assert result.first_break.event_id == recorded[1].event.id
    assert result.first_break.reason == "event content altered"


async def test_edited_metadata_is_detected_at_its_event(backend: Backend) -> None:
    await chain_of_four(backend)
    await backend.tamper_event(
        "user:1", 3, metadata={"amount": "1000000.00", "attempt": 3, "mfa": True, "note": None}
    )
    result = await verify(backend)
    assert result.first_break is not None
    assert (result.first_break.chain, result.first_break.seq) == ("user:1", 3)
    assert result.first_break.reason == "event content altered"


async def test_a_deleted_last_event_is_detected(backend: Backend) -> None:
    await chain_of_four(backend)
    await backend.delete_event("user:1", 4)
    result = await verify(backend)
    assert result.first_break is not None
    assert (result.first_break.chain, result.first_break.seq) == ("user:1", 4)
    assert result.first_break.reason == "events after seq 3 are missing"


async def test_a_deleted_middle_event_is_detected(backend: Backend) -> None:
    await chain_of_four(backend)
    await backend.delete_event("user:1", 2)
    result = await verify(backend)
    assert result.first_break is not None
    assert (result.first_break.chain, result.first_break.seq) == ("user:1", 2)
    assert result.first_break.reason == "sequence gap"


async def test_tampering_in_another_chain_is_reported_there(backend: Backend) -> None:
    await chain_of_four(backend)
    await backend.tamper_event("user:2", 1, action="authn_logout")
    result = await verify(backend)
    assert result.first_break is not None
    assert (result.first_break.chain, result.first_break.seq) == ("user:2", 1)
