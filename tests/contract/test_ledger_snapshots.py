"""The ``LedgerSnapshots`` contract (stored lot ledgers) on memory, SQLite and PostgreSQL: what is
put comes back to the last digit and in UTC, a put keeps the higher revision, and the store
is per user and cost method."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from dashcore.domain.errors import Conflict
from dashcore.domain.ledger import CostMethod, LedgerSnapshot, LotLedger
from dashcore.domain.users import User
from dashcore.ports.ledgers import LedgerSnapshots, StoredLedger
from dashcore.ports.trades import TradeCursor
from dashcore.testing.clock import FakeClock
from dashcore_memory.ledgers import MemoryLedgerSnapshots
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_sql.ledgers import SqlLedgerSnapshots
from dashcore_sql.tables import ledger_snapshots
from tests.contract.conftest import Backend, SqlBackend, Work
from tests.contract.people import person
from tests.contract.test_trade_store import people_from

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
FIFO = CostMethod.FIFO


@dataclass(frozen=True, slots=True)
class Store:
    work: Work
    ledgers: LedgerSnapshots


@asynccontextmanager
async def store_of(backend: Backend) -> AsyncIterator[Store]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Store(work, MemoryLedgerSnapshots(native))
        else:
            yield Store(work, SqlLedgerSnapshots(native, FakeClock(NOW)))


async def owners(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    await people_from(backend, *added)
    return added


def snapshot(
    basis: Decimal = Decimal("1005.5"), *, method: CostMethod = FIFO, opened: datetime = NOW
) -> LedgerSnapshot:
    """One long position of 10 units in one lot of cost basis ``basis``, and a pending split."""
    return LedgerSnapshot(
        method=method.value,
        positions=(
            (
                "manual",
                "AAPL",
                "XNAS",
                "USD",
                1,
                Decimal(10),
                basis,
                Decimal("-0.25"),
                Decimal("101.50"),
                3,
                (Decimal(10),),
                (basis,),
                (opened,),
            ),
        ),
        entries=3,
        pending_splits=(("AAPL", "XNAS", 2, 1, NOW + timedelta(days=1)),),
        last_executed_at=opened,
    )


def stored(revision: int, basis: Decimal = Decimal("1005.5"), **changes: object) -> StoredLedger:
    through = TradeCursor(NOW, UUID(int=revision))
    return StoredLedger(revision, through, snapshot(basis, **changes))  # type: ignore[arg-type]


async def put(
    backend: Backend, owner: User, value: StoredLedger, method: CostMethod = FIFO
) -> None:
    async with store_of(backend) as s:
        await s.ledgers.put(owner.id, method, value)
        await s.work.uow.commit()


async def get(backend: Backend, owner: User, method: CostMethod = FIFO) -> StoredLedger | None:
    async with store_of(backend) as s:
        return await s.ledgers.get(owner.id, method)


async def test_nothing_is_stored_at_first(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    assert await get(backend, owner) is None


async def test_a_stored_ledger_comes_back_as_it_was_put(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    value = stored(4)
    await put(backend, owner, value)

    loaded = await get(backend, owner)
    assert loaded == value
    assert loaded is not None
    assert loaded.through is not None
    assert loaded.through.executed_at.tzinfo is UTC
    assert loaded.snapshot.positions[0][12][0].tzinfo is UTC
    assert LotLedger.from_snapshot(loaded.snapshot).snapshot() == value.snapshot


async def test_a_ledger_of_no_trades_has_no_through(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    empty = StoredLedger(0, None, LotLedger(FIFO).snapshot())
    await put(backend, owner, empty)
    assert await get(backend, owner) == empty


async def test_a_put_not_committed_is_not_stored(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    async with store_of(backend) as s:
        await s.ledgers.put(owner.id, FIFO, stored(1))
        assert await s.ledgers.get(owner.id, FIFO) == stored(1)
    assert await get(backend, owner) is None


async def test_a_put_keeps_the_higher_revision(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    await put(backend, owner, stored(5, Decimal(5)))

    await put(backend, owner, stored(4, Decimal(4)))  # an older ledger, stored late
    assert await get(backend, owner) == stored(5, Decimal(5))
    await put(backend, owner, stored(5, Decimal(55)))  # the same revision: the first stays
    assert await get(backend, owner) == stored(5, Decimal(5))
    await put(backend, owner, stored(6, Decimal(6)))
    assert await get(backend, owner) == stored(6, Decimal(6))


async def test_ledgers_are_kept_per_user_and_method(backend: Backend) -> None:
    owner, other = await owners(backend, 1, 2)
    lifo = stored(2, Decimal(2), method=CostMethod.LIFO)
    await put(backend, owner, stored(1))
    await put(backend, owner, lifo, CostMethod.LIFO)

    assert await get(backend, owner) == stored(1)
    assert await get(backend, owner, CostMethod.LIFO) == lifo
    assert await get(backend, owner, CostMethod.AVERAGE) is None
    assert await get(backend, other) is None


async def test_of_two_units_putting_at_once_the_higher_revision_stays(backend: Backend) -> None:
    (owner,) = await owners(backend, 1)
    async with store_of(backend) as newer, store_of(backend) as older:
        await newer.ledgers.put(owner.id, FIFO, stored(7))
        if backend.name == "postgres":
            racing = asyncio.create_task(older.ledgers.put(owner.id, FIFO, stored(6)))
            await backend.let_contender_run(newer.work)
            await newer.work.uow.commit()
            await racing
            await older.work.uow.commit()
        elif backend.name == "sqlite":  # one writer at a time
            await newer.work.uow.commit()
            await older.ledgers.put(owner.id, FIFO, stored(6))
            await older.work.uow.commit()
        else:  # memory: the second is refused while the first is open
            with pytest.raises(Conflict) as refused:
                await older.ledgers.put(owner.id, FIFO, stored(6))
            assert refused.value.code == "ledger_snapshot_changed"
            await newer.work.uow.commit()
    assert await get(backend, owner) == stored(7)


async def test_a_state_this_version_cannot_read_is_no_ledger(sql_backend: SqlBackend) -> None:
    (owner,) = await owners(sql_backend, 1)
    await put(sql_backend, owner, stored(3))
    async with sql_backend.engine.begin() as connection:
        state = (await connection.execute(select(ledger_snapshots.c.state))).scalar_one()
    older_arithmetic = b"\x01" + state[1:]  # format 1 divided to 100 significant digits
    for damaged in (older_arithmetic, b"\x00" + b"\x90", b"\x02not msgpack", b""):
        async with sql_backend.engine.begin() as connection:
            await connection.execute(update(ledger_snapshots).values(state=damaged))
        assert await get(sql_backend, owner) is None
    # A new ledger replaces it once its revision is higher.
    await put(sql_backend, owner, stored(4))
    assert await get(sql_backend, owner) == stored(4)


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 1000
)
ROUND_TRIPS = iter(range(1, 1_000_000))


@settings(max_examples=25)
@given(basis=finite_decimals, offset=st.integers(-14 * 60, 14 * 60))
async def test_every_digit_and_instant_round_trips(
    backend: Backend, basis: Decimal, offset: int
) -> None:
    """Exponent and sign included (``-0``, ``1E+3``, 50-digit quotients); instants in UTC."""
    owner = person(next(ROUND_TRIPS) + 100, NOW)
    await people_from(backend, owner)
    opened = NOW + timedelta(minutes=offset)
    value = replace(stored(1, basis), snapshot=snapshot(basis, opened=opened))
    await put(backend, owner, value)

    loaded = await get(backend, owner)
    assert loaded is not None
    (position,) = loaded.snapshot.positions
    assert str(position[6]) == str(basis)
    assert str(position[11][0]) == str(basis)
    assert position[12] == (opened,)
    assert loaded.snapshot.last_executed_at == opened
    assert loaded == value
