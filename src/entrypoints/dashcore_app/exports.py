"""Exports in the container (issue #7).

- The export repository and the transaction counter are memory or SQL as the database settings
  choose; both are REQUEST scoped, on the unit of work of the request or job.
- Files go to ``DASHCORE_EXPORTS_DIR`` (``LocalExportFileStore``, APP scoped); with the
  ``memory://`` database, whose data dies with the process, they stay in memory too.
- The policy comes from ``DASHCORE_EXPORT_PLANS`` and ``DASHCORE_EXPORT_RETENTION_HOURS``.
"""

from __future__ import annotations

from datetime import timedelta

from dishka import Provider, Scope, provide

from dashcore.application.exports import (
    CleanExports,
    ExportPolicy,
    GetExport,
    OpenExportFile,
    RequestExport,
    RunExport,
)
from dashcore.ports.exports import ExportFileStore, ExportRepository, TransactionCounter
from dashcore_app.settings import Settings
from dashcore_memory.exports import (
    MemoryExportFileStore,
    MemoryExportRepository,
    MemoryTransactionCounter,
)
from dashcore_sql.exports import SqlExportRepository, SqlTransactionCounter
from dashcore_system.export_files import LocalExportFileStore

__all__ = ["ExportsProvider", "export_policy", "exports_providers"]


def export_policy(settings: Settings) -> ExportPolicy:
    return ExportPolicy(
        plans=frozenset(settings.export_plans),
        retention=timedelta(hours=settings.export_retention_hours),
    )


class ExportsProvider(Provider):
    """The export use cases (per request or job) and their policy."""

    scope = Scope.REQUEST

    request_export = provide(RequestExport)
    run_export = provide(RunExport)
    get_export = provide(GetExport)
    open_export_file = provide(OpenExportFile)
    clean_exports = provide(CleanExports)

    @provide(scope=Scope.APP)
    def policy(self, settings: Settings) -> ExportPolicy:
        return export_policy(settings)


class _MemoryExports(Provider):
    scope = Scope.REQUEST

    exports = provide(MemoryExportRepository, provides=ExportRepository)
    counter = provide(MemoryTransactionCounter, provides=TransactionCounter)

    @provide(scope=Scope.APP)
    def files(self) -> ExportFileStore:
        return MemoryExportFileStore()


class _SqlExports(Provider):
    scope = Scope.REQUEST

    exports = provide(SqlExportRepository, provides=ExportRepository)
    counter = provide(SqlTransactionCounter, provides=TransactionCounter)

    @provide(scope=Scope.APP)
    def files(self, settings: Settings) -> ExportFileStore:
        return LocalExportFileStore(settings.exports_dir)


def exports_providers(settings: Settings) -> list[Provider]:
    """The export store for this configuration, and the export use cases."""
    store = _MemoryExports() if settings.uses_memory_database else _SqlExports()
    return [store, ExportsProvider()]
