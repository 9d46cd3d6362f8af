"""Changing and cancelling an order (issue #8; security.md ORD-3).

Rules:
- Only the owner may change or cancel an order (another user's id is a 404); a final order, or
  one that has not reached the broker yet (``pending_submit``, ``unknown``), cannot be changed
  (``Conflict``).
- The order's connection must still be usable and allowed to trade, by the rule that places
  one (:func:`~dashcore.application.orders_place.ensure_tradable`); a deleted connection is
  ``ReauthRequired`` ``connection_not_usable`` too (connect again, or change the order at the
  broker). Nothing reaches the broker then.
- A modification is checked locally first (positive, on the tick, whole lots), and the order as
  changed must pass the placing rules: within the user's order limits (``OrderLimitExceeded``;
  for the daily limit, the order counts as changed on the day it was placed), and worth more
  than the step-up threshold, it needs a recent step-up (``StepUpRequired``), so a small order
  cannot be placed within them and then grown past them. An order that grows counts at its
  changed value from that check (committed with it) until the broker's answer is saved, so an
  order placed meanwhile cannot spend the same room of the day's limit; a broker that refuses
  the change, or that nothing reached, gives the room back, and a lost answer keeps it held
  (fails closed). Then it is sent; the
  order takes what the broker answers, including a new broker id where the broker replaces the
  order on modify (Schwab). The quantity asked is the whole order's: the broker order is asked
  for it less what the broker orders it replaced filled. A broker refusal is raised as the
  broker's error and changes nothing.
- A cancel is recorded ``cancel_requested`` (committed, audited) before the broker is called;
  the order becomes ``cancelled`` only when the broker confirms. A broker that refuses (the
  order filled meanwhile) leaves the order as the broker reports it; a broker that cannot be
  reached leaves it ``cancel_requested`` for the next poll to settle. A broker that turns the
  request away unread (the session is refused: ``ReauthRequired``; the account may not trade:
  ``Forbidden``) has not taken the cancel: the order returns to its status before the request
  and the error is raised.
- A refused session (``ReauthRequired`` from the broker) on a change or a cancel moves the
  connection to ``needs_reauth``, as it does when an order is placed.
- The broker's answer to a change or a cancel is read with its executions, as at placement:
  a change that makes the order marketable fills it at once, and a cancel can lose the race
  to a fill; every fill newly learnt becomes a trade.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from dashcore.application.order_limits import OrderLimitGate
from dashcore.application.orders import (
    BrokerAccess,
    OrderJournal,
    Trader,
    TradingPolicy,
    follow_replacement,
    order_not_found,
    with_fills,
)
from dashcore.application.orders_place import (
    connection_refused,
    ensure_tradable,
    order_value,
    require_step_up_for_value,
)
from dashcore.application.step_up import StepUpGate
from dashcore.domain.capabilities import CapabilityMap
from dashcore.domain.errors import (
    NOTHING_SENT_CODES,
    Conflict,
    DashcoreError,
    Forbidden,
    InvalidInput,
    NotFound,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.order_limits import holding_room, room_released
from dashcore.domain.orders import Order, OrderChange, OrderStatus
from dashcore.domain.trading import PlacedOrder
from dashcore.ports.brokers import BrokerSession
from dashcore.ports.clock import Clock
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.trading import OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = ["CancelOrder", "LiveOrders", "ModifyOrder"]


class LiveOrders:
    """The caller's orders that can still be changed, with a session to change them in."""

    def __init__(
        self,
        orders: OrderRepository,
        connections: ProviderConnectionRepository,
        brokers: BrokerAccess,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._connections = connections
        self._brokers = brokers
        self._uow = uow
        self._clock = clock

    async def get(self, user_id: UUID, order_id: UUID) -> tuple[PlacedOrder, BrokerSession, str]:
        """The caller's order that the broker holds and that is not final, a session on its
        connection, and its broker id."""
        order = await self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise order_not_found()
        if order.is_final or order.broker_order_id is None:
            raise Conflict(_unchangeable(order), code="order_not_changeable")
        connection = await self._connections.get(order.connection_id)
        if connection is None:
            raise ReauthRequired(
                "The connection this order was placed through is gone: connect again, or "
                "change the order at the broker.",
                code="connection_not_usable",
            )
        ensure_tradable(connection, self._clock.now())
        session = await self._brokers.session_on(connection)
        await self._uow.rollback()  # no transaction open while the broker answers
        return order, session, order.broker_order_id

    async def with_fills(self, order: PlacedOrder, session: BrokerSession, report: Order) -> Order:
        """``report`` with its executions, where the broker lists them apart (as at placement):
        a change can fill the order at once, and a final order is never polled again."""
        return await with_fills(session, self.capabilities(order), report)

    def capabilities(self, order: PlacedOrder) -> CapabilityMap:
        return self._brokers.gateway(order.provider).capabilities

    async def refused(self, order: PlacedOrder, error: ReauthRequired) -> None:
        """The broker refused the session of ``order``'s connection: it needs a new login."""
        await connection_refused(
            self._connections, self._uow, self._clock.now(), order.connection_id, error
        )


def _unchangeable(order: PlacedOrder) -> str:
    """Why ``order`` cannot be changed, in words a person can act on."""
    if order.is_final:
        return f"The order is {order.status.replace('_', ' ')}: it cannot be changed."
    if order.status is OrderStatus.UNKNOWN:
        return (
            "The broker's answer to this order was lost; it is being looked up at the broker. "
            "Try again once its status is known."
        )
    return "The order has not reached the broker yet; try again once it has."


class ModifyOrder:
    def __init__(
        self,
        live: LiveOrders,
        journal: OrderJournal,
        gate: StepUpGate,
        limits: OrderLimitGate,
        policy: TradingPolicy,
        uow: UnitOfWork,
    ) -> None:
        self._live = live
        self._journal = journal
        self._gate = gate
        self._limits = limits
        self._policy = policy
        self._uow = uow

    async def __call__(self, trader: Trader, order_id: UUID, change: OrderChange) -> PlacedOrder:
        order, session, broker_id = await self._live.get(trader.user_id, order_id)
        changed = order.changed_request(change)  # checked here, before the broker sees it
        value = await order_value(
            self._uow,
            (changed.quantity, changed.limit_price or changed.stop_price),
            changed.instrument,
            session,
        )
        await self._limits.check(
            trader.user_id, changed.instrument.currency, changed.quantity, value, replacing=order
        )
        await require_step_up_for_value(self._gate, self._policy, trader, value, changed.instrument)
        held = await self._hold_room(trader, order, value)  # commits: none open at the broker
        try:
            report = await session.orders.modify(
                order.account_id, broker_id, order.broker_change(change)
            )
        except Exception as error:
            if held is not None and _refused_unsent(error):
                await self._release_room(trader, order, held)
            if isinstance(error, ReauthRequired):
                await self._live.refused(order, error)
            elif isinstance(error, Conflict) and error.code == "order_not_open":
                await self._catch_up(trader, order, session, broker_id)
            raise
        report = await self._live.with_fills(order, session, report)
        return await self._journal.change(
            order.id,
            trader.context,
            lambda o, now: o.modified(change, report, now, estimated_value=value),
            action="order_modified",
            metadata={"previous_broker_order_id": broker_id},
        )

    async def _catch_up(
        self, trader: Trader, order: PlacedOrder, session: BrokerSession, broker_id: str
    ) -> None:
        """The broker says the order ended meanwhile (filled, cancelled): record how, as a
        poll would, so that the refusal's 409 and the order read next agree. Found by QA: the
        order read ``open`` until the next poll. Best effort: a broker that does not answer
        leaves it to the poll."""
        try:
            report = await session.orders.get(order.account_id, broker_id)
            report = await self._live.with_fills(order, session, report)
        except (ProviderUnavailable, RateLimited, OrderStateUnknown, NotFound):
            return
        await self._journal.change(
            order.id,
            trader.context,
            lambda o, now: o.observed(report, now, asked_at_version=order.version),
        )

    async def _hold_room(
        self, trader: Trader, order: PlacedOrder, value: Decimal | None
    ) -> Decimal | None:
        """Count the order at ``value`` while the broker answers, when that is more than it
        counts now, in the transaction whose limit check read the day's total; the value held,
        or ``None``. Ends the transaction either way."""
        if value is None:  # an unpriced change holds nothing: no need to read the order again
            await self._uow.rollback()
            return None
        saved = await self._journal.change(
            order.id, trader.context, lambda o, now: holding_room(o, value)
        )
        return value if saved.estimated_value == value else None

    async def _release_room(self, trader: Trader, order: PlacedOrder, held: Decimal) -> None:
        """The broker did not take the change: the order counts as it did before it again."""
        await self._journal.change(
            order.id, trader.context, lambda o, now: room_released(o, held, order.estimated_value)
        )


def _refused_unsent(error: Exception) -> bool:
    """Whether the broker provably did not take a modification that failed with ``error``: it
    answered with a refusal, or nothing reached it. A lost answer (a timeout after sending, an
    unreadable reply) or an unexpected error may hide a change the broker made."""
    if isinstance(error, OrderStateUnknown):
        return False
    if isinstance(error, ProviderUnavailable):
        return error.code in NOTHING_SENT_CODES
    return isinstance(error, DashcoreError)


class CancelOrder:
    def __init__(self, live: LiveOrders, journal: OrderJournal) -> None:
        self._live = live
        self._journal = journal

    async def __call__(self, trader: Trader, order_id: UUID) -> PlacedOrder:
        order, session, broker_id = await self._live.get(trader.user_id, order_id)
        requested = await self._journal.change(
            order.id, trader.context, lambda o, now: o.cancel_requested(now)
        )
        try:
            report = await session.orders.cancel(order.account_id, broker_id)
        except (Conflict, InvalidInput, NotFound):
            try:
                report = await session.orders.get(order.account_id, broker_id)
            except (ProviderUnavailable, RateLimited, OrderStateUnknown):
                return requested
            if report.replaced_by is not None:  # it lives on under another id: cancel that
                capabilities = self._live.capabilities(order)
                await follow_replacement(
                    self._journal, session, capabilities, order, report, trader.context
                )
                return await self(trader, order_id)
            report = await self._live.with_fills(order, session, report)
            return await self._journal.change(
                order.id, trader.context, lambda o, now: o.cancel_refused(report, now)
            )
        except (ProviderUnavailable, RateLimited, OrderStateUnknown):
            return requested
        except (ReauthRequired, Forbidden) as error:
            await self._journal.change(
                order.id, trader.context, lambda o, now: o.cancel_not_taken(order.status, now)
            )
            if isinstance(error, ReauthRequired):
                await self._live.refused(order, error)
            raise
        report = await self._live.with_fills(order, session, report)
        return await self._journal.change(
            order.id,
            trader.context,
            lambda o, now: o.observed(report, now, asked_at_version=requested.version),
        )
