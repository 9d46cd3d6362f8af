"""Settling and following orders (issue #8; security.md ORD-2, c.2)."""

from __future__ import annotations

from uuid import UUID

import structlog
from dishka import FromDishka

from dashcore.application.orders_reconcile import PollOpenOrders, ReconcileOrders
from dashcore.application.webhooks_hints import SETTLE_HINTED_ORDER_TASK, SettleHintedOrder
from dashcore.domain.errors import InvalidInput
from dashcore_worker.registry import job_task

__all__ = ["poll_orders", "reconcile_orders", "settle_hinted_order"]

_log = structlog.get_logger("dashcore_worker")


@job_task("reconcile_orders")
async def reconcile_orders(reconcile: FromDishka[ReconcileOrders]) -> None:
    """Look up, by client reference, the orders whose broker answer was lost (``unknown``) or
    that can no longer be sent, once their grace period (then their backoff) has passed; never
    send one again. A round that flags an order ``needs_review`` logs at warning level."""
    done = await reconcile()
    if done.settled or done.rejected or done.needs_review:
        log = _log.warning if done.needs_review else _log.info  # needs_review: a person must look
        log(
            "orders_reconciled",
            settled=done.settled,
            rejected=done.rejected,
            waiting=done.waiting,
            needs_review=done.needs_review,
        )


@job_task("poll_orders")
async def poll_orders(poll: FromDishka[PollOpenOrders]) -> None:
    """Re-read every order a broker holds that is not final (one broker failing stops none of
    the others); an older report never overwrites a newer state. Orders whose connection needs
    a new login are skipped (counted), not sent to the broker."""
    done = await poll()
    if done.changed or done.failed or done.skipped:
        _log.info(
            "orders_polled",
            refreshed=done.refreshed,
            changed=done.changed,
            failed=done.failed,
            skipped=done.skipped,
        )


@job_task(SETTLE_HINTED_ORDER_TASK)
async def settle_hinted_order(order_id: str, settle: FromDishka[SettleHintedOrder]) -> None:
    """Settle the order a webhook named by its client reference before the order had the
    broker's id: looked up at the broker now, not after the reconciler's grace period."""
    try:
        identifier = UUID(order_id)
    except ValueError:
        raise InvalidInput("Not an order id.", field="order_id") from None
    done = await settle(identifier)
    _log.info("hinted_order_settled", order_id=order_id, outcome=done)
