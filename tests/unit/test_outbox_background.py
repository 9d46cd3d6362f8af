"""The outbox's delivery loop in each API process: during a database outage it used to log
``outbox_delivery_failed`` once a second for as long as the outage lasted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast
from uuid import UUID

from dishka import Provider, Scope, make_async_container, provide
from structlog.testing import capture_logs

from dashcore.application.outbox import DeliverOutbox, DeliveryReport, ExpiredMail
from dashcore.domain.errors import DependencyUnavailable
from dashcore_app.background import outbox_delivery


class ScriptedDelivery:
    """Each run fails (``False``) or works (``True``) as scripted; ``done`` once the script
    has run out, every later run working."""

    def __init__(self, *script: bool) -> None:
        self._script = list(script)
        self.done = asyncio.Event()

    async def __call__(self) -> DeliveryReport:
        if not self._script:
            self.done.set()
            return DeliveryReport()
        if not self._script.pop(0):
            raise DependencyUnavailable("The database is not answering.", dependency="database")
        return DeliveryReport()


class ReportOnce:
    """The first run reports ``report``; ``done`` once a later run has happened."""

    def __init__(self, report: DeliveryReport) -> None:
        self._report: DeliveryReport | None = report
        self.done = asyncio.Event()

    async def __call__(self) -> DeliveryReport:
        if self._report is None:
            self.done.set()
            return DeliveryReport()
        report, self._report = self._report, None
        return report


class Deliveries(Provider):
    def __init__(self, delivery: Callable[[], Awaitable[DeliveryReport]]) -> None:
        super().__init__()
        self._delivery = delivery

    @provide(scope=Scope.REQUEST)
    def deliver(self) -> DeliverOutbox:
        return cast(DeliverOutbox, self._delivery)


async def test_each_outage_is_logged_when_it_starts_and_when_it_ends() -> None:
    delivery = ScriptedDelivery(False, False, False, True, True, False, False, True)
    container = make_async_container(Deliveries(delivery))
    try:
        with capture_logs() as logs:
            async with outbox_delivery(container, poll_interval=0.001):
                await asyncio.wait_for(delivery.done.wait(), timeout=10)
    finally:
        await container.close()
    events = [log["event"] for log in logs if log["event"].startswith("outbox_delivery")]
    assert events == [
        "outbox_delivery_failed",
        "outbox_delivery_recovered",
        "outbox_delivery_failed",
        "outbox_delivery_recovered",
    ]
    assert "database" in logs[0]["error"]


async def test_each_expired_mail_is_logged_by_id_and_template_only() -> None:
    entry_id = UUID("00000000-0000-7000-8000-000000000001")
    delivery = ReportOnce(
        DeliveryReport(claimed=2, sent=1, expired_mail=(ExpiredMail(entry_id, "login_code"),))
    )
    container = make_async_container(Deliveries(delivery))
    try:
        with capture_logs() as logs:
            async with outbox_delivery(container, poll_interval=0.001):
                await asyncio.wait_for(delivery.done.wait(), timeout=10)
    finally:
        await container.close()
    [expired] = [log for log in logs if log["event"] == "mail_expired"]
    assert expired == {
        "event": "mail_expired",
        "log_level": "info",
        "entry_id": str(entry_id),
        "template": "login_code",
    }
    [delivered] = [log for log in logs if log["event"] == "outbox_delivered"]
    assert (delivered["sent"], delivered["expired"]) == (1, 1)
