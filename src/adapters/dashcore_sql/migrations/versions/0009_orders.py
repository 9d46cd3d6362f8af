"""Placed orders and the idempotency keys of order placement.

Revision ID: 0009_orders
Revises: 0008_trades
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_orders"
down_revision: str | Sequence[str] | None = "0008_trades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of dashcore_sql.types as of this revision: UtcDateTime is TIMESTAMPTZ on
# PostgreSQL and fixed-width ISO 8601 text in UTC on SQLite; ExactDecimal is unconstrained
# NUMERIC on PostgreSQL and the decimal's own text on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
EXACT = sa.Numeric().with_variant(sa.Text(), "sqlite")


def _owned_by_user(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("instrument_currency", sa.CHAR(3), nullable=False),
        sa.Column("asset_class", sa.Text(), nullable=False),
        sa.Column("isin", sa.CHAR(12), nullable=True),
        sa.Column("instrument_name", sa.Text(), nullable=True),
        sa.Column("lot_size", EXACT, nullable=False),
        sa.Column("tick_size", EXACT, nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("validity", sa.Text(), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("limit_price", EXACT, nullable=True),
        sa.Column("stop_price", EXACT, nullable=True),
        sa.Column("client_reference", sa.Text(), nullable=False),
        sa.Column("idempotency_key_hash", sa.CHAR(64), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("status_changed_at", INSTANT, nullable=False),
        sa.Column("submit_deadline", INSTANT, nullable=False),
        sa.Column("submit_attempts", sa.Integer(), nullable=False),
        sa.Column("broker_order_id", sa.Text(), nullable=True),
        sa.Column("broker_status", sa.Text(), nullable=True),
        sa.Column("broker_updated_at", INSTANT, nullable=True),
        sa.Column("filled_quantity", EXACT, nullable=False),
        sa.Column("carried_quantity", EXACT, nullable=False),
        sa.Column("average_price", EXACT, nullable=True),
        sa.Column("average_price_currency", sa.CHAR(3), nullable=True),
        sa.Column("fills", sa.Text(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("last_error_code", sa.Text(), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        _owned_by_user("orders"),
        sa.UniqueConstraint(
            "provider", "broker_order_id", name="uq_orders_provider_broker_order_id"
        ),
        sa.CheckConstraint(
            "status IN ('pending_submit', 'submitted', 'open', 'partially_filled', 'filled',"
            " 'cancel_requested', 'cancelled', 'rejected', 'expired', 'unknown')",
            name="ck_orders_status",
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_orders_side"),
        sa.CheckConstraint(
            "type IN ('market', 'limit', 'stop', 'stop_limit')", name="ck_orders_type"
        ),
        sa.CheckConstraint(
            "product IN ('delivery', 'intraday', 'margin')", name="ck_orders_product"
        ),
        sa.CheckConstraint("validity IN ('day', 'ioc', 'gtc')", name="ck_orders_validity"),
        sa.CheckConstraint("version >= 0 AND submit_attempts >= 0", name="ck_orders_counters"),
        sa.CheckConstraint(
            "(average_price IS NULL) = (average_price_currency IS NULL)",
            name="ck_orders_average_price",
        ),
        sa.CheckConstraint(
            "(last_error_code IS NULL) = (last_error_message IS NULL)",
            name="ck_orders_last_error",
        ),
    )
    op.create_index(
        "ix_orders_user_id_idempotency_key_hash", "orders", ["user_id", "idempotency_key_hash"]
    )
    op.create_index("ix_orders_status_status_changed_at", "orders", ["status", "status_changed_at"])
    op.create_index(
        "ix_orders_user_id_created_at_id",
        "orders",
        ["user_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.CHAR(64), nullable=False),
        sa.Column("fingerprint", sa.CHAR(64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key_hash", name="pk_idempotency_keys"),
        _owned_by_user("idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_orders_user_id_created_at_id", table_name="orders")
    op.drop_index("ix_orders_status_status_changed_at", table_name="orders")
    op.drop_index("ix_orders_user_id_idempotency_key_hash", table_name="orders")
    op.drop_table("orders")
