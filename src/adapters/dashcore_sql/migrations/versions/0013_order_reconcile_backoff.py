"""Orders remember reconciliation's looks: how many did not settle the order, and when the
next is due (the backoff of security.md ORD-2).

Revision ID: 0013_order_reconcile_backoff
Revises: 0012_ledger_snapshots
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_order_reconcile_backoff"
down_revision: str | Sequence[str] | None = "0012_ledger_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on
# PostgreSQL, fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("reconcile_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("reconcile_after", INSTANT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("reconcile_after")
        batch.drop_column("reconcile_attempts")
