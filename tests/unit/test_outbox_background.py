"""The outbox's delivery loop in each API process: during a database outage it used to log
``outbox_delivery_failed`` once a second for as long as the outage lasted."""

from __future__ import annotations

import asyncio
from typing import cast

from dishka import Provider, Scope, make_async_container, provide
from structlog.testing import capture_logs

from dashcore.application.outbox import DeliverOutbox, DeliveryReport
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


class Deliveries(Provider):
    def __init__(self, delivery: ScriptedDelivery) -> None:
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
