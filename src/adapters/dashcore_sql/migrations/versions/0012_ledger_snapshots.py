"""Trade books (a revision per user's trades) and stored lot ledgers, and a book for every user
who has trades.

Revision ID: 0012_ledger_snapshots
Revises: 0011_exports
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_ledger_snapshots"
down_revision: str | Sequence[str] | None = "0011_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on
# PostgreSQL, fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")

# Every user with trades gets a book at revision 1, rewritten at 1 (no stored ledger predates
# it), whose last position is that of the user's latest trade: the trade no other trade of the
# user comes after.
BACKFILL = """
INSERT INTO trade_books (user_id, revision, rewritten_at, last_executed_at, last_trade_id)
SELECT latest.user_id, 1, 1, latest.executed_at, latest.id
FROM trades AS latest
WHERE NOT EXISTS (
    SELECT 1 FROM trades AS later
    WHERE later.user_id = latest.user_id
    AND (
        later.executed_at > latest.executed_at
        OR (later.executed_at = latest.executed_at AND later.id > latest.id)
    )
)
"""


def upgrade() -> None:
    op.create_table(
        "trade_books",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("rewritten_at", sa.BigInteger(), nullable=False),
        sa.Column("last_executed_at", INSTANT, nullable=True),
        sa.Column("last_trade_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_trade_books"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_trade_books_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "rewritten_at >= 0 AND rewritten_at <= revision", name="ck_trade_books_revisions"
        ),
        sa.CheckConstraint(
            "(last_executed_at IS NULL) = (last_trade_id IS NULL)", name="ck_trade_books_last"
        ),
    )
    op.create_table(
        "ledger_snapshots",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("through_at", INSTANT, nullable=True),
        sa.Column("through_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "method", name="pk_ledger_snapshots"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_ledger_snapshots_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "method IN ('fifo', 'lifo', 'average')", name="ck_ledger_snapshots_method"
        ),
        sa.CheckConstraint("revision >= 0", name="ck_ledger_snapshots_revision"),
        sa.CheckConstraint(
            "(through_at IS NULL) = (through_id IS NULL)", name="ck_ledger_snapshots_through"
        ),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("ledger_snapshots")
    op.drop_table("trade_books")
