"""Settling orders with the broker (issue #8; security.md ORD-2, c.2, c.4).

**Reconciliation** (:class:`ReconcileOrders`) looks up, by client reference (or, for a broker
that keeps none, by the order's fields), every ``unknown`` order, and every ``pending_submit``
order that can no longer be sent, once the grace period has passed:

- found: the order takes the broker's id and state;
- found, but the broker order is already bound to another of our orders (two identical orders
  at a broker that matches by fields): nothing is guessed, the order stays with
  ``needs_review`` recorded;
- not found once ``submit_deadline + reconcile_grace`` has passed: ``rejected`` with
  ``not_received_by_broker`` (the broker could not have received it any later); before that
  it waits. Not found in a day order book (Kite, Upstox, Groww: ``day_order_book``) that no
  longer covers the day the order was sent proves nothing — the order may have been taken and
  filled that day: it is flagged ``needs_review`` (``order_book_rolled_over``: check that
  day's contract note), never rejected;
- the broker cannot be asked (down, rate limited, credentials gone): it waits. An order on a
  connection that needs a new login (or whose credentials ended) is not looked up at all — the
  broker is never called on a dead token — and is never taken for not received on that
  account: it stays ``unknown`` until the person logs in again. A broker that refuses the
  session moves the connection to ``needs_reauth``, as placing an order does.

An order that waits is looked at again after a backoff (1, 2, 4 … 60 s, ``TradingPolicy``);
one still unsettled ``reconcile_window`` (15 min) after its first look is flagged
``needs_review`` once, with an ``order_needs_review`` audit event (the alert), and is still
looked up every minute in case the broker answers. Nothing is ever sent again.

**Refreshing** (:class:`RefreshOrderStatus`) re-reads one order the broker holds, with its fills,
and applies it by the monotonic rule of :mod:`dashcore.domain.trading`; polling
(:class:`PollOpenOrders`) refreshes every order that is not final, page by page, and webhooks
call the same use case by the broker's order id. An order whose connection is not usable is
not re-read (``ReauthRequired`` ``connection_not_usable``, no broker call): the poll skips it,
and every other order of that connection in the round, and follows them again once the person
logs in. A broker that refuses the session moves the connection to ``needs_reauth``.

No transaction is open while a broker answers (the lookup, the re-read, the fills): a slow
broker must never hold database locks (on SQLite, every transaction holds the database's
single write lock). What was read before a broker call is read again in the transaction that
writes on it (the order under its lock, and which order holds the broker's order id).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from dashcore.application.orders import (
    BrokerAccess,
    OrderJournal,
    TradingPolicy,
    follow_replacement,
    order_not_found,
    with_fills,
)
from dashcore.application.orders_place import connection_refused
from dashcore.domain.context import SYSTEM
from dashcore.domain.errors import (
    DashcoreError,
    DecryptionFailed,
    NotFound,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.trading import OrderCursor, OrderFailure, PlacedOrder
from dashcore.ports.clock import Clock
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.trading import OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "NOT_RECEIVED",
    "PollOpenOrders",
    "PollRound",
    "ReconcileOrders",
    "ReconcileRound",
    "RefreshOrderStatus",
]

NOT_RECEIVED = OrderFailure(
    "not_received_by_broker", "The broker never received this order; nothing was placed."
)
BOOK_ROLLED_OVER = OrderFailure(
    "order_book_rolled_over",
    "The broker's order book no longer holds the day this order was sent: check that day's "
    "contract note for it.",
)
NEEDS_REVIEW = OrderFailure(
    "needs_review",
    "The broker holds a matching order that another order already accounts for; "
    "it needs a person to look.",
)
RECONCILE_EXHAUSTED = OrderFailure(
    "needs_review",
    "The broker could not say whether it holds this order for the whole reconciliation "
    "window; it needs a person to look (it is never sent again).",
)
_UNREACHABLE = (
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
    OrderStateUnknown,
    NotFound,
    DecryptionFailed,
)
"""The broker (or the connection's credentials) cannot answer now: try next round."""


@dataclass(frozen=True, slots=True)
class ReconcileRound:
    settled: int = 0
    rejected: int = 0
    waiting: int = 0
    needs_review: int = 0


@dataclass(frozen=True, slots=True)
class PollRound:
    """``skipped``: orders not re-read because their connection needs a new login."""

    refreshed: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0


class ReconcileOrders:
    def __init__(
        self,
        orders: OrderRepository,
        brokers: BrokerAccess,
        connections: ProviderConnectionRepository,
        journal: OrderJournal,
        uow: UnitOfWork,
        clock: Clock,
        policy: TradingPolicy,
    ) -> None:
        self._orders = orders
        self._brokers = brokers
        self._connections = connections
        self._journal = journal
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self, *, limit: int = 100) -> ReconcileRound:
        """One round over at most ``limit`` orders that are due, longest waiting first."""
        now = self._clock.now()
        candidates = await self._orders.needing_reconciliation(
            now - self._policy.reconcile_grace, due_at=now, limit=limit
        )
        await self._uow.rollback()
        counts = {"settled": 0, "rejected": 0, "waiting": 0, "needs_review": 0}
        for order in candidates:
            counts[await self.reconcile(order)] += 1
        return ReconcileRound(**counts)

    async def reconcile(self, order: PlacedOrder) -> str:
        """Settle one order; which of the round's counts it adds to."""
        if order.can_send(self._clock.now()):
            return "waiting"  # its placer may still send it
        try:
            session = await self._brokers.session(order.provider, order.connection_id)
        except _UNREACHABLE:  # not usable (nothing asked), or its refresh could not be done
            await self._uow.rollback()
            return await self._defer(order)
        await self._uow.rollback()  # no transaction open while the broker answers
        try:
            found = await session.orders.find_by_client_reference(order.account_id, order.request)
        except ReauthRequired as error:
            await connection_refused(
                self._connections, self._uow, self._clock.now(), order.connection_id, error
            )
            return await self._defer(order)
        except _UNREACHABLE:
            await self._uow.rollback()
            return await self._defer(order)
        if found is None:
            now = self._clock.now()
            if not self._policy.given_up(order, now):
                return await self._defer(order)
            capabilities = self._brokers.gateway(order.provider).capabilities
            if not capabilities.lists_orders_sent_at(order.created_at, now):
                return await self._defer(order, BOOK_ROLLED_OVER)
            await self._journal.change(
                order.id, SYSTEM, lambda o, now: o.rejected(now, NOT_RECEIVED)
            )
            return "rejected"
        if await self._bound_elsewhere(order, found.provider_order_id):
            await self._defer(order, NEEDS_REVIEW)
            return "needs_review"
        await self._uow.rollback()  # no transaction open while the broker answers
        report = await with_fills(
            session, self._brokers.gateway(order.provider).capabilities, found
        )
        # Read again in the transaction that binds it: another order may have taken it since.
        if await self._bound_elsewhere(order, found.provider_order_id):
            await self._defer(order, NEEDS_REVIEW)
            return "needs_review"
        await self._journal.change(order.id, SYSTEM, lambda o, now: o.accepted(report, now))
        return "settled"

    async def _bound_elsewhere(self, order: PlacedOrder, broker_order_id: str) -> bool:
        """The broker order is already bound to another of our orders."""
        holder = await self._orders.by_broker_order_id(order.provider, broker_order_id)
        return holder is not None and holder.id != order.id

    async def _defer(self, order: PlacedOrder, flag: OrderFailure | None = None) -> str:
        """Look again after the backoff. ``flag`` (or, once the window is over, the exhausted
        flag) is recorded on the first such look, audited as ``order_needs_review``."""
        now = self._clock.now()
        if flag is None and self._policy.reconcile_exhausted(order, now):
            flag = RECONCILE_EXHAUSTED
        until = self._policy.next_reconcile(order, now)
        if flag is None or order.last_error == flag:
            await self._journal.change(
                order.id, SYSTEM, lambda o, at: o.reconcile_deferred(at, until)
            )
            return "waiting" if flag is None else "needs_review"
        reason = flag
        await self._journal.change(
            order.id,
            SYSTEM,
            lambda o, at: o.flagged(at, reason).reconcile_deferred(at, until),
            action="order_needs_review",
        )
        return "needs_review"


class RefreshOrderStatus:
    def __init__(
        self,
        orders: OrderRepository,
        brokers: BrokerAccess,
        connections: ProviderConnectionRepository,
        journal: OrderJournal,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._brokers = brokers
        self._connections = connections
        self._journal = journal
        self._uow = uow
        self._clock = clock

    async def __call__(self, order_id: UUID) -> PlacedOrder:
        """Re-read the order at the broker and apply what is newer. An order the broker does
        not hold yet (``pending_submit``, ``unknown``) is the reconciler's: returned as is. On a
        connection that is not usable: ``ReauthRequired`` ``connection_not_usable``, the broker
        not called; a broker that refuses the session: its ``ReauthRequired``, the connection
        moved to ``needs_reauth``."""
        order = await self._orders.get(order_id)
        if order is None:
            raise order_not_found()
        return await self._refresh(order)

    async def by_broker_id(self, provider: str, broker_order_id: str) -> PlacedOrder | None:
        """The same, for the order bound to a broker's order id (webhooks name that);
        ``None`` when no order of ours is."""
        order = await self._orders.by_broker_order_id(provider, broker_order_id)
        if order is None:
            await self._uow.rollback()
            return None
        return await self._refresh(order)

    async def _refresh(self, order: PlacedOrder) -> PlacedOrder:
        broker_id = order.broker_order_id
        if broker_id is None:
            await self._uow.rollback()
            return order
        session = await self._brokers.session(order.provider, order.connection_id)
        await self._uow.rollback()  # no transaction open while the broker answers
        capabilities = self._brokers.gateway(order.provider).capabilities
        try:
            report = await session.orders.get(order.account_id, broker_id)
            if report.replaced_by is not None:
                return await follow_replacement(
                    self._journal, session, capabilities, order, report, SYSTEM
                )
            report = await with_fills(session, capabilities, report)
        except ReauthRequired as error:
            await self._uow.rollback()
            await connection_refused(
                self._connections, self._uow, self._clock.now(), order.connection_id, error
            )
            raise
        return await self._journal.change(
            order.id, SYSTEM, lambda o, now: o.observed(report, now, asked_at_version=order.version)
        )


class PollOpenOrders:
    """Refresh every order that is not final (the polling job), page by page; one order
    failing (its broker unreachable, or a report its lifecycle refuses: a broker bug) does not
    stop the others and is counted. An order whose connection needs a new login is skipped
    (counted), and so is every later order of that connection in the round: the broker is
    not called again on it until the person logs in."""

    def __init__(
        self, orders: OrderRepository, refresh: RefreshOrderStatus, uow: UnitOfWork
    ) -> None:
        self._orders = orders
        self._refresh = refresh
        self._uow = uow

    async def __call__(self, *, page_size: int = 100) -> PollRound:
        refreshed = changed = failed = skipped = 0
        needs_login: set[UUID] = set()
        after: OrderCursor | None = None
        while True:
            page = await self._orders.open_orders(after=after, limit=page_size)
            await self._uow.rollback()
            for order in page:
                if order.connection_id in needs_login:
                    skipped += 1
                    continue
                try:
                    fresh = await self._refresh(order.id)
                except ReauthRequired:  # not usable, or refused by the broker just now
                    await self._uow.rollback()
                    needs_login.add(order.connection_id)
                    skipped += 1
                    continue
                except DashcoreError:  # unreachable, or a report the lifecycle refuses
                    await self._uow.rollback()
                    failed += 1
                    continue
                refreshed += 1
                changed += fresh.version != order.version
            if len(page) < page_size:
                return PollRound(refreshed, changed, failed, skipped)
            after = OrderCursor.after(page[-1])
