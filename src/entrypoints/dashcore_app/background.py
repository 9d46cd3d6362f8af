"""Background loops an API process (or, later, a worker) runs next to its requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from dishka import AsyncContainer

from dashcore.application.outbox import DeliverOutbox, DeliveryReport, OutboxDispatcher
from dashcore.application.sign_in import ForgetExpiredChallenges

__all__ = ["challenge_cleanup", "outbox_delivery"]

_log = structlog.get_logger("dashcore_app")


@contextlib.asynccontextmanager
async def outbox_delivery(
    container: AsyncContainer, *, poll_interval: float = 1.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Deliver the mail outbox in the background while the block runs; each batch runs in
    its own unit of work. Several processes may do this at once: claims are leased."""

    async def deliver() -> DeliveryReport:
        async with container() as scope:
            deliver_batch = await scope.get(DeliverOutbox)
            report = await deliver_batch()
        if report.sent or report.retrying or report.dead:
            _log.info(
                "outbox_delivered", sent=report.sent, retrying=report.retrying, dead=report.dead
            )
        return report

    def failed(error: Exception) -> None:
        _log.warning("outbox_delivery_failed", error=repr(error))

    dispatcher = OutboxDispatcher(
        deliver, batch_size=50, on_error=failed, poll_interval=poll_interval
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop), name="dashcore-outbox")
    try:
        yield task
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def challenge_cleanup(
    container: AsyncContainer, *, interval: float = 600.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Delete expired login challenges every ``interval`` seconds while the block runs. A
    failed round is logged and retried at the next one; several processes may run it."""
    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            try:
                async with container() as scope:
                    deleted = await (await scope.get(ForgetExpiredChallenges))()
                if deleted:
                    _log.info("expired_challenges_deleted", count=deleted)
            except Exception as error:  # a round may fail (database down); the next retries
                _log.warning("challenge_cleanup_failed", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    task = asyncio.create_task(run(), name="dashcore-challenge-cleanup")
    try:
        yield task
    finally:
        stop.set()
        await task
