"""Where the test services live, and what to do when one is missing.

Tests read ``DASHCORE_TEST_DATABASE_URL`` and ``DASHCORE_TEST_REDIS_URL`` (defaults: the local
PostgreSQL database ``test`` and Redis on 127.0.0.1:6379). A missing service skips its tests
locally with the reason; with ``CI=true`` it fails the run, because CI must exercise them.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def database_url() -> str:
    return os.environ.get("DASHCORE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)


def redis_url() -> str:
    return os.environ.get("DASHCORE_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def require(service: str, url: str, default_port: int) -> str:
    """Return ``url`` if the service answers; otherwise skip (locally) or fail (in CI)."""
    if _answers(url, default_port):
        return url
    message = f"{service} is not reachable at {urlsplit(url).netloc}"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it (see .ci/run)", pytrace=False)
    pytest.skip(f"{message} (set CI=true to make this an error)")


async def delete_prefix(client: Redis, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


def delete_test_keys(prefix: str) -> None:
    """Delete what a test left under its private ``prefix`` in the test Redis, if one answers
    (a test that used no Redis left nothing). Synchronous: fixtures that ask for the prefix
    from inside a running event loop can still tear it down."""
    client = SyncRedis.from_url(redis_url(), socket_connect_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except (RedisError, OSError):
        pass
    finally:
        client.close()
