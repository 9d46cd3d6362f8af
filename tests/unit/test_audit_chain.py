"""The audit chain rules, on the memory adapter (the SQL adapters run the contract suite)."""

from dataclasses import replace
from uuid import UUID

import pytest

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.verify_audit_chain import VerifyAuditChain
from dashcore.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditOutcome,
    ChainVerifier,
    RecordedAuditEvent,
)
from dashcore.domain.context import CallerContext
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork

ALICE = CallerContext(actor="user:alice", ip="203.0.113.7", request_id="r1")
BOB = CallerContext(actor="user:bob")


@pytest.fixture
def database() -> MemoryDatabase:
    return MemoryDatabase()


async def record(database: MemoryDatabase, caller: CallerContext, *actions: str) -> None:
    uow = MemoryUnitOfWork(database)
    trail = AuditTrail(MemoryAuditLog(uow), FakeClock(), SequentialIds())
    for action in actions:
        await trail.record(action, caller=caller, metadata={"attempt": 1})
    await uow.commit()


async def verify(database: MemoryDatabase) -> VerifyAuditChain:
    return VerifyAuditChain(MemoryAuditLog(MemoryUnitOfWork(database)))


async def test_each_actor_has_its_own_gapless_linked_chain(database: MemoryDatabase) -> None:
    await record(database, ALICE, "authn_login_success", "session_revoked")
    await record(database, BOB, "authn_login_fail")
    await record(database, ALICE, "authn_logout")
    rows = dict(database.tables["audit_events"])
    alice = [rows[("user:alice", seq)] for seq in (1, 2, 3)]
    assert alice[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in alice[1:]] == [r.hash for r in alice[:-1]]
    assert rows[("user:bob", 1)].prev_hash == GENESIS_HASH
    result = await (await verify(database))()
    assert result.intact and result.events_checked == 4 and result.chains_checked == 2


async def test_uncommitted_events_leave_no_trace(database: MemoryDatabase) -> None:
    uow = MemoryUnitOfWork(database)
    await AuditTrail(MemoryAuditLog(uow), FakeClock(), SequentialIds()).record("x_y", caller=ALICE)
    await uow.rollback()
    assert not database.tables.get("audit_events")


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        (lambda r: replace(r, event=replace(r.event, action="authn_login_success")), 2, "altered"),
        (lambda r: replace(r, event=replace(r.event, metadata={"attempt": 2})), 2, "altered"),
        (lambda r: replace(r, prev_hash=GENESIS_HASH), 2, "link"),
    ],
)
async def test_an_edited_event_is_named(
    database: MemoryDatabase, tamper: object, seq: int, reason: str
) -> None:
    await record(database, ALICE, "authn_login_fail", "authn_login_fail", "authn_login_fail")
    events = database.tables["audit_events"]
    target: RecordedAuditEvent = events[("user:alice", 2)]
    events[("user:alice", 2)] = tamper(target)  # type: ignore[operator]
    broken = (await (await verify(database))()).first_break
    assert broken is not None
    assert (broken.chain, broken.seq, broken.event_id) == ("user:alice", seq, target.event.id)
    assert reason in broken.reason


async def test_deleting_a_middle_or_the_last_event_is_detected(database: MemoryDatabase) -> None:
    await record(database, ALICE, "a_1", "a_2", "a_3")
    events = database.tables["audit_events"]
    last = events.pop(("user:alice", 3))
    broken = (await (await verify(database))()).first_break
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason
    events[("user:alice", 3)] = last
    del events[("user:alice", 2)]
    broken = (await (await verify(database))()).first_break
    assert broken is not None and (broken.seq, broken.reason) == (2, "sequence gap")


def test_secret_metadata_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        AuditEvent(
            id=UUID(int=1),
            occurred_at=FakeClock().now(),
            action="authn_login_fail",
            outcome=AuditOutcome.FAILURE,
            metadata={"password": "hunter2"},
        )


def test_control_characters_are_escaped_against_log_injection() -> None:
    event = AuditEvent(
        id=UUID(int=1),
        occurred_at=FakeClock().now(),
        action="authn_login_fail",
        outcome=AuditOutcome.FAILURE,
        target="mike\r\nFAKE audit line",
    )
    assert event.target == "mike\\r\\nFAKE audit line"


async def test_events_appended_during_verification_are_not_tampering(
    database: MemoryDatabase,
) -> None:
    await record(database, ALICE, "a_1", "a_2")
    log = MemoryAuditLog(MemoryUnitOfWork(database))
    heads = await log.heads()
    await record(database, ALICE, "a_3")  # appended after the heads snapshot
    await record(database, BOB, "b_1")  # a chain born after the snapshot
    verifier = ChainVerifier(heads)
    async for recorded in log.records():
        assert verifier.feed(recorded) is None
    assert verifier.finish(await log.heads()) is None
    assert verifier.events_checked == 3


async def test_a_deleted_head_row_is_detected(database: MemoryDatabase) -> None:
    await record(database, ALICE, "a_1")
    del database.tables["audit_chain_heads"]["user:alice"]
    broken = (await (await verify(database))()).first_break
    assert broken is not None and broken.reason == "chain has no head record"
