"""Transaction exports: the request, state, progress and file of each export.

Revision ID: 0011_exports
Revises: 0010_aggregation
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_exports"
down_revision: str | Sequence[str] | None = "0010_aggregation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on
# PostgreSQL, fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("since", INSTANT, nullable=False),
        sa.Column("until", INSTANT, nullable=False),
        sa.Column("account_ids", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("heartbeat_at", INSTANT, nullable=False),
        sa.Column("started_at", INSTANT, nullable=True),
        sa.Column("finished_at", INSTANT, nullable=True),
        sa.Column("expires_at", INSTANT, nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_estimated", sa.BigInteger(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("byte_size", sa.BigInteger(), nullable=True),
        sa.Column("file_key", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_exports_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint("format IN ('csv', 'json')", name="ck_exports_format"),
        sa.CheckConstraint("period IN ('day', 'week', 'month', 'year')", name="ck_exports_period"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_exports_status"
        ),
        sa.CheckConstraint("rows_read >= 0", name="ck_exports_rows_read"),
        sa.CheckConstraint(
            "(error_code IS NULL) = (error_message IS NULL)", name="ck_exports_error"
        ),
    )
    op.create_index("ix_exports_status_heartbeat_at", "exports", ["status", "heartbeat_at"])
    op.create_index("ix_exports_expires_at", "exports", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_exports_expires_at", table_name="exports")
    op.drop_index("ix_exports_status_heartbeat_at", table_name="exports")
    op.drop_table("exports")
