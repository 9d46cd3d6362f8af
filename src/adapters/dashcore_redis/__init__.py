"""Redis adapters (redis.asyncio): connection factory and readiness probe."""

from dashcore_redis.client import create_redis
from dashcore_redis.probe import RedisProbe

__all__ = ["RedisProbe", "create_redis"]
