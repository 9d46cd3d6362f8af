"""The mail outbox's delivery loop, which every API process runs next to its requests.

Other background work (refresh ahead of expiry, re-login warnings, expired challenges, syncs)
runs as jobs on the job queue: see :mod:`dashcore_worker`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from dishka import AsyncContainer

from dashcore.application.outbox import DeliverOutbox, DeliveryReport, OutboxDispatcher

__all__ = ["outbox_delivery"]

_log = structlog.get_logger("dashcore_app")


@contextlib.asynccontextmanager
async def outbox_delivery(
    container: AsyncContainer, *, poll_interval: float = 1.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Deliver the mail outbox in the background while the block runs; each batch runs in
    its own unit of work. Several processes may do this at once: claims are leased.

    Runs that fail (the database is down) are retried every ``poll_interval`` seconds but
    logged once, ``outbox_delivery_failed``, when they start failing, and once,
    ``outbox_delivery_recovered``, when a run works again. Each mail given up because its link
    or code ran out is logged ``mail_expired`` with its entry id and template (never its
    address or body)."""
    failing = False

    async def deliver() -> DeliveryReport:
        nonlocal failing
        async with container() as scope:
            deliver_batch = await scope.get(DeliverOutbox)
            report = await deliver_batch()
        if failing:
            failing = False
            _log.info("outbox_delivery_recovered")
        for mail in report.expired_mail:
            _log.info("mail_expired", entry_id=str(mail.entry_id), template=mail.template)
        if report.sent or report.retrying or report.dead or report.expired:
            _log.info(
                "outbox_delivered",
                sent=report.sent,
                retrying=report.retrying,
                dead=report.dead,
                expired=report.expired,
                released=report.released,
            )
        return report

    def failed(error: Exception) -> None:
        nonlocal failing
        if not failing:
            failing = True
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
