"""The aggregated data store and the sync use cases in the container (issue #7).

The repositories are memory or SQL as the settings choose (like the rest of the store); every
repository and use case is REQUEST scoped: one unit of work each. The export stream reads on
its own connection (SQL: APP scoped on the engine).
"""

from __future__ import annotations

from datetime import timedelta

from dishka import Provider, Scope, provide

from dashcore.application.sync import (
    CleanStaleRuns,
    PurgeRawPayloads,
    RequestSync,
    RunSync,
    ScheduleSyncs,
    SyncPolicy,
    SyncStore,
)
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    RawPayloadRepository,
    StoredAccountRepository,
    SyncRunRepository,
    TransactionRepository,
    TransactionStream,
)
from dashcore_app.settings import Settings
from dashcore_memory.aggregation import (
    MemoryBalanceRepository,
    MemoryHoldingRepository,
    MemoryPositionRepository,
    MemoryRawPayloadRepository,
    MemoryStoredAccountRepository,
    MemorySyncRunRepository,
    MemoryTransactionRepository,
    MemoryTransactionStream,
)
from dashcore_sql.aggregation import (
    SqlBalanceRepository,
    SqlHoldingRepository,
    SqlPositionRepository,
    SqlRawPayloadRepository,
    SqlStoredAccountRepository,
    SqlSyncRunRepository,
    SqlTransactionRepository,
    SqlTransactionStream,
)

__all__ = ["AggregationProvider", "aggregation_providers", "sync_policy"]


def sync_policy(settings: Settings) -> SyncPolicy:
    return SyncPolicy(
        stale_after=timedelta(seconds=settings.sync_stale_after_seconds),
        payload_cap=settings.raw_payload_max_bytes,
        payload_retention=timedelta(days=settings.raw_payload_retention_days),
    )


class AggregationProvider(Provider):
    """The sync use cases (per request or job)."""

    scope = Scope.REQUEST

    store = provide(SyncStore)
    request_sync = provide(RequestSync)
    run_sync = provide(RunSync)
    schedule_syncs = provide(ScheduleSyncs)
    clean_stale_runs = provide(CleanStaleRuns)
    purge_raw_payloads = provide(PurgeRawPayloads)

    @provide(scope=Scope.APP)
    def policy(self, settings: Settings) -> SyncPolicy:
        return sync_policy(settings)


class _MemoryStore(Provider):
    scope = Scope.REQUEST

    accounts = provide(MemoryStoredAccountRepository, provides=StoredAccountRepository)
    balances = provide(MemoryBalanceRepository, provides=BalanceRepository)
    holdings = provide(MemoryHoldingRepository, provides=HoldingRepository)
    positions = provide(MemoryPositionRepository, provides=PositionRepository)
    transactions = provide(MemoryTransactionRepository, provides=TransactionRepository)
    stream = provide(MemoryTransactionStream, provides=TransactionStream)
    runs = provide(MemorySyncRunRepository, provides=SyncRunRepository)
    payloads = provide(MemoryRawPayloadRepository, provides=RawPayloadRepository)


class _SqlStore(Provider):
    scope = Scope.REQUEST

    accounts = provide(SqlStoredAccountRepository, provides=StoredAccountRepository)
    balances = provide(SqlBalanceRepository, provides=BalanceRepository)
    holdings = provide(SqlHoldingRepository, provides=HoldingRepository)
    positions = provide(SqlPositionRepository, provides=PositionRepository)
    transactions = provide(SqlTransactionRepository, provides=TransactionRepository)
    stream = provide(SqlTransactionStream, provides=TransactionStream, scope=Scope.APP)
    runs = provide(SqlSyncRunRepository, provides=SyncRunRepository)
    payloads = provide(SqlRawPayloadRepository, provides=RawPayloadRepository)


def aggregation_providers(settings: Settings) -> list[Provider]:
    """The store's repositories for this configuration, and the sync use cases."""
    store = _MemoryStore() if settings.uses_memory_database else _SqlStore()
    return [store, AggregationProvider()]
