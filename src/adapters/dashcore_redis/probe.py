from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.health import DependencyProbe

__all__ = ["RedisProbe"]


class RedisProbe(DependencyProbe):
    def __init__(self, client: Redis) -> None:
        self._client = client

    @property
    def name(self) -> str:
        return "redis"

    async def check(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._client.ping()
        except (TimeoutError, RedisError, OSError) as exc:
            raise DependencyUnavailable("Redis does not answer.", dependency=self.name) from exc
