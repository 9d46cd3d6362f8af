"""A reusable world for order use-case tests: the connections world (fake clock, memory
database, vault, audit, the four real broker adapters on their in-process sandboxes) plus the
trading use cases on memory repositories and the sandboxes' instrument catalog.

Each use case is built on the :class:`MemoryUnitOfWork` it runs in; the arranging helpers run
each step in a fresh one, as separate requests would. Sandbox faults never make the test wait:
the sandboxes' hang is instant, so a ``timeout_after_accept`` answers 504 at once, after the
order was placed.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

from dashcore.application.order_limits import DefaultOrderLimits, OrderLimitGate
from dashcore.application.orders import (
    BrokerAccess,
    GetOrder,
    InstrumentLookup,
    ListOrders,
    OrderJournal,
    Trader,
    TradingPolicy,
)
from dashcore.application.orders_manage import CancelOrder, LiveOrders, ModifyOrder
from dashcore.application.orders_place import Placement, PlaceOrder, PreviewOrder
from dashcore.application.orders_reconcile import (
    PollOpenOrders,
    ReconcileOrders,
    RefreshOrderStatus,
)
from dashcore.application.trades import RecordFills
from dashcore.domain.audit import AuditEvent
from dashcore.domain.connections import KeyCredentials, ProviderConnection
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import OrderLimits
from dashcore.domain.orders import OrderSide, OrderType
from dashcore.domain.trading import IdempotencyKey, OrderDraft, PlacedOrder
from dashcore.domain.users import User
from dashcore.ports.providers import ProviderRegistry
from dashcore_app.trading import sandbox_listings
from dashcore_brokers.groww.gateway import CREATE_PATH
from dashcore_brokers.http import BreakerPolicy, HttpPolicy, RateLimit, RetryPolicy
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.core import Sleep
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.sandbox.exchange import SimOrder
from dashcore_brokers.sandbox.groww import GROWW_USER
from dashcore_brokers.sandbox.schwab.render import account_hash
from dashcore_brokers.sandbox.upstox import UPSTOX_USER
from dashcore_brokers.sandbox.zerodha import KITE_USER
from dashcore_brokers.schwab.gateway import TRADER
from dashcore_brokers.upstox.orders import PLACE_PATH
from dashcore_brokers.zerodha.gateway import PLACE_VARIETY
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.connections import MemoryProviderConnectionRepository
from dashcore_memory.order_limits import MemoryOrderLimitRepository
from dashcore_memory.trades import MemoryTradeRepository
from dashcore_memory.trading import (
    MemoryIdempotencyRepository,
    MemoryInstrumentCatalog,
    MemoryOrderRepository,
)
from dashcore_memory.users import MemoryUserRepository
from tests.unit.connections_world import CALLER, ConnectionsWorld, open_world

__all__ = ["BOOKS", "Book", "OrdersWorld", "open_orders_world"]


@dataclass(frozen=True, slots=True)
class Book:
    """One broker as the order tests trade it: the account as its adapter names it, the
    instrument they trade, where its orders are placed (a fault pattern), its engine account."""

    provider: str
    account_id: str
    instrument: InstrumentKey
    place_path: str
    engine_account: str


BOOKS = {
    "zerodha": Book(
        "zerodha",
        KITE_USER.user_id,
        InstrumentKey("INFY", "NSE"),
        f"/orders/{PLACE_VARIETY}",
        "sandbox-in",
    ),
    "schwab": Book(
        "schwab",
        account_hash("12345678"),
        InstrumentKey("AAPL", "US"),
        f"{TRADER}/accounts/*/orders",
        "sandbox-us",
    ),
    "upstox": Book(
        "upstox", UPSTOX_USER.user_id, InstrumentKey("RELIANCE", "NSE"), PLACE_PATH, "sandbox-in"
    ),
    "groww": Book(
        "groww", GROWW_USER.user_id, InstrumentKey("RELIANCE", "NSE"), CREATE_PATH, "sandbox-in"
    ),
}


async def _instant(_: float) -> None:
    """The sandboxes' hang in timeout faults: none (the answer is withheld all the same)."""


@dataclass
class OrdersWorld:
    world: ConnectionsWorld
    catalog: MemoryInstrumentCatalog
    registry: ProviderRegistry | None = None
    """Replaces the connections world's provider registry (a fake broker around the real)."""
    policy: TradingPolicy = field(
        default_factory=lambda: TradingPolicy(
            step_up_above={Currency("USD"): Decimal(10_000), Currency("INR"): Decimal(500_000)}
        )
    )
    order_limits: OrderLimits = field(default_factory=OrderLimits)
    """The deployment's order limits: none unless a test sets them."""

    @property
    def clock(self) -> Any:
        return self.world.clock

    def uow(self) -> MemoryUnitOfWork:
        return self.world.uow()

    # -- use cases -------------------------------------------------------------------------
    def brokers(self, uow: MemoryUnitOfWork) -> BrokerAccess:
        registry = self.registry or self.world.registry
        return BrokerAccess(
            registry,
            self.world.credential_store(uow),
            MemoryProviderConnectionRepository(uow),
            self.world.refresher(uow),
            self.clock,
        )

    def journal(self, uow: MemoryUnitOfWork) -> OrderJournal:
        audit = self.world.base.audit(uow)
        fills = RecordFills(MemoryTradeRepository(uow), audit, self.world.base.ids)
        return OrderJournal(MemoryOrderRepository(uow), audit, fills, uow, self.clock)

    def limits(self, uow: MemoryUnitOfWork) -> OrderLimitGate:
        return OrderLimitGate(
            DefaultOrderLimits(self.order_limits),
            MemoryOrderLimitRepository(uow),
            MemoryOrderRepository(uow),
            self.clock,
        )

    def place(self, uow: MemoryUnitOfWork) -> PlaceOrder:
        return PlaceOrder(
            MemoryOrderRepository(uow),
            MemoryIdempotencyRepository(uow),
            MemoryProviderConnectionRepository(uow),
            self.brokers(uow),
            InstrumentLookup(self.catalog),
            self.world.base.step_up_gate(uow),
            self.limits(uow),
            self.journal(uow),
            uow,
            self.clock,
            self.world.base.ids,
            self.policy,
        )

    def preview(self, uow: MemoryUnitOfWork) -> PreviewOrder:
        return PreviewOrder(
            MemoryProviderConnectionRepository(uow),
            self.brokers(uow),
            InstrumentLookup(self.catalog),
            self.limits(uow),
            uow,
            self.clock,
        )

    def get(self, uow: MemoryUnitOfWork) -> GetOrder:
        return GetOrder(MemoryOrderRepository(uow))

    def listing(self, uow: MemoryUnitOfWork) -> ListOrders:
        return ListOrders(MemoryOrderRepository(uow))

    def live(self, uow: MemoryUnitOfWork) -> LiveOrders:
        return LiveOrders(
            MemoryOrderRepository(uow),
            MemoryProviderConnectionRepository(uow),
            self.brokers(uow),
            uow,
            self.clock,
        )

    def modify(self, uow: MemoryUnitOfWork) -> ModifyOrder:
        return ModifyOrder(
            self.live(uow),
            self.journal(uow),
            self.world.base.step_up_gate(uow),
            self.limits(uow),
            self.policy,
            uow,
        )

    def cancel(self, uow: MemoryUnitOfWork) -> CancelOrder:
        return CancelOrder(self.live(uow), self.journal(uow))

    def reconciler(self, uow: MemoryUnitOfWork) -> ReconcileOrders:
        return ReconcileOrders(
            MemoryOrderRepository(uow),
            self.brokers(uow),
            MemoryProviderConnectionRepository(uow),
            self.journal(uow),
            uow,
            self.clock,
            self.policy,
        )

    def refresher(self, uow: MemoryUnitOfWork) -> RefreshOrderStatus:
        return RefreshOrderStatus(
            MemoryOrderRepository(uow),
            self.brokers(uow),
            MemoryProviderConnectionRepository(uow),
            self.journal(uow),
            uow,
            self.clock,
        )

    def poller(self, uow: MemoryUnitOfWork) -> PollOpenOrders:
        return PollOpenOrders(MemoryOrderRepository(uow), self.refresher(uow), uow)

    # -- arranging -------------------------------------------------------------------------
    async def trader(
        self, provider: str, *, email: str | None = None, trade: bool = True
    ) -> tuple[Trader, ProviderConnection]:
        """A new user with a connection to ``provider`` (allowed to trade unless ``trade`` is
        off), authorized through the provider's real login flow, signed in just now."""
        user = await self.world.add_user(
            email or f"{provider}-{self.world.base.ids.new_id()}@x.test"
        )
        connection = await self.connect(user, provider, trade=trade)
        return self.trader_of(user.id), connection

    async def reconnect(self, trader: Trader, provider: str) -> ProviderConnection:
        """A new connection of the trader's user to ``provider``."""
        user = await MemoryUserRepository(self.uow()).get(trader.user_id)
        assert user is not None
        return await self.connect(user, provider, trade=True)

    def trader_of(self, user_id: UUID) -> Trader:
        """The user, signed in with a password just now."""
        return Trader(user_id, self.clock.now(), ("pwd",), CALLER.with_actor(f"user:{user_id}"))

    async def connect(self, user: User, provider: str, *, trade: bool) -> ProviderConnection:
        world = self.world
        connection = await world.connections(world.uow()).create(
            user.id, provider, CALLER, trade=trade
        )
        if provider == "groww":
            key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
            return await world.authorization(world.uow()).submit_key_credentials(
                user.id, connection.id, key, CALLER
            )
        started = await world.start(user, connection)
        params = await world.consent(provider, started)
        outcome = await world.callback(provider, params, user=user)
        return outcome.connection

    def draft(self, provider: str, **overrides: Any) -> OrderDraft:
        book = BOOKS[provider]
        fields: dict[str, Any] = {
            "account_id": book.account_id,
            "instrument": book.instrument,
            "side": OrderSide.BUY,
            "type": OrderType.MARKET,
            "quantity": Decimal(1),
        }
        fields.update(overrides)
        return OrderDraft(**fields)

    async def place_order(
        self,
        trader: Trader,
        connection: ProviderConnection,
        key: str,
        draft: OrderDraft,
    ) -> Placement:
        return await self.place(self.uow())(trader, connection.id, IdempotencyKey(key), draft)

    def arm(self, provider: str, kind: FaultKind, *, status: int = 503, times: int = 1) -> None:
        """A fault on ``provider``'s order placement route."""
        self.world.sandboxes[provider].faults.add(
            FaultRule(
                path=BOOKS[provider].place_path,
                method="POST",
                kind=kind,
                status=status,
                times=times,
            )
        )

    # -- observing -------------------------------------------------------------------------
    async def stored(self, order_id: UUID) -> PlacedOrder:
        order = await MemoryOrderRepository(self.uow()).get(order_id)
        assert order is not None
        return order

    def broker_orders(self, provider: str) -> list[SimOrder]:
        """The orders the sandbox's exchange holds for the book's account, oldest first,
        without the ones its seed placed."""
        exchange = self.world.sandboxes[provider].exchange
        return [
            order
            for order in exchange.orders(BOOKS[provider].engine_account)
            if order.instrument.symbol == BOOKS[provider].instrument.symbol
        ]

    def place_requests(self, provider: str) -> int:
        """``POST`` requests that reached ``provider``'s placement route."""
        pattern = BOOKS[provider].place_path
        return sum(
            1
            for request in self.world.recorders[provider].requests
            if request.method == "POST" and fnmatch.fnmatchcase(request.url.path, pattern)
        )

    def audit(self, action: str | None = None) -> list[AuditEvent]:
        return self.world.audit(action)

    def audited_statuses(self, order_id: UUID) -> list[object]:
        """The statuses the audit log recorded for one order, oldest first."""
        return [
            event.metadata["status"]
            for event in self.audit("order_status_changed")
            if event.target == f"order:{order_id}"
        ]


KITE_MODIFY_PATH = f"/orders/{PLACE_VARIETY}/*"
"""Kite's route that modifies (``PUT``) and cancels (``DELETE``) an order."""

DIRECT_HTTP = HttpPolicy(
    retry=RetryPolicy(attempts=1),
    rate_limit=RateLimit(per_second=1_000, burst=1_000),
    breaker=BreakerPolicy(failures=1_000),
)
"""Brokers called once per read, with no circuit breaker and no rate limit in the way: every
lookup reaches the sandbox, however many rounds a test runs."""


@asynccontextmanager
async def open_orders_world(
    *, http: HttpPolicy | None = None, sleep: Sleep = _instant
) -> AsyncIterator[OrdersWorld]:
    """The world; ``http`` replaces every provider's HTTP policy, ``sleep`` how the sandboxes
    wait in latency and timeout faults (not at all, unless a test holds a request there)."""
    async with open_world(http=http, sleep=sleep) as world:
        yield OrdersWorld(world, MemoryInstrumentCatalog(sandbox_listings(world.sandboxes)))


T = TypeVar("T")


class OrdersMachine(RuleBasedStateMachine):
    """A Hypothesis state machine over an orders world whose every read reaches the sandbox,
    on an event loop of its own; at teardown :meth:`settle_and_compare` checks the end state,
    then the world closes."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.opened = open_orders_world(http=DIRECT_HTTP)
        self.world: OrdersWorld = self.run(self.opened.__aenter__())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def settle_and_compare(self) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        try:
            self.settle_and_compare()
        finally:
            self.run(self.opened.__aexit__(None, None, None))
            self.loop.close()


def machine_settings(*, examples: int, steps: int) -> settings:
    """How an :class:`OrdersMachine` runs: the same interleavings every run (derandomized, no
    example database), no deadline (a world is slow to open)."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
