"""Last prices cached in Redis, shared by every API process (see ``QuoteCache``).

Key layout (``prefix`` defaults to ``dashcore:``):

``{prefix}quote:{key}``   string ``<expires µs> <amount> <currency>``. TTL: the cache's.

The expiry instant is written next to the price and checked on the application's clock when
read, so a price is never served past its time-to-live whatever Redis's own clock says; the key
TTL (the same duration on Redis's clock) only frees the memory. Amounts are the ``Decimal``'s
own text: exact. A Redis that does not answer is ``DependencyUnavailable``; callers treat the
cache as optional.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import timedelta
from decimal import Decimal

from redis.asyncio import Redis

from dashcore.domain.money import Money
from dashcore.ports.clock import Clock
from dashcore.ports.quotes import QuoteCache
from dashcore_redis.sessions import micros, redis_errors

__all__ = ["RedisQuoteCache"]


class RedisQuoteCache(QuoteCache):
    def __init__(
        self,
        client: Redis,
        clock: Clock,
        *,
        ttl: timedelta = timedelta(seconds=5),
        prefix: str = "dashcore:",
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._ttl_ms = max(1, math.ceil(ttl / timedelta(milliseconds=1)))
        self._prefix = prefix

    def quote_key(self, key: str) -> str:
        return f"{self._prefix}quote:{key}"

    async def get_many(self, keys: Collection[str]) -> dict[str, Money]:
        wanted = list(keys)
        if not wanted:
            return {}
        async with redis_errors():
            values = await self._client.mget([self.quote_key(key) for key in wanted])
        now = micros(self._clock.now())
        found: dict[str, Money] = {}
        for key, value in zip(wanted, values, strict=True):
            if value is None:
                continue
            text = value.decode("ascii") if isinstance(value, bytes) else value
            expires, amount, currency = text.split(" ")
            if now < int(expires):
                found[key] = Money.of(Decimal(amount), currency)
        return found

    async def put_many(self, prices: Mapping[str, Money]) -> None:
        if not prices:
            return
        expires = micros(self._clock.now() + self._ttl)
        async with redis_errors(), self._client.pipeline(transaction=False) as pipeline:
            for key, price in prices.items():
                value = f"{expires} {price.amount} {price.currency}"
                pipeline.set(self.quote_key(key), value.encode("ascii"), px=self._ttl_ms)
            await pipeline.execute()
