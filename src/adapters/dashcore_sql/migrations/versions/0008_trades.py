"""Users' trades: manual records and broker fills.

Revision ID: 0008_trades
Revises: 0007_webhook_events
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_trades"
down_revision: str | Sequence[str] | None = "0007_webhook_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of dashcore_sql.types as of this revision: UtcDateTime is TIMESTAMPTZ on
# PostgreSQL and fixed-width ISO 8601 text in UTC on SQLite; ExactDecimal is unconstrained
# NUMERIC on PostgreSQL and the decimal's own text on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
EXACT = sa.Numeric().with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trades",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("price", EXACT, nullable=False),
        sa.Column("charges", EXACT, nullable=False),
        sa.Column("mtf_charge", EXACT, nullable=True),
        sa.Column("capital_used", EXACT, nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("executed_at", INSTANT, nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("broker_trade_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_trades_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "user_id",
            "account",
            "broker_trade_id",
            name="uq_trades_user_id_account_broker_trade_id",
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_trades_side"),
        sa.CheckConstraint("source IN ('broker_fill', 'manual')", name="ck_trades_source"),
        sa.CheckConstraint(
            "type IN ('equity', 'futures', 'options', 'currency', 'commodity', 'other')",
            name="ck_trades_type",
        ),
        sa.CheckConstraint(
            "source = 'manual' OR broker_trade_id IS NOT NULL", name="ck_trades_broker_fill"
        ),
    )
    op.create_index("ix_trades_user_id_executed_at_id", "trades", ["user_id", "executed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_trades_user_id_executed_at_id", table_name="trades")
    op.drop_table("trades")
