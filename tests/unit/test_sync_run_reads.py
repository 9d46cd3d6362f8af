"""Reading a sync run is owner-checked: another user's run is not found, like an unknown one."""

from __future__ import annotations

from uuid import UUID

import pytest

from dashcore.application.sync_runs import GetSyncRun
from dashcore.domain.aggregation import SyncRun, SyncTrigger
from dashcore.domain.errors import NotFound
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.aggregation import MemorySyncRunRepository
from tests.unit.accounts_world import OTHER, OWNER
from tests.unit.aggregation_factories import CONNECTION_ID, T0, uuid7


async def test_the_owner_reads_their_run_and_nobody_else_does() -> None:
    database = MemoryDatabase()
    uow = MemoryUnitOfWork(database)
    run = SyncRun.queued(uuid7(1), CONNECTION_ID, OWNER, SyncTrigger.MANUAL, T0)
    await MemorySyncRunRepository(uow).add(run)
    await uow.commit()
    read = GetSyncRun(MemorySyncRunRepository(MemoryUnitOfWork(database)))

    assert await read(OWNER, run.id) == run
    for user_id, run_id in ((OTHER, run.id), (OWNER, UUID(int=9))):
        with pytest.raises(NotFound) as refused:
            await read(user_id, run_id)
        assert refused.value.code == "sync_run_not_found"
