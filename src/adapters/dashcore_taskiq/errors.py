"""Failures of the queue's store (Redis) become ``DependencyUnavailable`` at this boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from taskiq.exceptions import SendTaskError

from dashcore.domain.errors import DependencyUnavailable

try:  # the worker extra: Redis between processes
    from redis.exceptions import RedisError
except ImportError:  # the embedded default: nothing but this process
    RedisError = OSError  # type: ignore[assignment,misc]

__all__ = ["queue_unavailable"]


@contextlib.contextmanager
def queue_unavailable() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError, SendTaskError) as exc:
        raise DependencyUnavailable(
            "The job queue is not answering.", dependency="job_queue"
        ) from exc
