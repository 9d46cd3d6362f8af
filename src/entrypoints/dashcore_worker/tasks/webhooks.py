"""Webhook inbox upkeep (security.md WH-3)."""

from __future__ import annotations

import structlog
from dishka import FromDishka

from dashcore.application.webhooks_retention import WEBHOOK_CLEANUP_TASK, PurgeWebhookEvents
from dashcore_worker.registry import job_task

__all__ = ["webhook_cleanup"]

_log = structlog.get_logger("dashcore_worker")


@job_task(WEBHOOK_CLEANUP_TASK)
async def webhook_cleanup(purge: FromDishka[PurgeWebhookEvents]) -> None:
    """Delete webhook deliveries past their retention, a batch per transaction."""
    purged = await purge()
    _log.info("webhook_cleanup_done", events=purged)
