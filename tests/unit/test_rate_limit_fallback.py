"""Redis down (security.md FT-1 part (c)): the limiter falls back to in-process counters.

Limited routes stay limited and nothing raises; one warning per outage; Redis is probed again
at most every ``probe_interval`` seconds (a fake monotonic clock moves time); when it answers,
the limiter goes back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from dashcore.domain.ratelimit import RatePolicy
from dashcore_ratelimit.limiter import LimitsRateLimiter

LOGIN = RatePolicy("login", 5, 60)
UNAVAILABLE = "rate_limiter_redis_unavailable"
RECOVERED = "rate_limiter_redis_recovered"


def _degraded(limiter: LimitsRateLimiter) -> bool:
    """Read anew after each await (a plain property read would be narrowed by mypy)."""
    return limiter.degraded


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _events(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == event]


class FlakyRedis:
    """A TCP endpoint in front of Redis: while ``up`` it forwards, otherwise it hangs up on
    every connection. ``connections`` counts the attempts the limiter made."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.up = False
        self.connections = 0
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()


@pytest.fixture
async def flaky_redis(redis_server_url: str) -> AsyncIterator[FlakyRedis]:
    proxy = FlakyRedis(redis_server_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def test_a_closed_port_still_limits_in_process_with_one_warning() -> None:
    limiter = LimitsRateLimiter(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.05)
    try:
        with capture_logs() as logs:
            decisions = [await limiter.hit(LOGIN, "ip:192.0.2.1") for _ in range(7)]
            peeked = await limiter.peek(LOGIN, "ip:192.0.2.1")
            await limiter.reset(LOGIN, "ip:192.0.2.9")
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
        assert (peeked.allowed, peeked.remaining) == (False, 0)
        assert _degraded(limiter)
        warnings = _events(logs, UNAVAILABLE)
        assert len(warnings) == 1
        assert warnings[0]["log_level"] == "warning"
        assert warnings[0]["error"] == "ConnectionError"
    finally:
        await limiter.aclose()


async def test_the_fallback_enforces_each_process_share() -> None:
    limiter = LimitsRateLimiter(
        f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.05, fallback_divisor=4
    )
    policy = RatePolicy("login_ip_minute", 20, 60)
    try:
        with capture_logs():
            decisions = [await limiter.hit(policy, "ip:192.0.2.1") for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert decisions[0].policy == RatePolicy("login_ip_minute", 5, 60)
    finally:
        await limiter.aclose()


@pytest.mark.redis
async def test_probes_are_paced_and_redis_takes_over_when_it_answers(
    flaky_redis: FlakyRedis, redis_prefix: str
) -> None:
    clock = FakeMonotonic()
    limiter = LimitsRateLimiter(
        flaky_redis.url,
        key_prefix=redis_prefix,
        timeout=2.0,
        probe_interval=5.0,
        monotonic=clock,
    )
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await limiter.hit(LOGIN, "k")
            assert _degraded(limiter)
            attempts = flaky_redis.connections
            assert attempts >= 1

            clock.now += 4.9
            await limiter.hit(LOGIN, "k")
            assert flaky_redis.connections == attempts, "probed before the interval"

            clock.now += 0.2
            fifth = await limiter.hit(LOGIN, "k")
            assert flaky_redis.connections > attempts, "no probe after the interval"
            assert _degraded(limiter)
            attempts = flaky_redis.connections

            flaky_redis.up = True
            sixth = await limiter.hit(LOGIN, "k")
            assert flaky_redis.connections == attempts, "probed before the interval"
            clock.now += 5.1
            on_redis = await limiter.hit(LOGIN, "k")
            assert not _degraded(limiter)
            assert flaky_redis.connections > attempts
        assert len(_events(logs, UNAVAILABLE)) == 1
        assert len(_events(logs, RECOVERED)) == 1
        # Outage counts stayed local (5 hits there); Redis starts from its own count.
        assert fifth.allowed
        assert not sixth.allowed
        assert on_redis.remaining == LOGIN.limit - 1
    finally:
        await limiter.aclose()


@pytest.mark.redis
async def test_a_second_outage_warns_again(flaky_redis: FlakyRedis, redis_prefix: str) -> None:
    clock = FakeMonotonic()
    flaky_redis.up = True
    limiter = LimitsRateLimiter(
        flaky_redis.url, key_prefix=redis_prefix, timeout=2.0, monotonic=clock
    )
    try:
        with capture_logs() as logs:
            await limiter.hit(LOGIN, "k")
            assert not _degraded(limiter)
            flaky_redis.up = False
            await limiter.aclose()  # drop pooled connections so the next call reconnects
            await limiter.hit(LOGIN, "k")
            assert _degraded(limiter)
            flaky_redis.up = True
            clock.now += 10
            await limiter.hit(LOGIN, "k")
            flaky_redis.up = False
            await limiter.aclose()
            await limiter.hit(LOGIN, "k")
        assert len(_events(logs, UNAVAILABLE)) == 2
        assert len(_events(logs, RECOVERED)) == 1
    finally:
        await limiter.aclose()
