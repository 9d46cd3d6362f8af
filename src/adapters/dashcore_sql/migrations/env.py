"""Alembic environment for dashcore: runs on a connection handed in by ``dashcore_sql.migrate``.

Migrations are run programmatically (``dashcore migrate``, tests, an embedding service), never
from an ``alembic.ini``: the caller opens the connection and the transaction on its async engine
and passes the connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dashcore_sql.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(_connection, Connection):
    raise RuntimeError(
        "Run dashcore migrations through dashcore_sql.migrate (or `dashcore migrate`)."
    )
run_migrations(_connection)
