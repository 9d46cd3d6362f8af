from __future__ import annotations

from redis.asyncio import Redis

__all__ = ["create_redis"]


def create_redis(url: str, *, timeout: float = 5.0) -> Redis:
    """A pooled client; connections open lazily, so building one needs no running server."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        decode_responses=False,
    )
