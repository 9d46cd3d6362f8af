"""Orders (issue #8; security.md ORD-1..3, AUD-1): what every order use case shares, and reading
a user's orders.

Rules:
- An order belongs to the user who placed it; another user's order id is a 404, exactly like one
  that does not exist (ORD-3).
- Every change of an order's state is written through :class:`OrderJournal`: the row is read
  under its lock, changed by a domain method, saved (optimistic ``version``) and audited in the
  same unit of work, then committed. No transaction is open while a broker answers.
- A broker session is opened on the connection's sealed credentials (:class:`BrokerAccess`), and
  only on a usable connection: one that needs a new login (``needs_reauth``, or past its
  credentials' end) is ``ReauthRequired`` ``connection_not_usable`` and the broker is never
  called; a refreshable one whose access token is ending is refreshed first. A provider
  without a trading side is ``NotSupported``.
- Listings are newest first, by keyset on ``(created_at, id)``, at most 100 a page.

The use cases live beside this module: :mod:`.orders_place` (place, preview),
:mod:`.orders_manage` (modify, cancel) and :mod:`.orders_reconcile` (reconcile, refresh, poll).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.connections import CredentialStore, RefreshConnections
from dashcore.application.trades import RecordFills
from dashcore.domain.audit import MetadataValue
from dashcore.domain.capabilities import CapabilityMap, Operation
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.context import SYSTEM, CallerContext
from dashcore.domain.errors import (
    Conflict,
    DashcoreError,
    InvalidInput,
    NotFound,
    NotSupported,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.instruments import Instrument, InstrumentKey
from dashcore.domain.money import Currency, plain_decimal
from dashcore.domain.orders import Order
from dashcore.domain.portfolio import Page
from dashcore.domain.trading import OrderCursor, OrderFailure, OrderFilters, PlacedOrder
from dashcore.ports.brokers import BrokerGateway, BrokerSession
from dashcore.ports.clock import Clock
from dashcore.ports.providers import ProviderConnectionRepository, ProviderRegistry
from dashcore.ports.trading import InstrumentCatalog, OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "MAX_PAGE",
    "BrokerAccess",
    "GetOrder",
    "InstrumentLookup",
    "ListOrders",
    "OrderJournal",
    "Trader",
    "TradingPolicy",
    "connection_not_usable",
    "failure_of",
    "follow_replacement",
    "order_not_found",
    "with_fills",
]

MAX_PAGE = 100
NO_CURRENCY = Currency("XXX")
"""ISO 4217's "no currency": the placeholder of an instrument asked about before its currency
is known (see :class:`InstrumentLookup`)."""
_VERSION_CONFLICT = "order_version_conflict"
"""The code of the ``Conflict`` an ``OrderRepository.save`` raises for a stale version."""


def order_not_found() -> NotFound:
    return NotFound("No such order.", code="order_not_found")


def connection_not_usable() -> ReauthRequired:
    return ReauthRequired(
        "This connection needs you to sign in at the provider again.",
        code="connection_not_usable",
    )


def failure_of(error: DashcoreError) -> OrderFailure:
    """What is kept of an error on an order: its code and message (no payloads, no secrets)."""
    return OrderFailure(error.code, error.message)


@dataclass(frozen=True, slots=True)
class Trader:
    """Who places or changes an order: the user, when and how they last authenticated (for
    step-up), and the request facts audit events record."""

    user_id: UUID
    auth_time: datetime
    amr: tuple[str, ...]
    context: CallerContext = field(default_factory=CallerContext)


@dataclass(frozen=True, slots=True)
class TradingPolicy:
    """The limits of order placement and reconciliation (security.md ORD-2, c.2).

    ``step_up_above``: an order worth more than this, in its own currency, needs a recent
    step-up; an order in a currency not listed always does (fail closed), and so does a market
    order whose value cannot be priced. ``submit_deadline``: after this (from creation) an order
    is never sent, and a send that provably did not reach the broker is retried at most
    ``max_send_attempts`` times within it. ``reconcile_grace``: how long an ``unknown`` or
    ``pending_submit`` order is left alone before the reconciler looks it up; it must exceed
    the broker HTTP deadline, so that an answer still on its way is never overtaken. An order
    the broker does not have once ``submit_deadline + reconcile_grace`` has passed was never
    received.

    Between two looks at an order it could not settle, the reconciler waits
    ``reconcile_backoff``, doubled after each look, at most ``reconcile_backoff_max`` (1, 2,
    4 … 60 s). An order still unsettled ``reconcile_window`` after its first look (the broker
    could not be asked all that time) needs a person: it is flagged ``needs_review`` once, and
    still looked up every ``reconcile_backoff_max``, never sent again."""

    step_up_above: Mapping[Currency, Decimal] = field(default_factory=dict)
    submit_deadline: timedelta = timedelta(seconds=30)
    reconcile_grace: timedelta = timedelta(seconds=60)
    max_send_attempts: int = 3
    reconcile_backoff: timedelta = timedelta(seconds=1)
    reconcile_backoff_max: timedelta = timedelta(seconds=60)
    reconcile_window: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        durations = (
            self.submit_deadline,
            self.reconcile_grace,
            self.reconcile_backoff,
            self.reconcile_window,
        )
        if any(duration <= timedelta(0) for duration in durations):
            raise ValueError(
                "the submit deadline, the reconcile grace, backoff and window are positive"
            )
        if self.reconcile_backoff_max < self.reconcile_backoff:
            raise ValueError("the longest reconcile backoff is at least the first")
        if self.max_send_attempts < 1:
            raise ValueError("an order is sent at least once")
        if any(limit < 0 for limit in self.step_up_above.values()):
            raise ValueError("a step-up threshold is not negative")

    def needs_step_up(self, value: Decimal | None, currency: Currency) -> bool:
        limit = self.step_up_above.get(currency)
        return limit is None or value is None or value > limit

    def given_up(self, order: PlacedOrder, now: datetime) -> bool:
        """Past the point where the broker could still receive ``order``."""
        return now >= order.submit_deadline + self.reconcile_grace

    def next_reconcile(self, order: PlacedOrder, now: datetime) -> datetime:
        """When to look for ``order`` again after a look that did not settle it."""
        doublings = min(order.reconcile_attempts, 32)  # 2**32 s is past any cap
        return now + min(self.reconcile_backoff * (1 << doublings), self.reconcile_backoff_max)

    def reconcile_exhausted(self, order: PlacedOrder, now: datetime) -> bool:
        """Reconciliation has tried ``order`` for the whole window (counted from the first
        look, the end of its grace period) without settling it."""
        return now >= order.status_changed_at + self.reconcile_grace + self.reconcile_window


class BrokerAccess:
    """A broker session on a connection's credentials, never on a connection that cannot use
    them (a dead token only earns a refusal from the broker, and calls made on it are wasted
    on the broker's rate limits)."""

    def __init__(
        self,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        connections: ProviderConnectionRepository,
        refresher: RefreshConnections,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._credentials = credentials
        self._connections = connections
        self._refresher = refresher
        self._clock = clock

    def gateway(self, provider: str) -> BrokerGateway:
        gateway = self._registry.get(provider).gateway
        if gateway is None:
            raise NotSupported(f"{provider} does not trade.", code="not_supported")
        return gateway

    async def session(self, provider: str, connection_id: UUID) -> BrokerSession:
        """A session on the connection's credentials. A connection that is not usable now
        (``ProviderConnection.is_usable``: it needs a new login, or its credentials ended) is
        ``ReauthRequired`` ``connection_not_usable``, and the broker is not called. A
        refreshable one whose access token ends within 5 minutes (or has ended) is refreshed
        first, single flight with every other refresh; a refresh the provider refuses leaves
        it ``needs_reauth``, and is ``connection_not_usable`` too."""
        self.gateway(provider)  # NotSupported before any read
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise connection_not_usable()
        return await self.session_on(connection)

    async def session_on(self, connection: ProviderConnection) -> BrokerSession:
        """:meth:`session`, for a connection the caller has just read (not read again)."""
        gateway = self.gateway(connection.provider)
        if not (await self._refresher.fresh(connection, SYSTEM)).is_usable(self._clock.now()):
            raise connection_not_usable()
        return gateway.session(await self._credentials.load(connection.id))


def _terms_changed(before: PlacedOrder, after: PlacedOrder) -> dict[str, MetadataValue]:
    """The audit facts of terms the order took from the broker: each term before and after."""
    facts: dict[str, MetadataValue] = {"changed_at": "broker"}
    for name in ("quantity", "limit_price", "stop_price"):
        for when, order in (("previous_", before), ("", after)):
            value: Decimal | None = getattr(order.request, name)
            facts[when + name] = None if value is None else plain_decimal(value)
    facts["previous_type"], facts["type"] = str(before.request.type), str(after.request.type)
    return facts


async def with_fills(session: BrokerSession, capabilities: CapabilityMap, report: Order) -> Order:
    """``report`` with its executions, where it has filled some and the broker lists them
    apart; as it is when the broker cannot say now (a later refresh brings them)."""
    if report.fills or not report.filled_quantity or not capabilities.supports(Operation.FILLS):
        return report
    try:
        fills = await session.orders.fills(report.provider_account_id, report.provider_order_id)
    except (ProviderUnavailable, RateLimited, NotFound):
        return report
    return replace(report, fills=tuple(fills))


async def follow_replacement(
    journal: OrderJournal,
    session: BrokerSession,
    capabilities: CapabilityMap,
    order: PlacedOrder,
    old: Order,
    caller: CallerContext,
) -> PlacedOrder:
    """``old``, the broker order ``order`` is bound to, was replaced by one we never bound (the
    answer to a modification was lost, or the order was changed at the broker): the order
    follows the replacement, what ``old`` filled carried. It is never taken for cancelled
    while the broker still works it. One replacement per call: a chain is followed a step at a
    time."""
    if old.replaced_by is None:
        raise Conflict("The broker order was not replaced.", code="broker_order_mismatch")
    new = await with_fills(
        session, capabilities, await session.orders.get(order.account_id, old.replaced_by)
    )
    return await journal.change(
        order.id,
        caller,
        lambda current, now: current.replaced(old, new, now),
        action="order_modified",
        metadata={"previous_broker_order_id": old.provider_order_id},
    )


class InstrumentLookup:
    """An instrument as a provider trades it: from the catalog (lot and tick size known), else
    from the provider's quote port (a provider without an instrument master): the quote gives
    the currency, lot and tick stay the defaults (1 and 0.01) and the broker has the last word
    on them."""

    def __init__(self, catalog: InstrumentCatalog) -> None:
        self._catalog = catalog

    async def find(
        self, provider: str, key: InstrumentKey, session: BrokerSession | None
    ) -> Instrument | None:
        found = await self._catalog.find(provider, key)
        if found is not None or session is None:
            return found
        asked = Instrument(key.symbol, key.exchange, NO_CURRENCY)
        price = (await session.quotes.last_prices([asked])).get(str(key))
        return None if price is None else Instrument(key.symbol, key.exchange, price.currency)


class OrderJournal:
    """Writes each change of an order: lock, change, save, audit, record the fills it newly
    learnt of as trades, commit — all in one unit of work."""

    def __init__(
        self,
        orders: OrderRepository,
        audit: AuditTrail,
        fills: RecordFills,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._audit = audit
        self._fills = fills
        self._uow = uow
        self._clock = clock

    async def change(
        self,
        order_id: UUID,
        caller: CallerContext,
        how: Callable[[PlacedOrder, datetime], PlacedOrder],
        *,
        action: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> PlacedOrder:
        """Apply ``how`` to the order as stored now and commit. A move of status is audited as
        ``order_status_changed`` (``action``, when given, is audited whether or not the status
        moved); a change that changes nothing writes nothing."""
        current = await self._orders.lock(order_id)
        if current is None:
            raise order_not_found()
        changed = how(current, self._clock.now())
        if changed is current:
            await self._uow.rollback()
            return current
        return await self._write(current, changed, caller, action, metadata)

    async def advance(
        self,
        order: PlacedOrder,
        caller: CallerContext,
        how: Callable[[PlacedOrder, datetime], PlacedOrder],
    ) -> PlacedOrder:
        """:meth:`change`, for an order as this use case last committed it: the change is
        saved on that ``version`` without reading the row again. When someone else saved the
        order since (or ``how`` changes nothing on this copy), it is applied to the order as
        stored now instead, exactly as :meth:`change` does."""
        changed = how(order, self._clock.now())
        if changed is order:
            return await self.change(order.id, caller, how)
        try:
            return await self._write(order, changed, caller, None, None)
        except Conflict as error:
            if error.code != _VERSION_CONFLICT:
                raise
        await self._uow.rollback()
        return await self.change(order.id, caller, how)

    async def _write(
        self,
        current: PlacedOrder,
        changed: PlacedOrder,
        caller: CallerContext,
        action: str | None,
        metadata: Mapping[str, MetadataValue] | None,
    ) -> PlacedOrder:
        """Save ``changed`` over ``current`` (its version checked), audit it, record its new
        fills, commit. Terms that changed with no ``action`` named are the broker's (a report
        the order followed): audited ``order_modified``, ``changed_at`` ``broker``."""
        saved = await self._orders.save(changed)
        if action is not None:
            await self.record(action, saved, caller, metadata)
        elif saved.request != current.request:
            await self.record("order_modified", saved, caller, _terms_changed(current, saved))
        if saved.status is not current.status:
            await self.record(
                "order_status_changed",
                saved,
                caller,
                {"from": str(current.status), **(metadata or {})},
            )
        known = {fill.trade_id for fill in current.fills}
        new_fills = [fill for fill in saved.fills if fill.trade_id not in known]
        if new_fills:
            await self._fills(saved, new_fills, caller)
        await self._uow.commit()
        return saved

    async def record(
        self,
        action: str,
        order: PlacedOrder,
        caller: CallerContext,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> None:
        facts: dict[str, MetadataValue] = {
            "provider": order.provider,
            "status": str(order.status),
            "broker_order_id": order.broker_order_id,
            **(metadata or {}),
        }
        if order.last_error is not None:
            facts["reason"] = order.last_error.code
        await self._audit.record(action, caller=caller, target=f"order:{order.id}", metadata=facts)


class GetOrder:
    def __init__(self, orders: OrderRepository) -> None:
        self._orders = orders

    async def __call__(self, user_id: UUID, order_id: UUID) -> PlacedOrder:
        order = await self._orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise order_not_found()
        return order


class ListOrders:
    def __init__(self, orders: OrderRepository) -> None:
        self._orders = orders

    async def __call__(
        self,
        user_id: UUID,
        filters: OrderFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[PlacedOrder]:
        """One page of the user's orders, newest first; ``next_cursor`` continues it."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"A page holds 1 to {MAX_PAGE} orders.", field="limit")
        after = None if cursor is None else OrderCursor.decode(cursor)
        rows = await self._orders.list_for_user(
            user_id, filters or OrderFilters(), after=after, limit=limit + 1
        )
        items = tuple(rows[:limit])
        more = len(rows) > limit
        return Page(items, OrderCursor.after(items[-1]).encode() if more else None)
