"""The ``QuoteCache`` contract (memory and Redis): prices served exactly, within their
time-to-live on the application's clock and never at or after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.money import Money
from dashcore.ports.quotes import QuoteCache
from dashcore.testing.clock import FakeClock
from dashcore_memory.quotes_cache import MemoryQuoteCache
from dashcore_redis.client import create_redis
from dashcore_redis.quotes_cache import RedisQuoteCache
from tests.contract.sessions_support import BACKENDS
from tests.services import delete_prefix

TTL = timedelta(seconds=5)


@dataclass(slots=True)
class CacheHarness:
    cache: QuoteCache
    clock: FakeClock


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[CacheHarness]:
    clock = FakeClock()
    if request.param == "memory":
        yield CacheHarness(MemoryQuoteCache(clock, ttl=TTL), clock)
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    client = create_redis(url)
    try:
        yield CacheHarness(RedisQuoteCache(client, clock, ttl=TTL, prefix=prefix), clock)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


async def test_an_empty_cache_knows_nothing(harness: CacheHarness) -> None:
    assert await harness.cache.get_many(["zerodha|NSE:INFY"]) == {}
    assert await harness.cache.get_many([]) == {}


async def test_prices_come_back_exactly_and_only_those_asked(harness: CacheHarness) -> None:
    prices = {
        "zerodha|NSE:INFY": Money.of("1500.05", "INR"),
        "schwab|NASDAQ:AAPL": Money.of("190.000100", "USD"),
        "schwab|NASDAQ:MSFT": Money.of("1E+3", "USD"),
    }
    await harness.cache.put_many(prices)
    found = await harness.cache.get_many(["zerodha|NSE:INFY", "schwab|NASDAQ:AAPL", "x|Y:Z"])
    assert found == {k: prices[k] for k in ("zerodha|NSE:INFY", "schwab|NASDAQ:AAPL")}
    assert str(found["schwab|NASDAQ:AAPL"].amount) == "190.000100"
    assert (await harness.cache.get_many(["schwab|NASDAQ:MSFT"]))["schwab|NASDAQ:MSFT"] == Money.of(
        1000, "USD"
    )


async def test_a_price_lives_until_just_before_its_ttl_ends(harness: CacheHarness) -> None:
    await harness.cache.put_many({"k": Money.of("10", "USD")})
    harness.clock.advance(TTL - timedelta(microseconds=1))
    assert await harness.cache.get_many(["k"]) == {"k": Money.of("10", "USD")}
    harness.clock.advance(microseconds=1)
    assert await harness.cache.get_many(["k"]) == {}


async def test_a_newer_price_replaces_the_older_and_restarts_its_ttl(
    harness: CacheHarness,
) -> None:
    await harness.cache.put_many({"k": Money.of("10", "USD")})
    harness.clock.advance(seconds=4)
    await harness.cache.put_many({"k": Money.of("11", "USD")})
    harness.clock.advance(seconds=4)
    assert await harness.cache.get_many(["k"]) == {"k": Money.of("11", "USD")}


def test_a_cache_needs_a_positive_ttl() -> None:
    with pytest.raises(ValueError, match="ttl"):
        MemoryQuoteCache(FakeClock(), ttl=timedelta(0))
    with pytest.raises(ValueError, match="ttl"):
        RedisQuoteCache(create_redis("redis://127.0.0.1:1"), FakeClock(), ttl=timedelta(0))


async def test_the_memory_cache_keeps_at_most_its_capacity() -> None:
    cache = MemoryQuoteCache(FakeClock(), capacity=2)
    await cache.put_many({"a": Money.of(1, "USD"), "b": Money.of(2, "USD")})
    await cache.put_many({"c": Money.of(3, "USD")})
    assert set(await cache.get_many(["a", "b", "c"])) == {"b", "c"}


async def test_redis_that_does_not_answer_is_a_dependency_error() -> None:
    client = create_redis("redis://127.0.0.1:1", timeout=0.2)
    cache = RedisQuoteCache(client, FakeClock())
    try:
        with pytest.raises(DependencyUnavailable):
            await cache.get_many(["k"])
        with pytest.raises(DependencyUnavailable):
            await cache.put_many({"k": Money.of(1, "USD")})
    finally:
        await client.aclose()
