"""Jobs between processes and machines: the Redis Streams broker and Redis tick claims.

**Why Redis Streams** (``RedisStreamBroker``) and not a Redis list (``ListQueueBroker``): a
list hands a job over with ``BRPOP``, which removes it from Redis at once, so a worker that
crashes (or is killed) mid-job loses it. A stream is read through a consumer group: a job
stays in the group's pending list until the worker acknowledges it (``XACK``) *after* it ran
and its status was saved; a job left unacknowledged for ``redeliver_after`` seconds is claimed
by another worker (``XAUTOCLAIM``) and runs again. That is at-least-once delivery, which is
why every task must be idempotent. ``redeliver_after`` must exceed the longest task's run
time, or a slow job is started a second time while it still runs.

Choices made here, each for a reason:

* the consumer group reads from the stream's beginning (``0``), so jobs queued before any
  worker ever started are not skipped;
* a worker takes one job per read (``XREADGROUP COUNT 1``), so an idle worker never sits
  on jobs another could run;
* acknowledging also deletes the entry (``XACK`` + ``XDEL``): a stream keeps acknowledged
  entries forever otherwise, and Redis memory would grow with every job ever run;
* statuses (and taskiq's results) live in a Redis result backend under
  ``{status_prefix}:{job id}`` with a TTL, serialized as JSON, never pickle (a pickle read back
  from a shared Redis would run whatever code someone wrote there);
* a pooled connection that Redis closed (a restart, a failover) is replaced on its next
  command, which is sent once more on the new connection: the first jobs queued, read and
  acknowledged after Redis comes back do not fail. A timeout is never retried.

Schedule ticks are claimed with one ``SET NX EX`` key per schedule and tick
(:class:`RedisScheduleTicks`).

Known limit of taskiq-redis 1.2: the reclaim of unacknowledged jobs runs after a worker reads
a new job, so on a queue where nothing new arrives an abandoned job waits for the next one.
The scheduler enqueues jobs every minute, which bounds that wait in practice.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from taskiq import AsyncBroker
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.jobs import ScheduleTicks

__all__ = ["CONSUMER_GROUP", "RedisScheduleTicks", "redis_broker"]

CONSUMER_GROUP = "dashcore-workers"
_RECLAIM_LOCK_SECONDS = 30.0
_READ_BLOCK_MS = 2000
"""How long one read of the stream waits for a job (XREADGROUP BLOCK)."""
_READ_TIMEOUT_SECONDS = _READ_BLOCK_MS / 1000 + 10
"""The longest a worker's connection waits for Redis's answer. A read whose task is cancelled
at stop (the receiver's prefetcher drops its pending read) could otherwise wait forever: seen
in a full test run, the cancellation was lost inside redis-py's read and the connection waited
for an answer that never came, so the worker never stopped. Redis answers a blocked read
within ``_READ_BLOCK_MS``, so only such a read ever reaches this timeout."""


class _DeletingStreamBroker(RedisStreamBroker):
    """A stream broker whose acknowledgement also deletes the acknowledged entry."""

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def acknowledge() -> None:
            async with Redis(connection_pool=self.connection_pool) as client:
                pipeline = client.pipeline(transaction=True)
                pipeline.xack(queue_name, self.consumer_group_name, id)
                pipeline.xdel(queue_name, id)
                await pipeline.execute()

        return acknowledge


def redis_broker(
    url: str,
    *,
    queue: str,
    status_prefix: str,
    status_ttl_seconds: int,
    redeliver_after_seconds: int,
) -> AsyncBroker:
    """A broker on the Redis stream ``queue``, its statuses under ``status_prefix``."""
    broker = _DeletingStreamBroker(
        url,
        queue_name=queue,
        consumer_group_name=CONSUMER_GROUP,
        consumer_id="0",
        xread_count=1,
        xread_block=_READ_BLOCK_MS,
        socket_timeout=_READ_TIMEOUT_SECONDS,
        idle_timeout=redeliver_after_seconds * 1000,
        unacknowledged_lock_timeout=_RECLAIM_LOCK_SECONDS,
        retry=_once_more_on_a_new_connection(),
    )
    backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        url,
        prefix_str=status_prefix,
        result_ex_time=status_ttl_seconds,
        serializer=JSONSerializer(),
        retry=_once_more_on_a_new_connection(),
    )
    return broker.with_result_backend(backend)


def _once_more_on_a_new_connection() -> Retry:
    """The pools' retry policy (taskiq-redis hands it to every connection of a pool): a command
    that failed because Redis closed its connection is sent once more on a new one, with no
    pause; a Redis that is down refuses the new connection too, so the command still fails at
    once. Timeouts are not connection errors and are never retried."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class RedisScheduleTicks(ScheduleTicks):
    """Tick claims shared by every process on one Redis: the key
    ``{prefix}tick:{schedule}:{tick}`` set with ``SET NX EX``; it expires by itself after
    ``hold_seconds``, so claims never accumulate."""

    def __init__(self, client: Redis, *, prefix: str = "dashcore:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "dashcore:") -> RedisScheduleTicks:
        """Claims over a client of their own (closed by :meth:`close`)."""
        return cls(Redis.from_url(url), prefix=prefix)

    async def claim(self, schedule: str, tick: int, *, hold_seconds: float) -> bool:
        try:
            won = await self._client.set(
                f"{self._prefix}tick:{schedule}:{tick}",
                "1",
                nx=True,
                ex=max(1, math.ceil(hold_seconds)),
            )
        except (RedisError, OSError) as exc:
            raise DependencyUnavailable("Redis is not answering.", dependency="redis") from exc
        return bool(won)

    async def close(self) -> None:
        await self._client.aclose()
