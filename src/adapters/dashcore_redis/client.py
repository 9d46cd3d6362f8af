from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["create_redis"]


def create_redis(url: str, *, timeout: float = 5.0) -> Redis:
    """A pooled client; connections open lazily, so building one needs no running server.

    A pooled connection that Redis closed (a restart, a failover) fails its next command with
    "Connection closed by server"; that command is sent once more on a new connection, so the
    first requests after Redis comes back do not fail. A Redis that is down still fails at
    once (the new connection is refused), and a timeout is never retried: a command waits at
    most ``timeout`` seconds."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        decode_responses=False,
    )
