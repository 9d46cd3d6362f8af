"""Known devices: fingerprints of the clients each account signed in from.

Revision ID: 0004_known_devices
Revises: 0003_identity
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_known_devices"
down_revision: str | Sequence[str] | None = "0003_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on PostgreSQL,
# fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    op.create_table(
        "known_devices",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.CHAR(32), nullable=False),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("last_seen_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "fingerprint", name="pk_known_devices"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_known_devices_user_id_users",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("known_devices")
