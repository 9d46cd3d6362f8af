"""The memory store's unique indexes: in one unit of work, rewriting a row without its unique
value frees that value for another row, as a database does once the first row's update ran."""

from __future__ import annotations

import pytest

from dashcore.domain.errors import Conflict
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork


async def test_a_unique_value_released_in_a_unit_of_work_can_be_taken_in_it() -> None:
    database = MemoryDatabase()
    first = MemoryUnitOfWork(database)
    first.put("runs", 1, "active", unique=(("active", "connection-1"),))
    await first.commit()

    uow = MemoryUnitOfWork(database)
    uow.put("runs", 1, "finished")  # no longer holds the value
    uow.put("runs", 2, "active", unique=(("active", "connection-1"),))
    await uow.commit()
    assert database.table("runs") == {1: "finished", 2: "active"}


async def test_a_unique_value_still_held_by_its_committed_owner_is_refused() -> None:
    database = MemoryDatabase()
    first = MemoryUnitOfWork(database)
    first.put("runs", 1, "active", unique=(("active", "connection-1"),))
    await first.commit()

    uow = MemoryUnitOfWork(database)
    uow.put("runs", 1, "active again", unique=(("active", "connection-1"),))
    with pytest.raises(Conflict):
        uow.put("runs", 2, "active", unique=(("active", "connection-1"),))
