"""The shared quote cache in Redis (imported only when ``DASHCORE_REDIS_URL`` is set)."""

from __future__ import annotations

from dishka import Provider, Scope, provide
from redis.asyncio import Redis

from dashcore.ports.clock import Clock
from dashcore.ports.quotes import QuoteCache
from dashcore_app.settings import Settings
from dashcore_app.trades import quote_cache_ttl
from dashcore_redis.quotes_cache import RedisQuoteCache

__all__ = ["RedisQuoteCacheProvider"]


class RedisQuoteCacheProvider(Provider):
    @provide(scope=Scope.APP)
    def quote_cache(self, client: Redis, clock: Clock, settings: Settings) -> QuoteCache:
        return RedisQuoteCache(
            client, clock, ttl=quote_cache_ttl(settings), prefix=settings.redis_prefix
        )
