"""Mail expiry: a mail carrying a link or code records when that secret stops working, and an
entry given up because it ran out first is ``expired`` (final, body dropped).

Revision ID: 0017_mail_expiry
Revises: 0016_order_limits
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_mail_expiry"
down_revision: str | Sequence[str] | None = "0016_order_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of dashcore_sql.types.UtcDateTime as of this revision: TIMESTAMPTZ on PostgreSQL,
# fixed-width ISO 8601 text in UTC on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")

STATUS = "ck_mail_outbox_status"
WITH_EXPIRED = "status IN ('pending', 'failed', 'sent', 'dead', 'expired')"
WITHOUT_EXPIRED = "status IN ('pending', 'failed', 'sent', 'dead')"


def upgrade() -> None:
    with op.batch_alter_table("mail_outbox") as batch:
        batch.add_column(sa.Column("expires_at", INSTANT, nullable=True))
        batch.drop_constraint(STATUS, type_="check")
        batch.create_check_constraint(STATUS, WITH_EXPIRED)


def downgrade() -> None:
    # An expired entry was given up without being sent, and its body is gone: like a dead one.
    op.execute(sa.text("UPDATE mail_outbox SET status = 'dead' WHERE status = 'expired'"))
    with op.batch_alter_table("mail_outbox") as batch:
        batch.drop_constraint(STATUS, type_="check")
        batch.create_check_constraint(STATUS, WITHOUT_EXPIRED)
        batch.drop_column("expires_at")
