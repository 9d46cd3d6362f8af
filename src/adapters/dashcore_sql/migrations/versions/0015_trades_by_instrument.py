"""An index of each user's trades by instrument: recording a trade checks that the
instrument's other trades are in its currency, and listings filter by instrument.

Revision ID: 0015_trades_by_instrument
Revises: 0014_splits
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_trades_by_instrument"
down_revision: str | Sequence[str] | None = "0014_splits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_trades_user_id_symbol_exchange", "trades", ["user_id", "symbol", "exchange"]
    )


def downgrade() -> None:
    op.drop_index("ix_trades_user_id_symbol_exchange", table_name="trades")
