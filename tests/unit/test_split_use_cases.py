"""Splits a user records (record, list, get, delete), on memory adapters and a fake clock: codes
kept upper-case, every problem named by its field, one split per instrument and instant, the
per-user limit, owner isolation, and the audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from dashcore.application.splits import MAX_SPLITS, SplitDetails, Splits
from dashcore.domain.errors import Conflict, InvalidInput, NotFound
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.trades import RecordedSplit, Split
from dashcore.domain.users import User
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.trades import MemoryTradeRepository
from tests.unit.identity_world import CALLER, World
from tests.unit.test_trade_use_cases import audited

EFFECTIVE = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def details(**changes: object) -> SplitDetails:
    base = SplitDetails(
        symbol=" infy", exchange="nse", numerator=2, denominator=1, effective_at=EFFECTIVE
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def splits(world: World, uow: MemoryUnitOfWork) -> Splits:
    return Splits(MemoryTradeRepository(uow), world.audit(uow), uow, world.clock, world.ids)


@pytest.fixture
def world() -> World:
    return World.create()


@pytest.fixture
async def owner(world: World) -> User:
    return await world.add_user("owner@example.com")


async def test_recording_keeps_the_split_with_codes_upper_case_and_audits_it(
    world: World, owner: User
) -> None:
    recorded = await splits(world, world.uow()).record(owner.id, details(), CALLER)

    assert recorded.split == Split(InstrumentKey("INFY", "NSE"), 2, 1, EFFECTIVE)
    assert recorded.recorded_at == world.clock.now()
    assert await splits(world, world.uow()).list(owner.id) == [recorded]
    assert await splits(world, world.uow()).get(owner.id, recorded.id) == recorded
    assert audited(world, "split_recorded") == [f"split:{recorded.id}"]


async def test_every_problem_is_named_by_its_field(world: World, owner: User) -> None:
    bad = details(
        symbol="IN FY",
        exchange="",
        numerator=0,
        denominator=True,
        effective_at=world.clock.now() + timedelta(seconds=1),
    )

    with pytest.raises(InvalidInput) as raised:
        await splits(world, world.uow()).record(owner.id, bad, CALLER)

    assert {e.field for e in raised.value.errors} == {
        "symbol", "exchange", "numerator", "denominator", "effective_at",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"numerator": 3, "denominator": 3}, "numerator"),
        ({"denominator": 1_000_001}, "denominator"),
        ({"effective_at": datetime(2026, 1, 1)}, "effective_at"),  # noqa: DTZ001 - naive on purpose
    ],
)
async def test_a_ratio_or_instant_out_of_bounds_is_refused(
    world: World, owner: User, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await splits(world, world.uow()).record(owner.id, details(**changes), CALLER)

    assert [e.field for e in raised.value.errors] == [field]


async def test_one_split_per_instrument_and_instant(world: World, owner: User) -> None:
    await splits(world, world.uow()).record(owner.id, details(), CALLER)

    with pytest.raises(Conflict) as raised:
        await splits(world, world.uow()).record(owner.id, details(numerator=3), CALLER)

    assert raised.value.code == "split_already_recorded"
    assert len(audited(world, "split_recorded")) == 1


async def test_a_user_records_at_most_the_limit(world: World, owner: User) -> None:
    uow = world.uow()
    repository = MemoryTradeRepository(uow)
    for number in range(MAX_SPLITS):
        split = Split(InstrumentKey("INFY", "NSE"), 2, 1, EFFECTIVE - timedelta(days=number))
        await repository.add_split(RecordedSplit(UUID(int=number + 1), owner.id, split, EFFECTIVE))
    await uow.commit()

    with pytest.raises(Conflict) as raised:
        await splits(world, world.uow()).record(owner.id, details(symbol="TCS"), CALLER)

    assert raised.value.code == "split_limit_reached"


async def test_another_users_split_is_not_found_and_stays(world: World, owner: User) -> None:
    other = await world.add_user("other@example.com")
    recorded = await splits(world, world.uow()).record(owner.id, details(), CALLER)

    for attempt in (
        splits(world, world.uow()).get(other.id, recorded.id),
        splits(world, world.uow()).delete(other.id, recorded.id, CALLER),
    ):
        with pytest.raises(NotFound) as raised:
            await attempt
        assert raised.value.code == "split_not_found"
    assert await splits(world, world.uow()).list(other.id) == []
    assert await splits(world, world.uow()).list(owner.id) == [recorded]


async def test_deleting_removes_the_split_and_audits_it(world: World, owner: User) -> None:
    recorded = await splits(world, world.uow()).record(owner.id, details(), CALLER)

    await splits(world, world.uow()).delete(owner.id, recorded.id, CALLER)

    assert await splits(world, world.uow()).list(owner.id) == []
    assert audited(world, "split_deleted") == [f"split:{recorded.id}"]
    with pytest.raises(NotFound):
        await splits(world, world.uow()).delete(owner.id, recorded.id, CALLER)
