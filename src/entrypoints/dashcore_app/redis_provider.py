"""Redis, when ``DASHCORE_REDIS_URL`` is set (imported only then: the ``redis`` extra).

Sessions, the revocation list and the provider-refresh locks live there, so every API process
sees every login and every revocation (within a second, through pub/sub) and one refresh of a
provider connection runs at a time across processes. Readiness checks Redis and that this process
follows the revocations: one that does not could accept tokens of sessions revoked elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, alias, provide
from redis.asyncio import Redis

from dashcore.ports.clock import Clock
from dashcore.ports.health import DependencyProbe
from dashcore.ports.providers import RefreshLock
from dashcore.ports.sessions import RevocationList, SessionStore
from dashcore_app.settings import Settings
from dashcore_redis import RedisProbe, create_redis
from dashcore_redis.locks import RedisRefreshLock
from dashcore_redis.revocations import RedisRevocationList, RevocationListProbe
from dashcore_redis.sessions import RedisSessionStore

__all__ = ["RedisProvider"]


class RedisProvider(Provider):
    @provide(scope=Scope.APP)
    async def client(self, settings: Settings) -> AsyncIterator[Redis]:
        assert settings.redis_url is not None
        client = create_redis(settings.redis_url)
        yield client
        await client.aclose()

    probe = provide(RedisProbe, provides=DependencyProbe, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def sessions(self, client: Redis, clock: Clock, settings: Settings) -> SessionStore:
        return RedisSessionStore(client, clock, prefix=settings.redis_prefix)

    @provide(scope=Scope.APP)
    async def revocations(
        self, client: Redis, clock: Clock, settings: Settings
    ) -> AsyncIterator[RedisRevocationList]:
        revocations = RedisRevocationList(client, clock, prefix=settings.redis_prefix)
        await revocations.start()
        yield revocations
        await revocations.stop()

    revocation_list = alias(source=RedisRevocationList, provides=RevocationList)
    revocation_probe = provide(RevocationListProbe, provides=DependencyProbe, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def refresh_lock(self, client: Redis, settings: Settings) -> RefreshLock:
        return RedisRefreshLock(client, prefix=settings.redis_prefix)
