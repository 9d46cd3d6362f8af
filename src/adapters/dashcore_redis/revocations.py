"""Revoked session ids, pushed to every API process within a second (JWT-3).

Redis holds the truth; each process answers ``is_revoked`` from a local dict, so the check on
every authenticated request is one dict lookup with no I/O.

``{prefix}revoked``       sorted set: session id scored by ``until`` (epoch ms). Entries past
                          ``until`` are pruned on every revoke and reload; an empty set vanishes.
``{prefix}revocations``   pub/sub channel: ``"<session id> <until ms>"`` per revocation, published
                          in the same MULTI as the ``ZADD``.

Each process subscribes and, on *every* subscription confirmation (the first one and each one
after the client reconnected on its own), merges the whole sorted set into its dict: a
revocation published while the process was disconnected is picked up from the set. If the
subscription fails outright, the follower opens a new one after ``reconnect_delay``. Local
entries past ``until`` are pruned every ``prune_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.sessions import SessionId
from dashcore.ports.clock import Clock
from dashcore.ports.health import DependencyProbe
from dashcore.ports.sessions import RevocationList
from dashcore_redis.sessions import redis_errors

__all__ = ["RedisRevocationList", "RevocationListProbe"]


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


class RedisRevocationList(RevocationList):
    def __init__(
        self,
        client: Redis,
        clock: Clock,
        *,
        prefix: str = "dashcore:",
        start_timeout: float = 2.0,
        reconnect_delay: float = 0.5,
        prune_interval: float = 30.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self.key = f"{prefix}revoked"
        self.channel = f"{prefix}revocations"
        self._start_timeout = start_timeout
        self._reconnect_delay = reconnect_delay
        self._prune_interval = prune_interval
        self._until: dict[str, int] = {}
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        """Whether the process currently follows revocations (for a readiness probe)."""

    # -- the per-request check -------------------------------------------------------------
    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._until

    # -- writes ----------------------------------------------------------------------------
    async def revoke(self, session_id: SessionId, until: datetime) -> None:
        """Record locally at once (this process is never late), then in Redis for the others."""
        until_ms, now_ms = _ms(until), _ms(self._clock.now())
        if until_ms <= now_ms:
            return
        self._prune()
        self._remember(session_id, until_ms)
        async with redis_errors(), self._client.pipeline(transaction=True) as pipe:
            pipe.zadd(self.key, {session_id: until_ms}, gt=True)
            pipe.zremrangebyscore(self.key, "-inf", now_ms)
            pipe.publish(self.channel, f"{session_id} {until_ms}")
            await pipe.execute()

    def _remember(self, session_id: str, until_ms: int) -> None:
        self._until[session_id] = max(until_ms, self._until.get(session_id, until_ms))

    # -- following other processes ---------------------------------------------------------
    async def start(self) -> None:
        """Subscribe and load the list, waiting up to ``start_timeout`` for the first load.

        If Redis does not answer by then the process starts anyway, *not ready*
        (:class:`RevocationListProbe` fails) while the follower keeps retrying: a load balancer
        keeps requests away from it until the list is loaded.
        """
        if self._task is not None:
            return
        self._loaded.clear()
        self._task = asyncio.create_task(self._follow(), name="revocation-list")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._start_timeout):
                await self._loaded.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def _follow(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError):
                self.connected = False
                await asyncio.sleep(self._reconnect_delay)

    async def _listen(self) -> None:
        next_prune = time.monotonic() + self._prune_interval
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    await self._handle(message)
                if time.monotonic() >= next_prune:
                    self._prune()
                    next_prune = time.monotonic() + self._prune_interval

    async def _handle(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            await self._reload()
            self.connected = True
            self._loaded.set()
        elif kind == "message" and isinstance(message.get("data"), bytes):
            self._apply(message["data"])  # type: ignore[arg-type]

    def _apply(self, data: bytes) -> None:
        session_id, _, until = data.decode("ascii", "replace").partition(" ")
        if session_id and until.isdigit():
            self._remember(session_id, int(until))

    async def _reload(self) -> None:
        now_ms = _ms(self._clock.now())
        await self._client.zremrangebyscore(self.key, "-inf", now_ms)
        entries = await self._client.zrange(self.key, 0, -1, withscores=True)
        for member, score in cast("list[tuple[bytes, float]]", entries):
            self._remember(member.decode("ascii", "replace"), int(score))
        self._prune()

    def _prune(self) -> None:
        now_ms = _ms(self._clock.now())
        for stale in [sid for sid, until in self._until.items() if until <= now_ms]:
            del self._until[stale]


class RevocationListProbe(DependencyProbe):
    """Readiness: this process follows revocations (subscribed, list loaded). Without that it
    could accept access tokens of sessions revoked elsewhere."""

    def __init__(self, revocations: RedisRevocationList) -> None:
        self._revocations = revocations

    @property
    def name(self) -> str:
        return "revocations"

    async def check(self, timeout: float) -> None:
        if not self._revocations.connected:
            raise DependencyUnavailable("Revocations are not being followed.", dependency=self.name)
