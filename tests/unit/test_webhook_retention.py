"""Webhook inbox retention (security.md WH-3): the settings and their bounds, the policy's rule
that deliveries outlast the signature tolerance, the purge committing batch by batch, and the
``webhook_cleanup`` job as the schedule runs it on the embedded default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from dishka import AsyncContainer
from structlog.testing import capture_logs
from taskiq import AsyncBroker, InMemoryBroker

from dashcore.application.webhooks_retention import (
    PURGE_BATCH,
    WEBHOOK_CLEANUP_TASK,
    PurgeWebhookEvents,
)
from dashcore.domain.jobs import JobStatus
from dashcore.domain.webhooks import (
    DEFAULT_RETENTION,
    Delivery,
    Verification,
    VerifiedBy,
    WebhookEvent,
    WebhookPolicy,
)
from dashcore.ports.clock import Clock
from dashcore.ports.jobs import JobQueue
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.webhooks import WebhookEventRepository
from dashcore.testing.clock import FakeClock
from dashcore_app.providers import build_container
from dashcore_app.settings import MailerKind, Settings, SettingsError
from dashcore_app.webhooks import webhook_policy
from dashcore_security import KeyRing
from dashcore_worker.schedule import SCHEDULE_TABLE

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


# -- settings and policy -------------------------------------------------------------------------


def test_deliveries_are_kept_seven_days_and_purged_hourly_by_default() -> None:
    settings = Settings.from_env({})
    assert (settings.webhook_retention_days, settings.schedule_webhook_cleanup_seconds) == (7, 3600)
    assert webhook_policy(settings).retention == DEFAULT_RETENTION == timedelta(days=7)
    [row] = [entry for entry in SCHEDULE_TABLE if entry.task == WEBHOOK_CLEANUP_TASK]
    assert row.seconds(settings) == 3600


def test_retention_and_schedule_are_read() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_WEBHOOK_RETENTION_DAYS": "30",
            "DASHCORE_SCHEDULE_WEBHOOK_CLEANUP_SECONDS": "0",
        }
    )
    assert webhook_policy(settings).retention == timedelta(days=30)
    assert settings.schedule_webhook_cleanup_seconds == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DASHCORE_WEBHOOK_RETENTION_DAYS", "0"),
        ("DASHCORE_WEBHOOK_RETENTION_DAYS", "-7"),
        ("DASHCORE_WEBHOOK_RETENTION_DAYS", "3651"),
        ("DASHCORE_WEBHOOK_RETENTION_DAYS", "7.5"),
        ("DASHCORE_SCHEDULE_WEBHOOK_CLEANUP_SECONDS", "-1"),
        ("DASHCORE_SCHEDULE_WEBHOOK_CLEANUP_SECONDS", str(7 * 86400 + 1)),
    ],
)
def test_bad_values_are_reported_by_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert any(problem.startswith(variable) for problem in refused.value.problems)


def test_a_retention_of_zero_days_says_it_must_outlast_the_tolerance() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"DASHCORE_WEBHOOK_RETENTION_DAYS": "0"})
    [problem] = refused.value.problems
    assert "DASHCORE_WEBHOOK_TOLERANCE_SECONDS" in problem


@pytest.mark.parametrize("retention", [timedelta(seconds=300), timedelta(seconds=299)])
def test_a_policy_never_forgets_a_delivery_within_the_tolerance(retention: timedelta) -> None:
    with pytest.raises(ValueError, match="longer than the signature tolerance"):
        WebhookPolicy(tolerance=timedelta(seconds=300), retention=retention)


def test_the_cut_is_now_minus_the_retention() -> None:
    policy = WebhookPolicy(tolerance=timedelta(minutes=5), retention=timedelta(days=2))
    assert policy.purge_before(NOW) == NOW - timedelta(days=2)


# -- the use case: one transaction per batch ------------------------------------------------------


class _RecordingInbox(WebhookEventRepository):
    """An inbox holding ``backlog`` expired rows that records each purge in ``steps``."""

    def __init__(self, backlog: int, steps: list[str]) -> None:
        self.backlog = backlog
        self.cuts: list[datetime] = []
        self._steps = steps

    async def record(self, event: WebhookEvent) -> bool:
        raise AssertionError("not used")

    async def get(self, provider: str, event_id: str) -> WebhookEvent | None:
        raise AssertionError("not used")

    async def purge(self, before: datetime, *, limit: int) -> int:
        deleted = min(limit, self.backlog)
        self.backlog -= deleted
        self.cuts.append(before)
        self._steps.append(f"purge {deleted}")
        return deleted


class _RecordingUnitOfWork(UnitOfWork):
    def __init__(self, steps: list[str]) -> None:
        self._steps = steps

    async def commit(self) -> None:
        self._steps.append("commit")

    async def rollback(self) -> None:
        self._steps.append("rollback")


@pytest.mark.parametrize(
    ("backlog", "batches"),
    [(0, [0]), (999, [999]), (1000, [1000, 0]), (2500, [1000, 1000, 500])],
)
async def test_each_batch_is_committed_before_the_next(backlog: int, batches: list[int]) -> None:
    steps: list[str] = []
    inbox = _RecordingInbox(backlog, steps)
    clock: Clock = FakeClock(NOW)
    purge = PurgeWebhookEvents(inbox, _RecordingUnitOfWork(steps), clock, WebhookPolicy())
    assert await purge() == backlog
    assert steps == [step for size in batches for step in (f"purge {size}", "commit")]
    assert set(inbox.cuts) == {NOW - timedelta(days=7)}
    assert PURGE_BATCH == 1000


def test_a_batch_holds_at_least_one_row() -> None:
    steps: list[str] = []
    with pytest.raises(ValueError, match="at least one row"):
        PurgeWebhookEvents(
            _RecordingInbox(0, steps),
            _RecordingUnitOfWork(steps),
            FakeClock(NOW),
            WebhookPolicy(),
            batch_size=0,
        )


# -- the job -------------------------------------------------------------------------------------


@pytest.fixture
async def container() -> AsyncIterator[AsyncContainer]:
    settings = Settings(
        database_url="memory://",
        vault_keys=KeyRing.generate().to_env_value(),
        hash_profile="test",
        mailer=MailerKind.MEMORY,
    )
    built = build_container(settings)
    yield built
    await built.close()


def _event(number: int, received_at: datetime) -> WebhookEvent:
    delivery = Delivery(f"evt_{number}", "order.updated", VerifiedBy(Verification.UNSIGNED))
    return WebhookEvent.received(UUID(int=number), "schwab", delivery, b"{}", received_at)


async def test_the_cleanup_job_purges_expired_deliveries_and_logs_the_count(
    container: AsyncContainer,
) -> None:
    now = datetime.now(UTC)  # the embedded default runs on the system clock
    expired = [_event(n, now - timedelta(days=8, minutes=n)) for n in range(1, 4)]
    recent = _event(9, now - timedelta(days=6))
    async with container() as scope:
        inbox = await scope.get(WebhookEventRepository)
        for item in (*expired, recent):
            assert await inbox.record(item)
        await (await scope.get(UnitOfWork)).commit()

    queue: JobQueue = await container.get(JobQueue)
    with capture_logs() as logs:
        job = await queue.enqueue(WEBHOOK_CLEANUP_TASK)
        broker = await container.get(AsyncBroker)
        assert isinstance(broker, InMemoryBroker)
        await broker.wait_all()
    assert (await queue.status(job)).status is JobStatus.SUCCEEDED
    assert [line["events"] for line in logs if line["event"] == "webhook_cleanup_done"] == [3]
    async with container() as scope:
        inbox = await scope.get(WebhookEventRepository)
        assert [await inbox.get("schwab", item.event_id) for item in expired] == [None] * 3
        assert await inbox.get("schwab", recent.event_id) == recent
