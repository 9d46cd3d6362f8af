"""Providers of trading (issue #8): the order use cases, their policy from the settings, the
instrument catalog, and the repositories.

**The instrument catalog.** Lot and tick sizes must be known before an order is checked. The
sandboxes' exchanges list every instrument they trade, so with sandboxes on the catalog holds
their listings, named as each broker's adapter names them (Schwab: symbol on ``US``; the Indian
brokers: symbol on its exchange). A provider with no listing in the catalog falls back to its
quote port (:class:`~dashcore.application.orders.InstrumentLookup`): the currency comes from
the quote and lot and tick stay the defaults, the broker having the last word.

**Repositories.** Memory ones for the memory database, SQL ones (``dashcore_sql.trading``)
for SQLite and PostgreSQL; :func:`trading_providers` picks them from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from dishka import Provider, Scope, provide

from dashcore.application.order_limits import (
    DefaultOrderLimits,
    LowerOrderLimits,
    ManageOrderLimits,
    OrderLimitGate,
)
from dashcore.application.orders import (
    BrokerAccess,
    GetOrder,
    InstrumentLookup,
    ListOrders,
    OrderJournal,
    TradingPolicy,
)
from dashcore.application.orders_manage import CancelOrder, LiveOrders, ModifyOrder
from dashcore.application.orders_place import PlaceOrder, PreviewOrder
from dashcore.application.orders_reconcile import (
    PollOpenOrders,
    ReconcileOrders,
    RefreshOrderStatus,
)
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits, OrderLimits
from dashcore.ports.order_limits import OrderLimitRepository
from dashcore.ports.trading import IdempotencyRepository, InstrumentCatalog, OrderRepository
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox import BrokerSandbox
from dashcore_brokers.schwab.mapping import EXCHANGE as SCHWAB_EXCHANGE
from dashcore_memory.order_limits import MemoryOrderLimitRepository
from dashcore_memory.trading import (
    MemoryIdempotencyRepository,
    MemoryInstrumentCatalog,
    MemoryOrderRepository,
)
from dashcore_sql.order_limits import SqlOrderLimitRepository
from dashcore_sql.trading import SqlIdempotencyRepository, SqlOrderRepository

__all__ = [
    "MemoryTradingProvider",
    "SqlTradingProvider",
    "TradingProvider",
    "default_order_limits",
    "sandbox_listings",
    "trading_policy",
    "trading_providers",
]

_EXCHANGE_NAMES: Mapping[str, str] = {"schwab": SCHWAB_EXCHANGE}
"""Brokers whose adapter names every listing on one venue of its own."""


def sandbox_listings(sandboxes: Mapping[str, BrokerSandbox]) -> dict[str, list[Instrument]]:
    """Every instrument each sandbox's exchange trades, as that broker's adapter names it."""
    return {
        key: [
            Instrument(
                symbol=listing.symbol,
                exchange=_EXCHANGE_NAMES.get(key, listing.exchange),
                currency=Currency(listing.currency),
                asset_class=AssetClass(listing.asset_class.value.lower()),
                isin=listing.isin,
                name=listing.name or None,
                lot_size=listing.lot_size,
                tick_size=listing.tick_size,
            )
            for listing in sandbox.exchange.list_instruments()
        ]
        for key, sandbox in sandboxes.items()
    }


def trading_policy(settings: Settings) -> TradingPolicy:
    return TradingPolicy(
        step_up_above={
            Currency(code): limit for code, limit in settings.order_step_up_above.items()
        },
        submit_deadline=timedelta(seconds=settings.order_submit_deadline_seconds),
        reconcile_grace=timedelta(seconds=settings.order_reconcile_grace_seconds),
        reconcile_window=timedelta(seconds=settings.order_reconcile_window_seconds),
    )


def default_order_limits(settings: Settings) -> DefaultOrderLimits:
    """The deployment's order limits (``DASHCORE_ORDER_MAX_VALUE``, ``_MAX_QUANTITY``,
    ``_MAX_DAILY_VALUE``), per currency: a currency a variable does not list has no such
    limit."""
    currencies = (
        set(settings.order_max_value)
        | set(settings.order_max_quantity)
        | set(settings.order_max_daily_value)
    )
    return DefaultOrderLimits(
        OrderLimits(
            {
                Currency(code): CurrencyLimits(
                    max_order_value=settings.order_max_value.get(code),
                    max_order_quantity=settings.order_max_quantity.get(code),
                    max_daily_value=settings.order_max_daily_value.get(code),
                )
                for code in currencies
            }
        )
    )


class TradingProvider(Provider):
    """The order use cases (per request) on the APP-wide policy and catalog."""

    @provide(scope=Scope.APP)
    def policy(self, settings: Settings) -> TradingPolicy:
        return trading_policy(settings)

    @provide(scope=Scope.APP)
    def order_limits(self, settings: Settings) -> DefaultOrderLimits:
        return default_order_limits(settings)

    @provide(scope=Scope.APP)
    def catalog(self, sandboxes: BrokerSandboxes) -> InstrumentCatalog:
        return MemoryInstrumentCatalog(sandbox_listings(sandboxes.apps))

    instrument_lookup = provide(InstrumentLookup, scope=Scope.APP)
    broker_access = provide(BrokerAccess, scope=Scope.REQUEST)
    journal = provide(OrderJournal, scope=Scope.REQUEST)
    order_limit_gate = provide(OrderLimitGate, scope=Scope.REQUEST)
    manage_order_limits = provide(ManageOrderLimits, scope=Scope.REQUEST)
    lower_order_limits = provide(LowerOrderLimits, scope=Scope.REQUEST)
    place_order = provide(PlaceOrder, scope=Scope.REQUEST)
    preview_order = provide(PreviewOrder, scope=Scope.REQUEST)
    get_order = provide(GetOrder, scope=Scope.REQUEST)
    list_orders = provide(ListOrders, scope=Scope.REQUEST)
    live_orders = provide(LiveOrders, scope=Scope.REQUEST)
    modify_order = provide(ModifyOrder, scope=Scope.REQUEST)
    cancel_order = provide(CancelOrder, scope=Scope.REQUEST)
    reconcile_orders = provide(ReconcileOrders, scope=Scope.REQUEST)
    refresh_order_status = provide(RefreshOrderStatus, scope=Scope.REQUEST)
    poll_open_orders = provide(PollOpenOrders, scope=Scope.REQUEST)


class MemoryTradingProvider(Provider):
    scope = Scope.REQUEST

    orders = provide(MemoryOrderRepository, provides=OrderRepository)
    idempotency = provide(MemoryIdempotencyRepository, provides=IdempotencyRepository)
    order_limits = provide(MemoryOrderLimitRepository, provides=OrderLimitRepository)


class SqlTradingProvider(Provider):
    scope = Scope.REQUEST

    orders = provide(SqlOrderRepository, provides=OrderRepository)
    idempotency = provide(SqlIdempotencyRepository, provides=IdempotencyRepository)
    order_limits = provide(SqlOrderLimitRepository, provides=OrderLimitRepository)


def trading_providers(settings: Settings) -> list[Provider]:
    """The trading providers for this configuration: the use cases, and the repositories of
    the configured database (memory, or SQLite/PostgreSQL)."""
    if settings.uses_memory_database:
        return [TradingProvider(), MemoryTradingProvider()]
    return [TradingProvider(), SqlTradingProvider()]
