"""Providers of trades, splits, the portfolio and quotes (issue #8).

- The trade repository and the store of lot ledger snapshots are memory or SQL, as the
  database settings choose.
- Last prices are cached for ``DASHCORE_QUOTE_CACHE_SECONDS`` (5): in Redis when
  ``DASHCORE_REDIS_URL`` is set (every API process shares one cache, so a provider is asked once
  per instrument and time-to-live), else in the process.
- The use cases are per request; the portfolio reads synced holdings through the aggregated
  data store's repositories, and quotes through the order providers' broker access and
  instrument catalog.
"""

from __future__ import annotations

from datetime import timedelta

from dishka import Provider, Scope, provide

from dashcore.application.portfolio import GetPortfolio, GetQuotes, LatestPrices
from dashcore.application.splits import Splits
from dashcore.application.trades import RecordFills, Trades
from dashcore.ports.clock import Clock
from dashcore.ports.ledgers import LedgerSnapshots
from dashcore.ports.quotes import QuoteCache
from dashcore.ports.trades import TradeRepository
from dashcore_app.settings import Settings
from dashcore_memory.ledgers import MemoryLedgerSnapshots
from dashcore_memory.quotes_cache import MemoryQuoteCache
from dashcore_memory.trades import MemoryTradeRepository
from dashcore_sql.ledgers import SqlLedgerSnapshots
from dashcore_sql.trades import SqlTradeRepository

__all__ = ["TradesProvider", "quote_cache_ttl", "trades_providers"]


class TradesProvider(Provider):
    scope = Scope.REQUEST

    trades = provide(Trades)
    splits = provide(Splits)
    record_fills = provide(RecordFills)
    latest_prices = provide(LatestPrices)
    get_portfolio = provide(GetPortfolio)
    get_quotes = provide(GetQuotes)


class _MemoryTrades(Provider):
    scope = Scope.REQUEST

    trade_repository = provide(MemoryTradeRepository, provides=TradeRepository)
    ledger_snapshots = provide(MemoryLedgerSnapshots, provides=LedgerSnapshots)


class _SqlTrades(Provider):
    scope = Scope.REQUEST

    trade_repository = provide(SqlTradeRepository, provides=TradeRepository)
    ledger_snapshots = provide(SqlLedgerSnapshots, provides=LedgerSnapshots)


def quote_cache_ttl(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.quote_cache_seconds)


class _MemoryQuoteCache(Provider):
    @provide(scope=Scope.APP)
    def quote_cache(self, clock: Clock, settings: Settings) -> QuoteCache:
        return MemoryQuoteCache(clock, ttl=quote_cache_ttl(settings))


def trades_providers(settings: Settings) -> list[Provider]:
    """The providers of trades for this configuration."""
    providers: list[Provider] = [
        TradesProvider(),
        _MemoryTrades() if settings.uses_memory_database else _SqlTrades(),
    ]
    if settings.redis_url:
        from dashcore_app.quotes_redis import RedisQuoteCacheProvider  # the redis extra

        providers.append(RedisQuoteCacheProvider())
    else:
        providers.append(_MemoryQuoteCache())
    return providers
