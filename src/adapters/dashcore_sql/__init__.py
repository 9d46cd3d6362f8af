"""SQL persistence for dashcore: SQLAlchemy Core on PostgreSQL (asyncpg) or SQLite (aiosqlite).

Build an engine once per process (``create_engine``), migrate it (``upgrade``), then open one
``unit_of_work`` per request or job and build repositories on it.
"""

from dashcore_sql.audit import ChainHeads, SqlAuditLog
from dashcore_sql.engine import COMMAND_TIMEOUT, create_engine, normalize_url, sqlite_file
from dashcore_sql.migrate import current, downgrade, history, upgrade
from dashcore_sql.probe import SqlDatabaseProbe
from dashcore_sql.secrets import SqlSealedSecretRepository
from dashcore_sql.tables import metadata
from dashcore_sql.types import ExactDecimal, UtcDateTime
from dashcore_sql.uow import SqlUnitOfWork, unit_of_work

__all__ = [
    "COMMAND_TIMEOUT",
    "ChainHeads",
    "ExactDecimal",
    "SqlAuditLog",
    "SqlDatabaseProbe",
    "SqlSealedSecretRepository",
    "SqlUnitOfWork",
    "UtcDateTime",
    "create_engine",
    "current",
    "downgrade",
    "history",
    "metadata",
    "normalize_url",
    "sqlite_file",
    "unit_of_work",
    "upgrade",
]
