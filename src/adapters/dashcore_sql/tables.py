"""The schema, as SQLAlchemy Core tables. Migrations create exactly this (a test compares them).

Every constraint has a name derived from ``NAMING_CONVENTION``: errors are translated to domain
errors by constraint name (``dashcore_sql.errors``), and migrations can drop what they created.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from dashcore_sql.types import UtcDateTime

__all__ = ["NAMING_CONVENTION", "audit_chain_heads", "audit_events", "metadata", "sealed_secrets"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("chain", Text(), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("prev_hash", CHAR(64), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("action", Text(), nullable=False),
    Column("outcome", Text(), nullable=False),
    Column("actor", Text()),
    Column("target", Text()),
    Column("ip", Text()),
    Column("user_agent", Text()),
    Column("request_id", Text()),
    Column("metadata", Text(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("chain", "seq"),
)
"""One row per recorded audit event; ``metadata`` is canonical JSON (sorted keys, compact)."""

audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("chain", Text(), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    PrimaryKeyConstraint("chain"),
)
"""The last seq and hash of each chain; appends to one chain serialize on its row."""

sealed_secrets = Table(
    "sealed_secrets",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("owner", Text(), nullable=False),
    Column("purpose", Text(), nullable=False),
    Column("ciphertext", LargeBinary(), nullable=False),
    Column("key_id", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("owner", "purpose"),
    Index(None, "key_id"),
)
"""One ciphertext per (owner, purpose); ``key_id`` is indexed for the key-rotation job."""
