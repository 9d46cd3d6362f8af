"""Background loops an API process (or, later, a worker) runs next to its requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from dishka import AsyncContainer

from dashcore.application.connections import ReauthWarnings, RefreshConnections
from dashcore.application.outbox import DeliverOutbox, DeliveryReport, OutboxDispatcher
from dashcore.application.sign_in import ForgetExpiredChallenges

__all__ = ["challenge_cleanup", "connection_upkeep", "outbox_delivery"]

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
async def _periodic(
    name: str, interval: float, one_round: Callable[[], Awaitable[None]]
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``one_round`` now and every ``interval`` seconds while the block runs. A failed
    round (database or Redis down) is logged and the next one retries."""
    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            try:
                await one_round()
            except Exception as error:  # logged; the next round retries
                _log.warning(f"{name}_failed", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    task = asyncio.create_task(run(), name=f"dashcore-{name}")
    try:
        yield task
    finally:
        stop.set()
        await task


def challenge_cleanup(
    container: AsyncContainer, *, interval: float = 600.0
) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """Delete expired login challenges every ``interval`` seconds; several processes may."""

    async def one_round() -> None:
        async with container() as scope:
            deleted = await (await scope.get(ForgetExpiredChallenges))()
        if deleted:
            _log.info("expired_challenges_deleted", count=deleted)

    return _periodic("challenge_cleanup", interval, one_round)


def connection_upkeep(
    container: AsyncContainer, *, interval: float = 60.0
) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """Every ``interval`` seconds: refresh provider credentials that end within 5 minutes
    (single flight across processes) and warn owners of connections that need a new login
    within a day."""

    async def one_round() -> None:
        async with container() as scope:
            done = await (await scope.get(RefreshConnections)).refresh_due()
        async with container() as scope:
            warned = await (await scope.get(ReauthWarnings))()
        if done.refreshed or done.failed or warned:
            _log.info(
                "connection_upkeep", refreshed=done.refreshed, failed=done.failed, warned=warned
            )

    return _periodic("connection_upkeep", interval, one_round)
