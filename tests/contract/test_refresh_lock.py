"""The ``RefreshLock`` contract (memory and Redis): single flight per key (OAUTH-3).

For Redis each contender has its own client, as two workers on two machines would; the memory
lock is shared within one process. A lock's TTL is a duration measured by the lock itself
(Redis's clock, the process's monotonic clock), not business time, so these tests use short
real durations and wait for outcomes with generous bounds; none sleeps to make something
happen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.providers import RefreshLock
from dashcore_memory.connections import MemoryRefreshLock
from dashcore_redis.client import create_redis
from dashcore_redis.locks import RedisRefreshLock
from tests.contract.sessions_support import BACKENDS
from tests.services import delete_prefix

KEY = "connection-refresh:0190f5d2-7c1e-7000-8000-000000000001"
LONG = 30.0
"""A TTL or wait no test reaches: when it matters, something else must end the wait."""
BOUND = 5.0
"""How long a test waits for an outcome that should come at once."""


@dataclass(slots=True)
class Contenders:
    """``process()`` is one more contender for the locks: in Redis a lock on its own client."""

    name: str
    process: Callable[[], RefreshLock]
    clients: list[Redis] = field(default_factory=list)
    prefix: str = ""


@pytest.fixture(params=BACKENDS)
async def contenders(request: pytest.FixtureRequest) -> AsyncIterator[Contenders]:
    if request.param == "memory":
        shared = MemoryRefreshLock()
        yield Contenders("memory", lambda: shared)
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    clients: list[Redis] = []

    def process() -> RefreshLock:
        client = create_redis(url)
        clients.append(client)
        return RedisRefreshLock(client, prefix=prefix)

    harness = Contenders("redis", process, clients, prefix)
    try:
        yield harness
    finally:
        if clients:
            await delete_prefix(clients[0], prefix)
        for client in clients:
            await client.aclose()


async def still_waiting(task: asyncio.Task[str | None], seconds: float = 0.1) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_a_held_key_is_refused_until_released(contenders: Contenders) -> None:
    lock = contenders.process()
    token = await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    assert token
    assert await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None
    assert await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None
    await lock.release(KEY, token)
    again = await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    assert again
    assert again != token


async def test_keys_are_independent(contenders: Contenders) -> None:
    lock = contenders.process()
    assert await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    other = await lock.acquire(f"{KEY}-other", ttl_seconds=LONG, wait_seconds=0)
    assert other
    await lock.release(f"{KEY}-other", other)
    assert await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None


async def test_a_waiter_gives_up_after_wait_seconds(contenders: Contenders) -> None:
    assert await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    wait = 0.3
    started = time.monotonic()
    assert await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=wait) is None
    assert time.monotonic() - started >= wait


async def test_a_waiter_gets_the_key_once_it_is_released(contenders: Contenders) -> None:
    holder = contenders.process()
    token = await holder.acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    assert token
    waiter = asyncio.create_task(
        contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=LONG)
    )
    assert await still_waiting(waiter)
    await holder.release(KEY, token)
    async with asyncio.timeout(BOUND):
        taken = await waiter
    assert taken
    assert taken != token
    assert await holder.acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None


async def test_an_expired_hold_frees_the_key_and_its_token_releases_nothing(
    contenders: Contenders,
) -> None:
    crashed = contenders.process()
    stale = await crashed.acquire(KEY, ttl_seconds=0.2, wait_seconds=0)
    assert stale
    survivor = contenders.process()
    assert await survivor.acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None
    async with asyncio.timeout(BOUND):
        token = await survivor.acquire(KEY, ttl_seconds=LONG, wait_seconds=BOUND)
    assert token
    await crashed.release(KEY, stale)
    assert await crashed.acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None
    await survivor.release(KEY, token)
    assert await crashed.acquire(KEY, ttl_seconds=LONG, wait_seconds=0)


async def test_a_wrong_token_releases_nothing(contenders: Contenders) -> None:
    lock = contenders.process()
    token = await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=0)
    assert token
    await lock.release(KEY, "forged")
    await lock.release(KEY, token[:-1])
    await lock.release(f"{KEY}-other", token)
    await lock.release("never-held", "forged")
    assert await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=0) is None
    await lock.release(KEY, token)
    await lock.release(KEY, token)
    assert await contenders.process().acquire(KEY, ttl_seconds=LONG, wait_seconds=0)


async def test_of_two_simultaneous_acquirers_exactly_one_gets_the_key(
    contenders: Contenders,
) -> None:
    first, second = contenders.process(), contenders.process()
    tokens = await asyncio.gather(
        first.acquire(KEY, ttl_seconds=LONG, wait_seconds=0),
        second.acquire(KEY, ttl_seconds=LONG, wait_seconds=0),
    )
    assert sorted(token is None for token in tokens) == [False, True]


async def test_contenders_hold_the_key_one_at_a_time(contenders: Contenders) -> None:
    """Each of several contenders takes the lock three times; inside, it yields to the others
    (a round trip to Redis for the Redis lock). At no moment are two inside."""
    inside: list[int] = []
    entries = 0
    busiest = 0

    async def worker(number: int, lock: RefreshLock) -> None:
        nonlocal entries, busiest
        for _ in range(3):
            token = await lock.acquire(KEY, ttl_seconds=LONG, wait_seconds=BOUND * 2)
            assert token is not None
            inside.append(number)
            entries += 1
            busiest = max(busiest, len(inside))
            for _ in range(3):
                await asyncio.sleep(0)
            for client in contenders.clients[:1]:
                await client.ping()
            inside.remove(number)
            await lock.release(KEY, token)

    await asyncio.gather(*(worker(n, contenders.process()) for n in range(4)))
    assert (entries, busiest, inside) == (12, 1, [])


@pytest.mark.parametrize(
    ("key", "ttl", "wait"), [("", 1.0, 0.0), (KEY, 0.0, 0.0), (KEY, -1.0, 0.0), (KEY, 1.0, -0.1)]
)
async def test_nonsense_arguments_are_refused(
    contenders: Contenders, key: str, ttl: float, wait: float
) -> None:
    with pytest.raises(ValueError, match="lock"):
        await contenders.process().acquire(key, ttl_seconds=ttl, wait_seconds=wait)


# -- Redis only ----------------------------------------------------------------------------------


@pytest.mark.redis
async def test_the_redis_key_lives_under_the_prefix_with_the_ttl(
    redis_server_url: str, redis_prefix: str
) -> None:
    client = create_redis(redis_server_url)
    try:
        lock = RedisRefreshLock(client, prefix=redis_prefix)
        token = await lock.acquire(KEY, ttl_seconds=12.5, wait_seconds=0)
        assert token
        name = f"{redis_prefix}lock:{KEY}"
        assert lock.lock_key(KEY) == name
        assert await client.get(name) == token.encode()
        assert 12_000 < await client.pttl(name) <= 12_500
        await lock.release(KEY, token)
        assert await client.exists(name) == 0
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()


async def test_an_unreachable_redis_is_a_dependency_failure() -> None:
    client = create_redis("redis://127.0.0.1:1/0", timeout=0.5)
    lock = RedisRefreshLock(client, prefix="unreachable:")
    try:
        with pytest.raises(DependencyUnavailable):
            await lock.acquire(KEY, ttl_seconds=1.0, wait_seconds=0)
        with pytest.raises(DependencyUnavailable):
            await lock.release(KEY, "token")
    finally:
        await client.aclose()


def test_redis_poll_intervals_must_make_sense() -> None:
    client = create_redis("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="poll"):
        RedisRefreshLock(client, poll_initial=0)
    with pytest.raises(ValueError, match="poll"):
        RedisRefreshLock(client, poll_initial=0.5, poll_max=0.1)
