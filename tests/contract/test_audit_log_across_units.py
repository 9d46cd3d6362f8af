"""The ``AuditLog`` contract when one log outlives a transaction (a request commits several
times on one unit of work): each append follows the chain's head as stored, whatever this
log wrote before, so a rolled-back append or another writer's events never fork the chain."""

from __future__ import annotations

from tests.contract.conftest import Backend
from tests.contract.test_audit_log import all_records, event, verify


async def test_an_append_after_a_rolled_back_one_takes_its_place(backend: Backend) -> None:
    async with backend.work() as work:
        assert (await work.audit.append(event(1))).seq == 1
        await work.uow.commit()
        assert (await work.audit.append(event(2))).seq == 2
        await work.uow.rollback()
        replacing = await work.audit.append(event(3))
        await work.uow.commit()
    assert replacing.seq == 2
    assert [r.event.id for r in await all_records(backend)] == [event(1).id, event(3).id]
    assert (await verify(backend)).intact


async def test_an_append_follows_what_another_writer_appended_meanwhile(
    backend: Backend,
) -> None:
    async with backend.work() as work:
        first = await work.audit.append(event(1))
        await work.uow.commit()
        async with backend.work() as other:
            await other.audit.append(event(2))
            await other.audit.append(event(3, "user:2"))
            third = await other.audit.append(event(4))
            await other.uow.commit()
        last = await work.audit.append(event(5))
        await work.uow.commit()
    assert (first.seq, third.seq, last.seq) == (1, 3, 4)
    assert last.prev_hash == third.hash
    result = await verify(backend)
    assert result.intact
    assert result.events_checked == 5


async def test_events_of_one_unit_of_work_chain_in_order_across_chains(
    backend: Backend,
) -> None:
    async with backend.work() as work:
        appended = [
            await work.audit.append(item)
            for item in (event(1), event(2, "user:2"), event(3), event(4), event(5, "user:2"))
        ]
        await work.uow.commit()
    assert [(r.chain, r.seq) for r in appended] == [
        ("user:1", 1),
        ("user:2", 1),
        ("user:1", 2),
        ("user:1", 3),
        ("user:2", 2),
    ]
    assert appended[3].prev_hash == appended[2].hash
    assert (await verify(backend)).intact
