"""Single-flight locks in Redis, shared by every API process and worker (OAUTH-3).

Key layout (``prefix`` defaults to ``dashcore:``):

``{prefix}lock:{key}``   string: the holder's random token. TTL: the hold's ``ttl_seconds``.

Taking the lock is ``SET key token NX PX ttl``: Redis grants it to one caller at a time and
frees it by itself when the TTL runs out (a crashed holder cannot keep it). A caller that finds
the key held tries again after a short pause that doubles each time (from ``poll_initial`` up
to ``poll_max``) until ``wait_seconds`` have passed, trying once more at the end. Releasing is
one Lua compare-and-delete, so a holder whose TTL ran out cannot delete the lock that someone
else has taken since. The TTL is Redis's clock, not the application's: it is a duration.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time

from redis.asyncio import Redis

from dashcore.ports.providers import RefreshLock
from dashcore_redis.sessions import redis_errors

__all__ = ["RedisRefreshLock"]

# KEYS: lock. ARGV: token. Deletes the lock only while the token holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRefreshLock(RefreshLock):
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "dashcore:",
        poll_initial: float = 0.01,
        poll_max: float = 0.2,
    ) -> None:
        if not 0 < poll_initial <= poll_max:
            raise ValueError("poll intervals must be positive, the first no larger than the last")
        self._client = client
        self._prefix = prefix
        self._poll_initial = poll_initial
        self._poll_max = poll_max
        self._release = client.register_script(_RELEASE)

    def lock_key(self, key: str) -> str:
        return f"{self._prefix}lock:{key}"

    async def acquire(self, key: str, *, ttl_seconds: float, wait_seconds: float) -> str | None:
        if not key or ttl_seconds <= 0 or wait_seconds < 0:
            raise ValueError("a lock needs a key, a positive TTL and a wait of at least zero")
        name = self.lock_key(key)
        token = secrets.token_urlsafe(16)
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        deadline = time.monotonic() + wait_seconds
        pause = self._poll_initial
        while True:
            async with redis_errors():
                if await self._client.set(name, token, nx=True, px=ttl_ms):
                    return token
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, self._poll_max)

    async def release(self, key: str, token: str) -> None:
        async with redis_errors():
            await self._release(keys=[self.lock_key(key)], args=[token])
