"""The Redis store of the rate limiter: imported only when the limiter is given a Redis URL,
so that the base install (the embedded default, ``memory://``) runs without the ``redis``
extra."""

from __future__ import annotations

from typing import Any, Final

from limits.aio.storage import RedisStorage
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["STORE_ERRORS", "redis_storage"]

STORE_ERRORS: Final = (RedisError, OSError, TimeoutError)


def redis_storage(
    uri: str, limits_uri: str, *, key_prefix: str, timeout: float
) -> tuple[RedisStorage, ConnectionPool]:
    """``limits``' storage on a pool of its own whose every call has ``timeout`` and no
    client-side retries (the limiter falls back to its in-process windows instead)."""
    pool = ConnectionPool.from_url(
        uri,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(
        limits_uri, implementation="redispy", key_prefix=key_prefix.rstrip(":"), **options
    )
    return storage, pool
