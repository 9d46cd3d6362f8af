"""Stock splits users record, one per user, instrument and instant.

Revision ID: 0014_splits
Revises: 0013_order_reconcile_backoff
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_splits"
down_revision: str | Sequence[str] | None = "0013_order_reconcile_backoff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on
# PostgreSQL, fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    op.create_table(
        "splits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("exchange", sa.Text(), nullable=False),
        sa.Column("numerator", sa.BigInteger(), nullable=False),
        sa.Column("denominator", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", INSTANT, nullable=False),
        sa.Column("recorded_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_splits"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_splits_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "user_id",
            "symbol",
            "exchange",
            "effective_at",
            name="uq_splits_user_id_symbol_exchange_effective_at",
        ),
        sa.CheckConstraint("numerator > 0 AND denominator > 0", name="ck_splits_ratio"),
        sa.CheckConstraint("numerator <> denominator", name="ck_splits_changes"),
    )
    op.create_index(
        "ix_splits_user_id_effective_at_id", "splits", ["user_id", "effective_at", "id"]
    )


def downgrade() -> None:
    op.drop_table("splits")
