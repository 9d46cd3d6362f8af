"""Order limits (security.md ORD-3): a user's own limits per currency, and each order's value as
the limits checked it.

Revision ID: 0016_order_limits
Revises: 0015_trades_by_instrument
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_order_limits"
down_revision: str | Sequence[str] | None = "0015_trades_by_instrument"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of dashcore_sql.types.ExactDecimal as of this revision: unconstrained NUMERIC on
# PostgreSQL, the decimal's text on SQLite.
EXACT = sa.Numeric().with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("estimated_value", EXACT, nullable=True))
    op.create_table(
        "order_limits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("max_order_value", EXACT, nullable=True),
        sa.Column("max_order_quantity", EXACT, nullable=True),
        sa.Column("max_daily_value", EXACT, nullable=True),
        sa.PrimaryKeyConstraint("user_id", "currency", name="pk_order_limits"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_order_limits_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "max_order_value IS NOT NULL OR max_order_quantity IS NOT NULL "
            "OR max_daily_value IS NOT NULL",
            name="ck_order_limits_some_limit",
        ),
    )


def downgrade() -> None:
    op.drop_table("order_limits")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("estimated_value")
