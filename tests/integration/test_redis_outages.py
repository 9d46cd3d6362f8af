"""Redis restarting under a running process: every pooled connection it had is dead, and the
first command on each used to fail (503 for a login, a job failing "Redis does not answer")
although Redis was back. Restarting the shared test Redis is not an option, so the test
closes this client's own connection from the server side, as a restart does."""

from __future__ import annotations

import pytest

from dashcore_redis import create_redis

pytestmark = pytest.mark.redis


async def test_a_connection_redis_closed_is_replaced_without_failing_the_command(
    redis_server_url: str, redis_prefix: str
) -> None:
    client = create_redis(redis_server_url)
    killer = create_redis(redis_server_url)
    try:
        await client.set(f"{redis_prefix}k", b"v")
        pooled = await client.client_id()  # the pool holds this one connection
        assert await killer.client_kill_filter(_id=pooled) == 1

        assert await client.get(f"{redis_prefix}k") == b"v"
        assert await client.client_id() != pooled
    finally:
        await client.delete(f"{redis_prefix}k")
        await client.aclose()
        await killer.aclose()
