"""Second factors: TOTP factors, recovery codes and login challenges.

Revision ID: 0005_second_factors
Revises: 0004_known_devices
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_second_factors"
down_revision: str | Sequence[str] | None = "0004_known_devices"
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
        "totp_factors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("confirmed_at", INSTANT, nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_totp_factors"),
        _owned_by_user("totp_factors"),
        sa.CheckConstraint("status IN ('pending', 'active')", name="ck_totp_factors_status"),
        sa.CheckConstraint(
            "(status = 'active') = (confirmed_at IS NOT NULL)", name="ck_totp_factors_confirmed"
        ),
        sa.CheckConstraint("failures >= 0", name="ck_totp_factors_failures"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("used_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        _owned_by_user("recovery_codes"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "login_challenges",
        sa.Column("handle_hash", sa.CHAR(64), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("amr", sa.Text(), nullable=False),
        sa.Column("code_digest", sa.Text(), nullable=True),
        sa.Column("remember_me", sa.Boolean(), nullable=False),
        sa.Column("device_label", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("consumed_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("handle_hash", name="pk_login_challenges"),
        _owned_by_user("login_challenges"),
        sa.CheckConstraint(
            "kind IN ('email_otp', 'second_factor')", name="ck_login_challenges_kind"
        ),
        sa.CheckConstraint(
            "(kind = 'email_otp') = (code_digest IS NOT NULL)",
            name="ck_login_challenges_code_digest",
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_login_challenges_attempts"),
        sa.CheckConstraint("max_attempts >= 1", name="ck_login_challenges_max_attempts"),
    )
    op.create_index("ix_login_challenges_user_id_kind", "login_challenges", ["user_id", "kind"])
    op.create_index("ix_login_challenges_expires_at", "login_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_challenges_expires_at", table_name="login_challenges")
    op.drop_index("ix_login_challenges_user_id_kind", table_name="login_challenges")
    op.drop_table("login_challenges")
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("totp_factors")
