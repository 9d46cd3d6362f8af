"""The ``OrderLimitRepository`` contract on memory, SQLite and PostgreSQL: a user's own order
limits read back exactly (Decimal), are replaced whole, belong to one user, and vanish with an
uncommitted unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits, OrderLimits
from dashcore.domain.users import User
from dashcore.ports.order_limits import OrderLimitRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.order_limits import MemoryOrderLimitRepository
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.order_limits import SqlOrderLimitRepository
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, Work
from tests.contract.people import person

NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
INR = Currency("INR")
USD = Currency("USD")


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    limits: OrderLimitRepository

    @property
    def uow(self) -> UnitOfWork:
        return self.work.uow


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Repos(work, MemoryUserRepository(native), MemoryOrderLimitRepository(native))
        else:
            yield Repos(work, SqlUserRepository(native), SqlOrderLimitRepository(native))


async def people(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    async with repos(backend) as r:
        for item in added:
            await r.users.add(item)
        await r.uow.commit()
    return added


async def replaced(backend: Backend, user: User, limits: OrderLimits) -> None:
    async with repos(backend) as r:
        await r.limits.replace(user.id, limits)
        await r.uow.commit()


async def stored(backend: Backend, user: User) -> OrderLimits:
    async with repos(backend) as r:
        return await r.limits.get(user.id)


async def test_a_user_without_limits_has_none(backend: Backend) -> None:
    [user] = await people(backend, 1)
    assert await stored(backend, user) == OrderLimits()


async def test_limits_read_back_exactly_and_are_replaced_whole(backend: Backend) -> None:
    [user] = await people(backend, 1)
    first = OrderLimits(
        {
            INR: CurrencyLimits(Decimal("1000000.00"), None, Decimal("5000000")),
            USD: CurrencyLimits(None, Decimal("250.5"), None),
        }
    )
    await replaced(backend, user, first)
    loaded = await stored(backend, user)
    assert loaded == first
    assert str(loaded.of(INR).max_order_value) == "1000000.00"
    second = OrderLimits({USD: CurrencyLimits(max_daily_value=Decimal(7))})
    await replaced(backend, user, second)
    assert await stored(backend, user) == second
    await replaced(backend, user, OrderLimits())
    assert await stored(backend, user) == OrderLimits()


async def test_limits_belong_to_one_user(backend: Backend) -> None:
    alice, bob = await people(backend, 1, 2)
    await replaced(backend, alice, OrderLimits({INR: CurrencyLimits(Decimal(1))}))
    await replaced(backend, bob, OrderLimits({INR: CurrencyLimits(Decimal(2))}))
    await replaced(backend, bob, OrderLimits())
    assert (await stored(backend, alice)).of(INR).max_order_value == Decimal(1)
    assert await stored(backend, bob) == OrderLimits()


async def test_an_uncommitted_change_vanishes(backend: Backend) -> None:
    [user] = await people(backend, 1)
    async with repos(backend) as r:
        await r.limits.replace(user.id, OrderLimits({INR: CurrencyLimits(Decimal(1))}))
    assert await stored(backend, user) == OrderLimits()


_amounts = st.decimals(min_value=0, max_value=Decimal(10) ** 15, places=6, allow_nan=False)


@settings(max_examples=15, deadline=None)
@given(value=st.none() | _amounts, quantity=st.none() | _amounts, daily=st.none() | _amounts)
async def test_any_limit_round_trips_exactly(
    backend: Backend, value: Decimal | None, quantity: Decimal | None, daily: Decimal | None
) -> None:
    async with repos(backend) as r:
        if await r.users.get(person(9, NOW).id) is None:
            await r.users.add(person(9, NOW))
            await r.uow.commit()
    user = person(9, NOW)
    limits = OrderLimits({INR: CurrencyLimits(value, quantity, daily)})
    await replaced(backend, user, limits)
    loaded = await stored(backend, user)
    assert loaded == limits
    assert [str(x) for x in vars_of(loaded)] == [str(x) for x in vars_of(limits)]


def vars_of(limits: OrderLimits) -> list[Decimal | None]:
    each = limits.of(INR)
    return [each.max_order_value, each.max_order_quantity, each.max_daily_value]
