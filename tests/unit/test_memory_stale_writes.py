"""The memory store's optimistic lock: a write staged ``if_unchanged`` claims its key until its
unit of work ends (a second open unit of work writing it guarded is refused at once, as the
second updater of a row is in a database) and is refused on commit when another unit of work
committed the key after this one first wrote it; and an insert's conflict names its code."""

from __future__ import annotations

import pytest

from dashcore.domain.errors import Conflict
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork


async def committed(database: MemoryDatabase, key: int, value: str) -> None:
    uow = MemoryUnitOfWork(database)
    uow.put("orders", key, value)
    await uow.commit()


async def test_the_second_of_two_open_guarded_writers_is_refused_at_once() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    first, second = MemoryUnitOfWork(database), MemoryUnitOfWork(database)
    first.put("orders", 1, "v1 by first", if_unchanged="stale")
    second.put("orders", 2, "written with it")
    with pytest.raises(Conflict) as refused:
        second.put("orders", 1, "v1 by second", if_unchanged="stale")
    assert refused.value.code == "stale"
    await first.commit()
    await second.rollback()
    assert database.table("orders") == {1: "v1 by first"}
    after = MemoryUnitOfWork(database)  # the claim ended with the first unit of work
    after.put("orders", 1, "v2", if_unchanged="stale")
    await after.commit()
    assert database.table("orders") == {1: "v2"}


async def test_a_rolled_back_or_refused_unit_of_work_releases_its_claim() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    abandoned = MemoryUnitOfWork(database)
    abandoned.put("orders", 1, "never", if_unchanged="stale")
    await abandoned.rollback()
    refused = MemoryUnitOfWork(database)
    refused.put("orders", 1, "stale", if_unchanged="stale")
    await committed(database, 1, "v1 elsewhere")
    with pytest.raises(Conflict):
        await refused.commit()
    await refused.commit()  # the journal was dropped: nothing is applied later
    assert database.table("orders") == {1: "v1 elsewhere"}
    assert database.claims == {}
    after = MemoryUnitOfWork(database)
    after.put("orders", 1, "v2", if_unchanged="stale")
    await after.commit()
    assert database.table("orders") == {1: "v2"}


async def test_a_key_written_twice_in_one_unit_of_work_is_compared_with_its_first_base() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    uow = MemoryUnitOfWork(database)
    uow.put("orders", 1, "v1", if_unchanged="stale")
    uow.put("orders", 1, "v2")  # still guarded against what was committed before "v1"
    await committed(database, 1, "v1 elsewhere")
    with pytest.raises(Conflict) as refused:
        await uow.commit()
    assert refused.value.code == "stale"
    assert database.table("orders") == {1: "v1 elsewhere"}


async def test_a_guarded_write_commits_when_nothing_changed_meanwhile() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    uow = MemoryUnitOfWork(database)
    uow.put("orders", 1, "v1", if_unchanged="stale")
    uow.put("orders", 1, "v2")
    await uow.commit()
    assert database.table("orders") == {1: "v2"}


async def test_an_unguarded_write_still_lets_the_last_commit_win() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    first, second = MemoryUnitOfWork(database), MemoryUnitOfWork(database)
    first.put("orders", 1, "first")
    second.put("orders", 1, "second")
    await first.commit()
    await second.commit()
    assert database.table("orders") == {1: "second"}


async def test_a_guarded_delete_of_a_row_changed_meanwhile_is_refused() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    uow = MemoryUnitOfWork(database)
    uow.put("orders", 1, "v1", if_unchanged="stale")
    uow.delete("orders", 1)
    await committed(database, 1, "v1 elsewhere")
    with pytest.raises(Conflict):
        await uow.commit()
    assert database.table("orders") == {1: "v1 elsewhere"}


async def test_an_insert_names_its_conflict_now_and_on_commit() -> None:
    database = MemoryDatabase()
    await committed(database, 1, "v0")
    uow = MemoryUnitOfWork(database)
    with pytest.raises(Conflict) as now:
        uow.put("orders", 1, "again", insert=True, exists_code="order_exists")
    assert now.value.code == "order_exists"

    first, second = MemoryUnitOfWork(database), MemoryUnitOfWork(database)
    first.put("orders", 2, "first", insert=True, exists_code="order_exists")
    second.put("orders", 2, "second", insert=True, exists_code="order_exists")
    await first.commit()
    with pytest.raises(Conflict) as on_commit:
        await second.commit()
    assert on_commit.value.code == "order_exists"
    assert database.table("orders")[2] == "first"
    default = MemoryUnitOfWork(database)
    with pytest.raises(Conflict) as unnamed:
        default.put("orders", 2, "third", insert=True)
    assert unnamed.value.code == "orders_exists"
