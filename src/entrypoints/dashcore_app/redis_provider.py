"""Redis, when ``DASHCORE_REDIS_URL`` is set (imported only then: the ``redis`` extra)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide
from redis.asyncio import Redis

from dashcore.ports.health import DependencyProbe
from dashcore_app.settings import Settings
from dashcore_redis import RedisProbe, create_redis

__all__ = ["RedisProvider"]


class RedisProvider(Provider):
    @provide(scope=Scope.APP)
    async def client(self, settings: Settings) -> AsyncIterator[Redis]:
        assert settings.redis_url is not None
        client = create_redis(settings.redis_url)
        yield client
        await client.aclose()

    probe = provide(RedisProbe, provides=DependencyProbe, scope=Scope.APP)
