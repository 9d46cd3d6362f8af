"""Last prices cached in the process (the embedded default; see ``QuoteCache``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from dashcore.domain.money import Money
from dashcore.ports.clock import Clock
from dashcore.ports.quotes import QuoteCache

__all__ = ["MemoryQuoteCache"]


class MemoryQuoteCache(QuoteCache):
    """Prices live ``ttl`` on ``clock``; at most ``capacity`` are kept, the oldest insertion
    leaving first. Each process has its own: several API processes ask the provider once each
    per time-to-live (``RedisQuoteCache`` shares one)."""

    def __init__(
        self, clock: Clock, *, ttl: timedelta = timedelta(seconds=5), capacity: int = 50_000
    ) -> None:
        if ttl <= timedelta(0) or capacity < 1:
            raise ValueError("ttl must be positive and capacity at least 1")
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[datetime, Money]] = OrderedDict()

    async def get_many(self, keys: Collection[str]) -> dict[str, Money]:
        now = self._clock.now()
        found: dict[str, Money] = {}
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            expires_at, price = entry
            if now >= expires_at:
                del self._entries[key]
                continue
            found[key] = price
        return found

    async def put_many(self, prices: Mapping[str, Money]) -> None:
        expires_at = self._clock.now() + self._ttl
        for key, price in prices.items():
            self._entries.pop(key, None)
            self._entries[key] = (expires_at, price)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
