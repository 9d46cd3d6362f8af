"""The ``RevocationList`` contract (memory and Redis), and Redis's propagation between processes.

Two ``RedisRevocationList`` instances with their own clients stand for two API processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.sessions import SessionId, new_session_id
from dashcore.ports.sessions import RevocationList
from dashcore.testing.clock import FakeClock
from dashcore_memory.sessions import MemoryRevocationList
from dashcore_redis.client import create_redis
from dashcore_redis.revocations import RedisRevocationList, RevocationListProbe
from tests.contract.sessions_support import BACKENDS
from tests.services import delete_prefix

PROPAGATION = 1.0
"""The requirement: a revocation reaches every process within a second."""


@dataclass(slots=True)
class ListHarness:
    revocations: RevocationList
    clock: FakeClock


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ListHarness]:
    clock = FakeClock()
    if request.param == "memory":
        revocations: RevocationList = MemoryRevocationList(clock)
        await revocations.start()
        yield ListHarness(revocations, clock)
        await revocations.stop()
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    client = create_redis(url)
    revocations = RedisRevocationList(client, clock, prefix=prefix)
    await revocations.start()
    try:
        yield ListHarness(revocations, clock)
    finally:
        await revocations.stop()
        await delete_prefix(client, prefix)
        await client.aclose()


async def eventually(condition: Callable[[], bool], within: float) -> float:
    """Seconds until ``condition`` holds; fails after ``within`` seconds."""
    start = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - start
        assert elapsed < within, f"not within {within} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def test_a_revoked_session_is_revoked_at_once_in_the_revoking_process(
    harness: ListHarness,
) -> None:
    sid, other = new_session_id(), new_session_id()
    await harness.revocations.revoke(sid, harness.clock.now() + timedelta(minutes=15))
    assert harness.revocations.is_revoked(sid)
    assert not harness.revocations.is_revoked(other)
    assert not harness.revocations.is_revoked("")


async def test_a_revocation_already_over_is_not_recorded(harness: ListHarness) -> None:
    sid = new_session_id()
    await harness.revocations.revoke(sid, harness.clock.now())
    assert not harness.revocations.is_revoked(sid)


async def test_entries_are_pruned_once_their_tokens_have_expired(harness: ListHarness) -> None:
    short, long = new_session_id(), new_session_id()
    await harness.revocations.revoke(short, harness.clock.now() + timedelta(minutes=5))
    await harness.revocations.revoke(long, harness.clock.now() + timedelta(minutes=15))
    harness.clock.advance(minutes=5)
    await harness.revocations.revoke(new_session_id(), harness.clock.now() + timedelta(minutes=1))
    assert not harness.revocations.is_revoked(short)
    assert harness.revocations.is_revoked(long)


async def test_a_later_until_wins(harness: ListHarness) -> None:
    sid = new_session_id()
    await harness.revocations.revoke(sid, harness.clock.now() + timedelta(minutes=15))
    await harness.revocations.revoke(sid, harness.clock.now() + timedelta(minutes=1))
    harness.clock.advance(minutes=2)
    await harness.revocations.revoke(new_session_id(), harness.clock.now() + timedelta(minutes=1))
    assert harness.revocations.is_revoked(sid)


# -- Redis: several processes ------------------------------------------------------------------


@dataclass(slots=True)
class Cluster:
    url: str
    prefix: str
    clock: FakeClock
    clients: list[Redis]
    lists: list[RedisRevocationList]

    async def process(self, name: str, **options: float) -> RedisRevocationList:
        """A revocation list on its own connection pool, like another API process."""
        client = Redis.from_url(self.url, client_name=f"{self.prefix}{name}")
        self.clients.append(client)
        revocations = RedisRevocationList(client, self.clock, prefix=self.prefix, **options)
        self.lists.append(revocations)
        return revocations


@pytest.fixture
async def cluster(redis_server_url: str, redis_prefix: str) -> AsyncIterator[Cluster]:
    cluster = Cluster(redis_server_url, redis_prefix, FakeClock(), [], [])
    try:
        yield cluster
    finally:
        for revocations in cluster.lists:
            await revocations.stop()
        if cluster.clients:
            await delete_prefix(cluster.clients[0], redis_prefix)
        for client in cluster.clients:
            await client.aclose()


@pytest.mark.redis
async def test_a_revocation_reaches_another_process_within_a_second(cluster: Cluster) -> None:
    first, second = await cluster.process("a"), await cluster.process("b")
    await first.start()
    await second.start()
    sid = new_session_id()
    await first.revoke(sid, cluster.clock.now() + timedelta(minutes=15))
    await eventually(lambda: second.is_revoked(sid), within=PROPAGATION)
    assert not second.is_revoked(new_session_id())


@pytest.mark.redis
async def test_a_process_that_starts_later_loads_earlier_revocations(cluster: Cluster) -> None:
    first = await cluster.process("a")
    await first.start()
    kept, over = new_session_id(), new_session_id()
    await first.revoke(kept, cluster.clock.now() + timedelta(minutes=15))
    await first.revoke(over, cluster.clock.now() + timedelta(minutes=1))
    cluster.clock.advance(minutes=2)
    late = await cluster.process("b")
    await late.start()
    assert late.is_revoked(kept)
    assert not late.is_revoked(over)


async def _kill_connections(admin: Redis, name: str) -> int:
    killed = 0
    for client in await admin.client_list():
        if client.get("name") == name:
            await admin.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


@pytest.mark.redis
async def test_a_reconnected_process_reloads_what_it_missed(cluster: Cluster) -> None:
    follower = await cluster.process("b", reconnect_delay=0.05)
    await follower.start()
    admin = Redis.from_url(cluster.url)
    cluster.clients.append(admin)
    missed = SessionId(new_session_id())
    until = cluster.clock.now() + timedelta(minutes=15)
    # Written without a message: the follower can only learn of it by reloading the set.
    await admin.zadd(follower.key, {missed: int(until.timestamp() * 1000)})
    await asyncio.sleep(0)
    assert not follower.is_revoked(missed)

    assert await _kill_connections(admin, f"{cluster.prefix}b") >= 1
    await eventually(lambda: follower.is_revoked(missed), within=3.0)

    after = new_session_id()
    writer = await cluster.process("a")
    await writer.start()
    await writer.revoke(after, cluster.clock.now() + timedelta(minutes=15))
    await eventually(lambda: follower.is_revoked(after), within=PROPAGATION)


@pytest.mark.redis
async def test_a_stopped_list_can_start_again(cluster: Cluster) -> None:
    revocations = await cluster.process("a")
    await revocations.start()
    await revocations.stop()
    other = await cluster.process("b")
    await other.start()
    sid = new_session_id()
    await other.revoke(sid, cluster.clock.now() + timedelta(minutes=15))
    await revocations.start()
    assert revocations.is_revoked(sid)


async def test_without_redis_start_returns_unready_instead_of_failing() -> None:
    client = create_redis("redis://127.0.0.1:1/0", timeout=0.2)
    revocations = RedisRevocationList(client, FakeClock(), start_timeout=0.3)
    probe = RevocationListProbe(revocations)
    await revocations.start()
    with pytest.raises(DependencyUnavailable) as caught:
        await probe.check(1.0)
    assert caught.value.dependency == "revocations"
    await revocations.stop()
    await client.aclose()


@pytest.mark.redis
async def test_the_probe_is_ready_once_the_list_is_loaded(cluster: Cluster) -> None:
    revocations = await cluster.process("a")
    probe = RevocationListProbe(revocations)
    with pytest.raises(DependencyUnavailable):
        await probe.check(1.0)
    await revocations.start()
    await probe.check(1.0)
    await revocations.stop()
    with pytest.raises(DependencyUnavailable):
        await probe.check(1.0)


async def test_revoke_fails_as_a_dependency_error_but_holds_locally() -> None:
    client = create_redis("redis://127.0.0.1:1/0", timeout=0.2)
    clock = FakeClock()
    revocations = RedisRevocationList(client, clock)
    sid = new_session_id()
    with pytest.raises(DependencyUnavailable):
        await revocations.revoke(sid, clock.now() + timedelta(minutes=15))
    assert revocations.is_revoked(sid)
    await client.aclose()
