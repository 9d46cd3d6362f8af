"""``INSERT … ON CONFLICT`` on either database: PostgreSQL and SQLite spell it alike, but only
their dialects' own ``insert`` constructs carry the clause (SQLAlchemy's generic one has none).
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["ConflictInsert", "conflict_insert"]

ConflictInsert = postgresql.Insert | sqlite.Insert
"""An insert with ``on_conflict_do_nothing``, ``on_conflict_do_update`` and ``excluded``."""


def conflict_insert(dialect_name: str, table: Table) -> ConflictInsert:
    """``INSERT INTO table`` in the terms of ``dialect_name`` (a unit of work's
    ``dialect_name``: ``postgresql``, else SQLite)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
