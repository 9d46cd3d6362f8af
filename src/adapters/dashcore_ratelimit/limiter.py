"""The :class:`~dashcore.ports.ratelimit.RateLimiter` on the ``limits`` library.

Strategy: **moving window** (``limits``' ``MovingWindowRateLimiter``). It keeps one timestamp
per admitted unit (at most ``limit`` per key: a Redis list trimmed by an atomic Lua script), so
a policy of 20/min admits exactly 20 in *any* 60 seconds. A fixed window admits up to twice the
limit across a window boundary, which is the burst a credential-stuffing tool aims for; the
sliding-window counter is an approximation whose ``remaining`` and reset estimates are not exact.
Our limits are small (at most a few hundred per key), so the exact log costs little memory and
gives true ``remaining`` and reset values for the ``RateLimit`` fields.

Storage comes from a URI: ``memory://`` (one process) or a Redis URL (``redis://``,
``rediss://``, ``unix://``) shared by every process. Redis keys live under ``key_prefix`` and
carry a hash of the caller's key, never the key itself (emails and IPs stay out of Redis).

Redis down (security.md FT-1): every Redis call has a short deadline (``timeout``, default
100 ms, no client-side retries). A connection error or a missed deadline switches the limiter to
an in-process moving window with the same policies, so limited routes stay limited and nothing
fails open; ``fallback_divisor`` (the number of API processes) makes each process enforce its
share, ``limit // divisor``, so that the combined limit holds roughly as it did on Redis. The
switch logs one ``rate_limiter_redis_unavailable`` warning per outage. At most every
``probe_interval`` seconds one request tries Redis again; when it answers, the limiter returns
to it and logs ``rate_limiter_redis_recovered``. Counts made during the outage stay local.

Time is the wall clock (``time.time``) because ``limits`` reads it itself; processes sharing a
Redis must have synchronised clocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import urlsplit

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from dashcore.domain.errors import InvalidInput
from dashcore.domain.ratelimit import RateDecision, RatePolicy
from dashcore.ports.ratelimit import RateLimiter

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

__all__ = ["LimitsRateLimiter", "NoRateLimits"]

_T = TypeVar("_T")
_LIMITS_SCHEMES: Final = {
    "redis": "async+redis",
    "rediss": "async+rediss",
    "unix": "async+redis+unix",
}

_log = structlog.get_logger("dashcore_ratelimit")


def _digest(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput("A rate-limit key is a non-empty string.", code="invalid_rate_key")
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _check_cost(cost: int) -> None:
    if not isinstance(cost, int) or isinstance(cost, bool) or cost < 1:
        raise InvalidInput("A rate-limit cost is a positive integer.", code="invalid_rate_cost")


class _Counters:
    """One store's moving windows; ``divisor`` scales every policy down to a share."""

    def __init__(self, storage: Storage, divisor: int = 1) -> None:
        self._strategy = MovingWindowRateLimiter(storage)
        self._divisor = divisor

    def _effective(self, policy: RatePolicy) -> tuple[RatePolicy, RateLimitItemPerSecond]:
        if self._divisor > 1:
            policy = policy.scaled_down(self._divisor)
        return policy, RateLimitItemPerSecond(policy.limit, policy.window)

    async def hit(self, policy: RatePolicy, digest: str, cost: int) -> RateDecision:
        policy, item = self._effective(policy)
        allowed = await self._strategy.hit(item, policy.name, digest, cost=cost)
        return await self._decision(policy, item, digest, allowed=allowed)

    async def peek(self, policy: RatePolicy, digest: str) -> RateDecision:
        policy, item = self._effective(policy)
        return await self._decision(policy, item, digest, allowed=None)

    async def clear(self, policy: RatePolicy, digest: str) -> None:
        policy, item = self._effective(policy)
        await self._strategy.clear(item, policy.name, digest)

    async def _decision(
        self,
        policy: RatePolicy,
        item: RateLimitItemPerSecond,
        digest: str,
        *,
        allowed: bool | None,
    ) -> RateDecision:
        stats = await self._strategy.get_window_stats(item, policy.name, digest)
        return RateDecision.from_window(
            policy,
            allowed=stats.remaining > 0 if allowed is None else allowed,
            remaining=stats.remaining,
            seconds_to_reset=stats.reset_time - time.time(),
        )


class LimitsRateLimiter(RateLimiter):
    """Moving-window limits in memory or on Redis, with an in-process fallback for Redis.

    ``monotonic`` paces the recovery probes (tests pass a fake).
    """

    def __init__(
        self,
        storage_uri: str,
        *,
        key_prefix: str = "dashcore:ratelimit",
        timeout: float = 0.1,
        probe_interval: float = 5.0,
        fallback_divisor: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        scheme = urlsplit(storage_uri).scheme
        if scheme != "memory" and scheme not in _LIMITS_SCHEMES:
            raise ValueError(
                "The rate-limit store is memory:// or a Redis URL (redis://, rediss://, unix://)."
            )
        if timeout <= 0 or probe_interval <= 0:
            raise ValueError("timeout and probe_interval are positive numbers of seconds.")
        if fallback_divisor < 1:
            raise ValueError("fallback_divisor is a positive integer.")
        self._shared: _Counters | None = None
        self._pool: ConnectionPool | None = None
        self._store_errors: tuple[type[BaseException], ...] = ()
        if scheme in _LIMITS_SCHEMES:
            from dashcore_ratelimit.redis_store import STORE_ERRORS, redis_storage

            storage, self._pool = redis_storage(
                storage_uri,
                _LIMITS_SCHEMES[scheme] + storage_uri[len(scheme) :],
                key_prefix=key_prefix,
                timeout=timeout,
            )
            self._shared, self._store_errors = _Counters(storage), STORE_ERRORS
        self._local = _Counters(MemoryStorage(), fallback_divisor if self._shared else 1)
        self._timeout = timeout
        self._probe_interval = probe_interval
        self._monotonic = monotonic
        self._down = False
        self._next_probe = 0.0

    @property
    def degraded(self) -> bool:
        """True while Redis is configured but counts are kept in this process only."""
        return self._down

    async def hit(self, policy: RatePolicy, key: str, cost: int = 1) -> RateDecision:
        _check_cost(cost)
        digest = _digest(key)
        return await self._run(lambda counters: counters.hit(policy, digest, cost))

    async def peek(self, policy: RatePolicy, key: str) -> RateDecision:
        digest = _digest(key)
        return await self._run(lambda counters: counters.peek(policy, digest))

    async def reset(self, policy: RatePolicy, key: str) -> None:
        digest = _digest(key)
        await self._local.clear(policy, digest)
        if self._shared is not None:
            await self._run(lambda counters: counters.clear(policy, digest))

    async def aclose(self) -> None:
        """Close the Redis connections (the in-process counters need nothing)."""
        if self._pool is not None:
            await self._pool.aclose()

    async def _run(self, action: Callable[[_Counters], Awaitable[_T]]) -> _T:
        shared = self._shared
        if shared is None or not self._may_try_shared():
            return await action(self._local)
        try:
            async with asyncio.timeout(self._timeout):
                result = await action(shared)
        except self._store_errors as error:
            self._went_down(error)
            return await action(self._local)
        if self._down:
            self._down = False
            _log.info("rate_limiter_redis_recovered")
        return result

    def _may_try_shared(self) -> bool:
        if not self._down:
            return True
        now = self._monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + self._probe_interval
        return True

    def _went_down(self, error: BaseException) -> None:
        if self._down:
            return
        self._down = True
        self._next_probe = self._monotonic() + self._probe_interval
        _log.warning(
            "rate_limiter_redis_unavailable",
            error=type(error).__name__,
            fallback="in_process",
            retry_in_s=self._probe_interval,
        )


class NoRateLimits(RateLimiter):
    """Every request allowed, nothing counted: ``DASHCORE_RATE_LIMITS=false`` (benchmarks,
    or a deployment that limits at its gateway). Decisions still carry the policy so that
    callers work unchanged."""

    async def hit(self, policy: RatePolicy, key: str, cost: int = 1) -> RateDecision:
        _check_cost(cost)
        return await self.peek(policy, key)

    async def peek(self, policy: RatePolicy, key: str) -> RateDecision:
        return RateDecision.from_window(
            policy, allowed=True, remaining=policy.limit, seconds_to_reset=policy.window
        )

    async def reset(self, policy: RatePolicy, key: str) -> None:
        return None

    async def aclose(self) -> None:
        return None
