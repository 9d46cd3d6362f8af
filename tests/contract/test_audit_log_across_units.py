"""The ``AuditLog`` contract when one log outlives a transaction (a request commits several
times on one unit of work): each append follows the chain's head as stored, whatever this
log wrote before, so a rolled-back append or another writer's events never fork the chain."""

from __future__ import annotations

from itertools import pairwise

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


async def test_writers_in_two_processes_take_turns_without_forking_the_chain(
    backend: Backend,
) -> None:
    """Each process remembers the head it last wrote; the other's appends make that memory
    stale, and an append past a stale head must find the real one."""
    appended = []
    for number in range(1, 7):
        async with backend.work(process=number % 2) as work:
            appended.append(await work.audit.append(event(number)))
            await work.uow.commit()
    assert [record.seq for record in appended] == [1, 2, 3, 4, 5, 6]
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(appended))
    result = await verify(backend)
    assert result.intact
    assert result.events_checked == 6


async def test_a_process_appends_after_its_own_last_head_across_units_of_work(
    backend: Backend,
) -> None:
    for number in range(1, 4):
        async with backend.work() as work:
            await work.audit.append(event(number))
            await work.uow.commit()
    records = await all_records(backend)
    assert [record.seq for record in records] == [1, 2, 3]
    assert (await verify(backend)).intact
