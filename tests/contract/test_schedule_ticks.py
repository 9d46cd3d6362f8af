"""The ``ScheduleTicks`` contract (memory and Redis, issue #7): the first claim of a tick of a
schedule wins, every later one loses, whoever makes it; Redis claims expire by themselves.

For Redis each scheduler has its own client, as two workers on two machines would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.jobs import ScheduleTicks
from dashcore_taskiq import InProcessScheduleTicks
from dashcore_taskiq.streams import RedisScheduleTicks
from tests.contract.sessions_support import BACKENDS
from tests.services import delete_prefix

TICK = 29_539_440
HOLD = 120.0


@dataclass(slots=True)
class Schedulers:
    """``process()`` is one more scheduler's view of the claims (in Redis, its own client)."""

    process: Callable[[], ScheduleTicks]
    opened: list[RedisScheduleTicks] = field(default_factory=list)
    client: Redis | None = None
    prefix: str = ""


@pytest.fixture(params=BACKENDS)
async def schedulers(request: pytest.FixtureRequest) -> AsyncIterator[Schedulers]:
    if request.param == "memory":
        shared = InProcessScheduleTicks()
        yield Schedulers(lambda: shared)
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    harness = Schedulers(lambda: ticks, client=Redis.from_url(url), prefix=prefix)

    def process() -> ScheduleTicks:
        opened = RedisScheduleTicks.from_url(url, prefix=prefix)
        harness.opened.append(opened)
        return opened

    harness.process = process
    ticks = process()
    try:
        yield harness
    finally:
        assert harness.client is not None
        await delete_prefix(harness.client, prefix)
        await harness.client.aclose()
        for opened in harness.opened:
            await opened.close()


async def test_the_first_claim_of_a_tick_wins_and_every_later_one_loses(
    schedulers: Schedulers,
) -> None:
    first, second = schedulers.process(), schedulers.process()
    assert await first.claim("refresh_connections", TICK, hold_seconds=HOLD) is True
    assert await first.claim("refresh_connections", TICK, hold_seconds=HOLD) is False
    assert await second.claim("refresh_connections", TICK, hold_seconds=HOLD) is False


async def test_ticks_and_schedules_are_claimed_independently(schedulers: Schedulers) -> None:
    ticks = schedulers.process()
    assert await ticks.claim("refresh_connections", TICK, hold_seconds=HOLD)
    assert await ticks.claim("refresh_connections", TICK + 1, hold_seconds=HOLD)
    assert await ticks.claim("challenge_cleanup", TICK, hold_seconds=HOLD)


async def test_concurrent_claims_of_one_tick_have_one_winner(schedulers: Schedulers) -> None:
    contenders = [schedulers.process() for _ in range(8)]
    won = await asyncio.gather(
        *(ticks.claim("reauth_warnings", TICK, hold_seconds=HOLD) for ticks in contenders)
    )
    assert won.count(True) == 1


@pytest.mark.redis
async def test_a_redis_claim_expires_after_its_hold(
    redis_server_url: str, redis_prefix: str
) -> None:
    ticks = RedisScheduleTicks.from_url(redis_server_url, prefix=redis_prefix)
    client = Redis.from_url(redis_server_url)
    try:
        assert await ticks.claim("refresh_connections", TICK, hold_seconds=90.5)
        key = f"{redis_prefix}tick:refresh_connections:{TICK}"
        assert 0 < await client.ttl(key) <= 91
    finally:
        await delete_prefix(client, redis_prefix)
        await client.aclose()
        await ticks.close()


async def test_unreachable_redis_claims_nothing() -> None:
    ticks = RedisScheduleTicks.from_url("redis://127.0.0.1:1/0", prefix="test:unreachable:")
    try:
        with pytest.raises(DependencyUnavailable):
            await ticks.claim("refresh_connections", TICK, hold_seconds=HOLD)
    finally:
        await ticks.close()
