"""Following a webhook's hint about an order (security.md WH-2, b.7; issue #8).

Rules:
- A hint names the broker's order id. The order bound to it is re-read at the broker and what
  is newer is applied (``RefreshOrderStatus``); the payload is never believed.
- A hint may arrive before our order has the broker's id: the answer to our placement is still
  on its way (``pending_submit``) or was lost (``unknown``). When the hint also carries the
  client reference we sent (Kite/Upstox ``tag``, a generic event's ``client_reference``) and
  that finds such an order, the order's settling is queued as a job
  (:data:`SETTLE_HINTED_ORDER_TASK`) rather than done while the broker's webhook waits: the
  job looks the order up at the broker by its client reference (``ReconcileOrders.reconcile``),
  which binds the broker's id at once instead of after the reconciler's grace period. Nothing
  is ever sent again.
- A hint that finds no order of ours is dropped. Either way the delivery stays stored, and the
  reconciler and the order-status poll settle every order whatever happens to its hints.
- A hint that does not authenticate its sender and its freshness (a Kite postback, whose
  checksum is replayable for ever with any status; an Upstox update, which anyone can post)
  makes the broker re-read a given order at most once per :data:`HINT_REREAD_POLICY` window
  (5 s, per provider and broker order id, on the shared rate limiter, so across every API
  process on Redis). Without it, each forged or replayed hint about one of our orders would
  spend its owner's broker rate budget. A hint inside the window is stored and audited like
  any other but followed no further (``throttled``); the order-status poll (30 s) and the
  reconciler bring whatever it announced. HMAC-signed events are not throttled: only the
  holder of the secret can make one, each is fresh and deduplicated, and a trusted relay's
  quick succession of updates (open, then filled) is followed at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from dashcore.application.orders_reconcile import ReconcileOrders, RefreshOrderStatus
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.webhooks import authenticates_each_delivery
from dashcore.ports.jobs import JobQueue
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.trading import OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "HINT_REREAD_POLICY",
    "SETTLE_HINTED_ORDER_TASK",
    "FollowOrderHint",
    "HintOutcome",
    "HintResult",
    "SettleHintedOrder",
]

SETTLE_HINTED_ORDER_TASK = "settle_hinted_order"
HINT_REREAD_POLICY = RatePolicy(
    "order_hint_reread", 1, 5, "broker re-reads of one order for unauthenticated webhook hints"
)
"""One re-read per order per 5 s: a burst of forged or replayed hints costs the broker at most
one read of that order every 5 s, while a genuine update is followed within seconds (and
the 30 s poll brings what a throttled one announced)."""


class HintOutcome(StrEnum):
    APPLIED = "applied"
    """The order bound to the broker's id was re-read at the broker."""
    QUEUED = "queued"
    """The order waiting for that broker id is to be settled by a job."""
    UNMATCHED = "unmatched"
    """No order of ours: dropped."""
    THROTTLED = "throttled"
    """An unauthenticated hint about an order re-read within the window: not followed."""


@dataclass(frozen=True, slots=True)
class HintResult:
    outcome: HintOutcome
    order_id: UUID | None = None


class FollowOrderHint:
    def __init__(
        self,
        orders: OrderRepository,
        refresh: RefreshOrderStatus,
        jobs: JobQueue,
        uow: UnitOfWork,
        limiter: RateLimiter,
    ) -> None:
        self._orders = orders
        self._refresh = refresh
        self._jobs = jobs
        self._uow = uow
        self._limiter = limiter

    async def __call__(
        self, provider: str, broker_order_id: str, client_reference: str | None
    ) -> HintResult:
        if not authenticates_each_delivery(provider):
            decision = await self._limiter.hit(HINT_REREAD_POLICY, f"{provider}:{broker_order_id}")
            if not decision.allowed:
                return HintResult(HintOutcome.THROTTLED)
        refreshed = await self._refresh.by_broker_id(provider, broker_order_id)
        if refreshed is not None:
            return HintResult(HintOutcome.APPLIED, refreshed.id)
        if client_reference is None:
            return HintResult(HintOutcome.UNMATCHED)
        waiting = await self._orders.unbound_by_client_reference(provider, client_reference)
        await self._uow.rollback()
        if waiting is None:
            return HintResult(HintOutcome.UNMATCHED)
        await self._jobs.enqueue(SETTLE_HINTED_ORDER_TASK, order_id=str(waiting.id))
        return HintResult(HintOutcome.QUEUED, waiting.id)


class SettleHintedOrder:
    """Settle one order a hint named: bound since (its placement's answer was stored
    meanwhile), re-read at the broker; still without a broker id, looked up at the broker
    by its client reference now, without waiting for the reconciler's grace period (the hint
    says the broker holds it). An order still being sent is left to its placer."""

    def __init__(
        self,
        orders: OrderRepository,
        reconcile: ReconcileOrders,
        refresh: RefreshOrderStatus,
        uow: UnitOfWork,
    ) -> None:
        self._orders = orders
        self._reconcile = reconcile
        self._refresh = refresh
        self._uow = uow

    async def __call__(self, order_id: UUID) -> str | None:
        """What was done: ``refreshed``, or the reconciler's ``settled``, ``waiting``,
        ``rejected``, ``needs_review``; ``None`` for an order that is gone or final."""
        order = await self._orders.get(order_id)
        await self._uow.rollback()
        if order is None or order.is_final:
            return None
        if order.broker_order_id is not None:
            await self._refresh(order.id)
            return "refreshed"
        if not order.needs_reconciliation:
            return None
        return await self._reconcile.reconcile(order)
