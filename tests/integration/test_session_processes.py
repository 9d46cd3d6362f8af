"""Two OS processes refresh one token at the same time on Redis: exactly one successor (RT-2).

An in-process lock would pass the ``asyncio.gather`` tests and fail here; the Lua
compare-and-set must hold across processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.sessions import HmacRefreshSecretDeriver, SessionGrant, Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.sessions import SessionId, SessionPolicy
from dashcore.testing.ids import SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.mfa import MemoryLoginChallengeRepository
from dashcore_redis.client import create_redis
from dashcore_redis.revocations import RedisRevocationList
from dashcore_redis.sessions import RedisSessionStore
from dashcore_system import SystemClock
from tests.services import delete_prefix

KEY = b"integration refresh derivation k"
PER_PROCESS = 50
CALLER = CallerContext(ip="192.0.2.1", user_agent="hammer")


def _sessions(url: str, prefix: str) -> tuple[Sessions, RedisSessionStore, Redis]:
    client = create_redis(url)
    clock = SystemClock()
    uow = MemoryUnitOfWork(MemoryDatabase())
    store = RedisSessionStore(client, clock, prefix=prefix)
    sessions = Sessions(
        store,
        RedisRevocationList(client, clock, prefix=prefix),
        HmacRefreshSecretDeriver(KEY),
        uow,
        AuditTrail(MemoryAuditLog(uow), clock, SequentialIds()),
        clock,
        challenges=MemoryLoginChallengeRepository(uow),
        policy=SessionPolicy(),
        access_token_lifetime=timedelta(minutes=10),
    )
    return sessions, store, client


async def _hammer(url: str, prefix: str, token: str, barrier: Barrier) -> list[str]:
    sessions, _, client = _sessions(url, prefix)
    await sessions.list_active(uuid4())  # open the connection before the start line
    barrier.wait()
    results = await asyncio.gather(
        *(sessions.refresh(token, caller=CALLER) for _ in range(PER_PROCESS)),
        return_exceptions=True,
    )
    await client.aclose()
    return [
        result.refresh_token
        if isinstance(result, SessionGrant)
        else f"error:{getattr(result, 'code', type(result).__name__)}"
        for result in results
    ]


def hammer(
    url: str, prefix: str, token: str, barrier: Barrier, results: multiprocessing.Queue[list[str]]
) -> None:
    """One OS process: wait for the other, then refresh ``token`` 50 times concurrently."""
    results.put(asyncio.run(_hammer(url, prefix, token, barrier)))


@pytest.mark.redis
async def test_two_processes_refreshing_one_token_get_one_successor(
    redis_server_url: str, redis_prefix: str
) -> None:
    sessions, store, client = _sessions(redis_server_url, redis_prefix)
    try:
        grant = await sessions.start(
            uuid4(), caller=CALLER, auth_time=SystemClock().now(), amr=("pwd",)
        )
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(2)
        queue: multiprocessing.Queue[list[str]] = context.Queue()
        workers = [
            context.Process(
                target=hammer,
                args=(redis_server_url, redis_prefix, grant.refresh_token, barrier, queue),
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        outcomes = [await asyncio.to_thread(queue.get, True, 120) for _ in workers]
        for worker in workers:
            worker.join(30)
            assert worker.exitcode == 0

        tokens = [token for outcome in outcomes for token in outcome]
        assert len(tokens) == 2 * PER_PROCESS
        assert len(set(tokens)) == 1, sorted(set(tokens))
        [successor] = set(tokens)
        assert not successor.startswith("error:")

        stored = await store.get(SessionId(grant.session.id))
        assert stored is not None
        assert stored.refresh.generation == 1
        assert not stored.is_revoked
        assert (await sessions.refresh(successor, caller=CALLER)).session.refresh.generation == 2
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()
