"""The RateLimiter contract, run on every store: in-process memory and real Redis.

What callers rely on (security.md RL-1): the q+1-th unit is refused; ``remaining`` only goes
down while the window lasts; ``0 < reset_after <= window``; a refused hit consumes nothing;
``peek`` consumes nothing; ``reset`` forgets; keys and policies partition the counters; and on
Redis, every process that shares the store shares the counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from dashcore.domain.errors import InvalidInput
from dashcore.domain.ratelimit import RateDecision, RatePolicy
from dashcore_ratelimit.limiter import LimitsRateLimiter

LOGIN = RatePolicy("login", 5, 60)
NewLimiter = Callable[[], Awaitable[LimitsRateLimiter]]

# Redis answers a local test in well under a millisecond; the generous deadline keeps a busy
# test machine from tripping the fallback, which has tests of its own.
_REDIS_TIMEOUT = 2.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def new_limiter(request: pytest.FixtureRequest) -> AsyncIterator[NewLimiter]:
    """Makes limiters on one store: on Redis, several instances share the counters, as
    several processes do; in memory, each instance is its own process."""
    made: list[LimitsRateLimiter] = []
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server_url")
        prefix: str = request.getfixturevalue("redis_prefix")

        async def make() -> LimitsRateLimiter:
            limiter = LimitsRateLimiter(url, key_prefix=prefix, timeout=_REDIS_TIMEOUT)
            made.append(limiter)
            return limiter
    else:

        async def make() -> LimitsRateLimiter:
            limiter = LimitsRateLimiter("memory://")
            made.append(limiter)
            return limiter

    yield make
    for limiter in made:
        assert not limiter.degraded, "the store was unreachable during a contract test"
        await limiter.aclose()
    if request.param == "redis":
        client = Redis.from_url(url)
        try:
            keys = await client.keys(f"{prefix}*")
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
async def limiter(new_limiter: NewLimiter) -> LimitsRateLimiter:
    return await new_limiter()


def _within_window(decision: RateDecision) -> bool:
    return 0 < decision.reset_after <= decision.policy.window


async def test_the_limit_plus_one_is_refused(limiter: LimitsRateLimiter) -> None:
    decisions = [await limiter.hit(LOGIN, "ip:192.0.2.1") for _ in range(LOGIN.limit + 1)]
    assert [d.allowed for d in decisions] == [True] * LOGIN.limit + [False]
    assert decisions[-1].remaining == 0
    assert all(_within_window(d) for d in decisions)
    assert all(d.limit == LOGIN.limit and d.policy == LOGIN for d in decisions)


async def test_remaining_decreases_monotonically(limiter: LimitsRateLimiter) -> None:
    remaining = [(await limiter.hit(LOGIN, "k")).remaining for _ in range(LOGIN.limit + 3)]
    assert remaining == [4, 3, 2, 1, 0, 0, 0, 0]


async def test_a_refused_hit_consumes_nothing(limiter: LimitsRateLimiter) -> None:
    assert (await limiter.hit(LOGIN, "k", cost=3)).remaining == 2
    refused = await limiter.hit(LOGIN, "k", cost=3)
    assert not refused.allowed
    assert refused.remaining == 2
    assert _within_window(refused)
    last = await limiter.hit(LOGIN, "k", cost=2)
    assert (last.allowed, last.remaining) == (True, 0)


async def test_a_cost_above_the_limit_is_always_refused(limiter: LimitsRateLimiter) -> None:
    decision = await limiter.hit(LOGIN, "k", cost=LOGIN.limit + 1)
    assert not decision.allowed
    assert (await limiter.peek(LOGIN, "k")).remaining == LOGIN.limit


async def test_peek_consumes_nothing(limiter: LimitsRateLimiter) -> None:
    fresh = await limiter.peek(LOGIN, "k")
    assert (fresh.allowed, fresh.remaining, fresh.reset_after) == (True, 5, 60)
    await limiter.hit(LOGIN, "k", cost=5)
    for _ in range(3):
        spent = await limiter.peek(LOGIN, "k")
        assert (spent.allowed, spent.remaining) == (False, 0)
        assert _within_window(spent)


async def test_reset_forgets_the_counter(limiter: LimitsRateLimiter) -> None:
    await limiter.hit(LOGIN, "k", cost=5)
    await limiter.reset(LOGIN, "k")
    assert (await limiter.hit(LOGIN, "k")).remaining == 4
    await limiter.reset(LOGIN, "never-used")


async def test_keys_and_policies_partition_the_counters(limiter: LimitsRateLimiter) -> None:
    other_policy = RatePolicy("register", 5, 60)
    await limiter.hit(LOGIN, "alice", cost=5)
    assert not (await limiter.hit(LOGIN, "alice")).allowed
    assert (await limiter.hit(LOGIN, "bob")).remaining == 4
    assert (await limiter.hit(other_policy, "alice")).remaining == 4
    # Keys that would collide if joined naively with a separator stay apart.
    await limiter.hit(LOGIN, "a/b", cost=5)
    assert (await limiter.hit(LOGIN, "a")).remaining == 4


async def test_quota_returns_after_the_window(limiter: LimitsRateLimiter) -> None:
    """The store reads the wall clock itself (``limits`` owns time), so this one test waits
    out a one-second window."""
    short = RatePolicy("short", 2, 1)
    await limiter.hit(short, "k", cost=2)
    refused = await limiter.hit(short, "k")
    assert (refused.allowed, refused.reset_after) == (False, 1)
    await asyncio.sleep(1.05)
    assert (await limiter.hit(short, "k")).allowed


@pytest.mark.parametrize("cost", [0, -1, True, 1.5])
async def test_a_cost_must_be_a_positive_integer(limiter: LimitsRateLimiter, cost: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        await limiter.hit(LOGIN, "k", cost=cost)
    assert raised.value.code == "invalid_rate_cost"


async def test_a_key_must_be_a_non_empty_string(limiter: LimitsRateLimiter) -> None:
    for call in (limiter.hit, limiter.peek, limiter.reset):
        with pytest.raises(InvalidInput) as raised:
            await call(LOGIN, "")
        assert raised.value.code == "invalid_rate_key"


async def test_concurrent_hits_never_exceed_the_limit(limiter: LimitsRateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit(LOGIN, "burst") for _ in range(20)))
    assert sum(d.allowed for d in decisions) == LOGIN.limit


@pytest.mark.redis
async def test_instances_on_one_redis_share_the_count(
    redis_server_url: str, redis_prefix: str
) -> None:
    first = LimitsRateLimiter(redis_server_url, key_prefix=redis_prefix, timeout=_REDIS_TIMEOUT)
    second = LimitsRateLimiter(redis_server_url, key_prefix=redis_prefix, timeout=_REDIS_TIMEOUT)
    try:
        for _ in range(3):
            await first.hit(LOGIN, "shared")
        assert (await second.hit(LOGIN, "shared")).remaining == 1
        assert (await first.hit(LOGIN, "shared")).remaining == 0
        assert not (await second.hit(LOGIN, "shared")).allowed
        await second.reset(LOGIN, "shared")
        assert (await first.peek(LOGIN, "shared")).remaining == 5
        assert not first.degraded and not second.degraded
    finally:
        client = Redis.from_url(redis_server_url)
        keys = await client.keys(f"{redis_prefix}*")
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_redis_keys_live_under_the_prefix_and_hide_the_key(
    redis_server_url: str, redis_prefix: str
) -> None:
    limiter = LimitsRateLimiter(redis_server_url, key_prefix=redis_prefix, timeout=_REDIS_TIMEOUT)
    client = Redis.from_url(redis_server_url, decode_responses=True)
    try:
        await limiter.hit(LOGIN, "alice@example.org|192.0.2.1")
        keys = await client.keys(f"{redis_prefix}*")
        assert len(keys) == 1
        assert "alice" not in keys[0]
        assert "192.0.2.1" not in keys[0]
        await limiter.reset(LOGIN, "alice@example.org|192.0.2.1")
        assert await client.keys(f"{redis_prefix}*") == []
    finally:
        await client.aclose()
        await limiter.aclose()


def test_an_unknown_store_is_refused() -> None:
    with pytest.raises(ValueError, match="memory:// or a Redis URL"):
        LimitsRateLimiter("memcached://127.0.0.1:11211")
