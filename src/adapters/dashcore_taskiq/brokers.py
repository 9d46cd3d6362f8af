"""The embedded default's broker, and stopping any broker cleanly.

The Redis broker between processes is in :mod:`dashcore_taskiq.streams` (the ``worker`` extra).
"""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker

from dashcore_taskiq.errors import queue_unavailable

__all__ = ["in_process_broker", "start_broker", "stop_broker"]

_IN_PROCESS_STATUSES = 10_000


def in_process_broker() -> AsyncBroker:
    """The embedded default's broker: each job runs at once as a task of this event loop;
    statuses of the last 10,000 jobs are kept in memory."""
    return InMemoryBroker(max_stored_results=_IN_PROCESS_STATUSES, propagate_exceptions=False)


async def start_broker(broker: AsyncBroker) -> None:
    """Connect the broker (with Redis: declare the workers' consumer group); raises
    ``DependencyUnavailable`` when Redis cannot be reached."""
    with queue_unavailable():
        await broker.startup()


async def stop_broker(broker: AsyncBroker) -> None:
    """Let in-process jobs finish, then close the broker's connections."""
    if isinstance(broker, InMemoryBroker):
        await broker.wait_all()
    await broker.shutdown()
