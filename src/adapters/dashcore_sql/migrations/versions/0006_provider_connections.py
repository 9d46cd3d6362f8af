"""Provider connections and the authorizations in flight.

Revision ID: 0006_provider_connections
Revises: 0005_second_factors
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_provider_connections"
down_revision: str | Sequence[str] | None = "0005_second_factors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on PostgreSQL,
# fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _owned_by_user(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "provider_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("connected_at", INSTANT, nullable=True),
        sa.Column("expires_at", INSTANT, nullable=True),
        sa.Column("refresh_expires_at", INSTANT, nullable=True),
        sa.Column("last_refreshed_at", INSTANT, nullable=True),
        sa.Column("last_error_code", sa.Text(), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("reauth_warned_for", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_provider_connections"),
        _owned_by_user("provider_connections"),
        sa.CheckConstraint(
            "status IN ('pending', 'connected', 'refreshing', 'needs_reauth', 'error',"
            " 'disconnected')",
            name="ck_provider_connections_status",
        ),
        sa.CheckConstraint(
            "scopes IN ('read', 'read trade')", name="ck_provider_connections_scopes"
        ),
        sa.CheckConstraint(
            "(last_error_code IS NULL) = (last_error_message IS NULL)",
            name="ck_provider_connections_last_error",
        ),
    )
    op.create_index(
        "ix_provider_connections_user_id_created_at",
        "provider_connections",
        ["user_id", "created_at"],
    )
    op.create_index("ix_provider_connections_expires_at", "provider_connections", ["expires_at"])
    op.create_index(
        "ix_provider_connections_refresh_expires_at",
        "provider_connections",
        ["refresh_expires_at"],
    )
    op.create_table(
        "pending_authorizations",
        sa.Column("state_hash", sa.CHAR(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=True),
        sa.Column("return_to", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.Column("consumed_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("state_hash", name="pk_pending_authorizations"),
        _owned_by_user("pending_authorizations"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["provider_connections.id"],
            name="fk_pending_authorizations_connection_id_provider_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_pending_authorizations_user_id", "pending_authorizations", ["user_id"])
    op.create_index(
        "ix_pending_authorizations_connection_id", "pending_authorizations", ["connection_id"]
    )
    op.create_index(
        "ix_pending_authorizations_expires_at", "pending_authorizations", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_pending_authorizations_expires_at", table_name="pending_authorizations")
    op.drop_index("ix_pending_authorizations_connection_id", table_name="pending_authorizations")
    op.drop_index("ix_pending_authorizations_user_id", table_name="pending_authorizations")
    op.drop_table("pending_authorizations")
    op.drop_index("ix_provider_connections_refresh_expires_at", table_name="provider_connections")
    op.drop_index("ix_provider_connections_expires_at", table_name="provider_connections")
    op.drop_index("ix_provider_connections_user_id_created_at", table_name="provider_connections")
    op.drop_table("provider_connections")
