"""Sign-in housekeeping."""

from __future__ import annotations

import structlog
from dishka import FromDishka

from dashcore.application.sign_in import ForgetExpiredChallenges
from dashcore_worker.registry import job_task

__all__ = ["challenge_cleanup"]

_log = structlog.get_logger("dashcore_worker")


@job_task("challenge_cleanup")
async def challenge_cleanup(forget: FromDishka[ForgetExpiredChallenges]) -> None:
    """Delete login challenges past their expiry."""
    deleted = await forget()
    if deleted:
        _log.info("expired_challenges_deleted", count=deleted)
