"""A broker webhook that arrives before its order has the broker's id (security.md b.7, WH-2)
over HTTP on PostgreSQL + Redis, against the Upstox sandbox connected through the real flow,
with a worker taking jobs from the Redis queue.

The placement's answer is lost (the sandbox's ``timeout_after_accept``): the order is
``unknown`` with no broker id when Upstox's order update arrives. The delivery is stored and
acknowledged either way; when it carries the ``tag`` we sent, the order is settled by a job at
once, otherwise by the reconciler after its grace period. Nothing is sent twice.

An update about an order changed in Upstox's own app makes the order read again, and it takes
the broker's quantity and price.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from dashcore.ports.jobs import JobQueue
from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox.upstox.render import order_id as upstox_id
from tests.integration.identity.conftest import served
from tests.integration.identity.support import API, ClockedMailbox
from tests.integration.providers.conftest import sandboxes
from tests.integration.test_orders_http import (
    FAULTS,
    RECONCILE_GRACE,
    Trader,
    at_the_broker,
    backend,
    mailbox,
    run_job,
    trader,
    worker,
)

__all__ = ["backend", "mailbox", "sandboxes", "served", "trader", "worker"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WEBHOOK = f"{API}/webhooks/upstox"


async def lost_answer(trader: Trader, sandboxes: BrokerSandboxes) -> tuple[dict[str, Any], str]:
    """An order the broker accepted whose answer never came: ours, and the broker's id."""
    fault = {"path": "/v3/order/place", "method": "POST", "kind": "timeout_after_accept"}
    armed = await trader.client.post(FAULTS, json={**fault, "seconds": 0})
    assert armed.status_code == 201, armed.text
    placed = await trader.place(trader.order())
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert (order["status"], order["broker_order_id"]) == ("unknown", None)
    [sent] = at_the_broker(sandboxes)
    return order, upstox_id(sent)


async def deliver_update(trader: Trader, broker_id: str, tag: str | None) -> None:
    body = {
        "update_type": "order",
        "order_id": broker_id,
        "status": "open",
        "user_id": "7A1B2C",
        "tag": tag,
    }
    delivered = await trader.client.post(
        WEBHOOK, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json() == {"received": True, "duplicate": False}


async def once(
    trader: Trader, order_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The order once ``done`` holds of it (a job of the worker moves it on)."""
    async with asyncio.timeout(10):
        while True:
            order: dict[str, Any] = (await trader.get(order_id)).json()
            if done(order):
                return order
            await asyncio.sleep(0.05)


async def settled(trader: Trader, order_id: str) -> dict[str, Any]:
    """The order once it has left ``unknown`` (the worker settles it)."""
    return await once(trader, order_id, lambda order: order["status"] != "unknown")


async def test_an_update_naming_our_tag_settles_the_order_at_once(
    trader: Trader, sandboxes: BrokerSandboxes, worker: JobQueue
) -> None:
    order, broker_id = await lost_answer(trader, sandboxes)
    await deliver_update(trader, broker_id, order["client_reference"])
    done = await settled(trader, order["id"])  # no clock moved: the grace period is not waited
    assert done["status"] in ("submitted", "open"), done
    assert done["broker_order_id"] == broker_id
    assert len(at_the_broker(sandboxes)) == 1


async def test_an_update_without_our_tag_is_kept_and_the_reconciler_settles_the_order(
    trader: Trader, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes, worker: JobQueue
) -> None:
    order, broker_id = await lost_answer(trader, sandboxes)
    await deliver_update(trader, broker_id, None)
    assert (await trader.get(order["id"])).json()["status"] == "unknown"

    mailbox.clock.advance(seconds=RECONCILE_GRACE + 1)
    await run_job(worker, "reconcile_orders")
    done = (await trader.get(order["id"])).json()
    assert done["status"] in ("submitted", "open"), done
    assert done["broker_order_id"] == broker_id
    assert len(at_the_broker(sandboxes)) == 1


async def test_an_update_about_an_order_changed_in_upstox_gives_it_upstoxs_terms(
    trader: Trader, sandboxes: BrokerSandboxes, worker: JobQueue
) -> None:
    """The person changes a resting order in Upstox's own app; Upstox's update (a hint, so
    the order is read again) brings its new quantity and price."""
    placed = await trader.place(trader.order())
    assert placed.status_code == 201, placed.text
    order = placed.json()
    [resting] = at_the_broker(sandboxes)
    exchange = sandboxes.apps["upstox"].exchange
    exchange.modify(resting.id, quantity=Decimal(12), price=Decimal("1395.50"))

    await deliver_update(trader, order["broker_order_id"], order["client_reference"])

    changed = await once(trader, order["id"], lambda seen: seen["quantity"] != "10")
    assert (changed["quantity"], changed["limit_price"]) == ("12", "1395.50")
    assert len(at_the_broker(sandboxes)) == 1
