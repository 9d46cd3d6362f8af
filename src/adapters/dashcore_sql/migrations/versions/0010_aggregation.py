"""Aggregated data: stored accounts, balances, holdings and positions snapshots, transactions
with their per-user change counter, sync runs and raw provider payloads.

Revision ID: 0010_aggregation
Revises: 0009_orders
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_aggregation"
down_revision: str | Sequence[str] | None = "0009_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of dashcore_sql.types as of this revision: UtcDateTime is TIMESTAMPTZ on
# PostgreSQL and fixed-width ISO 8601 text in UTC on SQLite; ExactDecimal is unconstrained
# NUMERIC on PostgreSQL and the decimal's text on SQLite.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
DECIMAL = sa.Numeric().with_variant(sa.Text(), "sqlite")
ACTIVE_SYNC = "status IN ('queued', 'running')"


def _owned_by_user(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def _of_account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["stored_accounts.id"],
        name=f"fk_{table}_account_id_stored_accounts",
        ondelete="CASCADE",
    )


def _of_connection(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["provider_connections.id"],
        name=f"fk_{table}_connection_id_provider_connections",
        ondelete="CASCADE",
    )


def _instrument(*, nullable: bool) -> list[sa.Column[object]]:
    return [
        sa.Column("symbol", sa.Text(), nullable=nullable),
        sa.Column("exchange", sa.Text(), nullable=nullable),
        sa.Column("instrument_currency", sa.CHAR(3), nullable=nullable),
        sa.Column("asset_class", sa.Text(), nullable=nullable),
        sa.Column("isin", sa.CHAR(12), nullable=True),
        sa.Column("instrument_name", sa.Text(), nullable=True),
        sa.Column("lot_size", DECIMAL, nullable=nullable),
        sa.Column("tick_size", DECIMAL, nullable=nullable),
    ]


def _snapshot(name: str, *extra: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_instrument(nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        *extra,
        sa.Column("price_currency", sa.CHAR(3), nullable=True),
        sa.Column("last_price", DECIMAL, nullable=True),
        sa.Column("market_value", DECIMAL, nullable=True),
        sa.Column("as_of", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key", name=f"pk_{name}"),
        _of_account(name),
        _owned_by_user(name),
    )
    op.create_index(f"ix_{name}_user_id", name, ["user_id"])


def upgrade() -> None:
    op.create_table(
        "stored_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("provider_account_id", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("masked_number", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("base_currency", sa.CHAR(3), nullable=False),
        sa.Column("sync_status", sa.Text(), nullable=False),
        sa.Column("last_synced_at", INSTANT, nullable=True),
        sa.Column("closed_at", INSTANT, nullable=True),
        sa.Column("deleted_at", INSTANT, nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stored_accounts"),
        _owned_by_user("stored_accounts"),
        _of_connection("stored_accounts"),
        sa.UniqueConstraint(
            "connection_id",
            "provider_account_id",
            name="uq_stored_accounts_connection_id_provider_account_id",
        ),
        sa.CheckConstraint("source IN ('synced', 'manual')", name="ck_stored_accounts_source"),
        sa.CheckConstraint(
            "(source = 'synced') = (connection_id IS NOT NULL AND provider IS NOT NULL"
            " AND provider_account_id IS NOT NULL)",
            name="ck_stored_accounts_synced_link",
        ),
        sa.CheckConstraint(
            "sync_status IN ('never', 'syncing', 'ok', 'failed', 'suspicious')",
            name="ck_stored_accounts_sync_status",
        ),
    )
    op.create_index("ix_stored_accounts_user_id_id", "stored_accounts", ["user_id", "id"])
    op.create_table(
        "account_balances",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("cash", DECIMAL, nullable=False),
        sa.Column("buying_power", DECIMAL, nullable=False),
        sa.Column("margin_used", DECIMAL, nullable=False),
        sa.Column("synced_at", INSTANT, nullable=False),
        sa.Column("as_of", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_balances"),
        _of_account("account_balances"),
        _owned_by_user("account_balances"),
    )
    op.create_index("ix_account_balances_user_id", "account_balances", ["user_id"])
    _snapshot("holdings", sa.Column("average_cost", DECIMAL, nullable=True))
    _snapshot(
        "positions",
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("average_price", DECIMAL, nullable=True),
        sa.Column("realised_pnl", DECIMAL, nullable=True),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("provider_transaction_id", sa.Text(), nullable=False),
        sa.Column("activity", sa.Text(), nullable=False),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("amount", DECIMAL, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        *_instrument(nullable=True),
        sa.Column("quantity", DECIMAL, nullable=True),
        sa.Column("price", DECIMAL, nullable=True),
        sa.Column("price_currency", sa.CHAR(3), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("provider_type", sa.Text(), nullable=True),
        sa.Column("order_ref", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("removed_at", INSTANT, nullable=True),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        _of_account("transactions"),
        _owned_by_user("transactions"),
        sa.UniqueConstraint(
            "account_id",
            "provider_transaction_id",
            name="uq_transactions_account_id_provider_transaction_id",
        ),
        sa.UniqueConstraint("user_id", "change_seq", name="uq_transactions_user_id_change_seq"),
        sa.CheckConstraint("source IN ('synced', 'manual')", name="ck_transactions_source"),
        sa.CheckConstraint(
            "created_seq >= 1 AND change_seq >= created_seq", name="ck_transactions_seqs"
        ),
        sa.CheckConstraint(
            "(price IS NULL) = (price_currency IS NULL)", name="ck_transactions_price_currency"
        ),
    )
    op.create_index(
        "ix_transactions_user_id_occurred_at_id", "transactions", ["user_id", "occurred_at", "id"]
    )
    op.create_index(
        "ix_transactions_account_id_occurred_at_id",
        "transactions",
        ["account_id", "occurred_at", "id"],
    )
    op.create_table(
        "transaction_change_counters",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_transaction_change_counters"),
        _owned_by_user("transaction_change_counters"),
        sa.CheckConstraint("seq >= 0", name="ck_transaction_change_counters_seq"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("queued_at", INSTANT, nullable=False),
        sa.Column("heartbeat_at", INSTANT, nullable=False),
        sa.Column("started_at", INSTANT, nullable=True),
        sa.Column("finished_at", INSTANT, nullable=True),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("holdings", sa.Integer(), nullable=False),
        sa.Column("positions", sa.Integer(), nullable=False),
        sa.Column("transactions_added", sa.Integer(), nullable=False),
        sa.Column("transactions_modified", sa.Integer(), nullable=False),
        sa.Column("transactions_removed", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("suspicious", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        _of_connection("sync_runs"),
        _owned_by_user("sync_runs"),
        sa.CheckConstraint("trigger IN ('manual', 'scheduled')", name="ck_sync_runs_trigger"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_sync_runs_status"
        ),
        sa.CheckConstraint(
            "(error_code IS NULL) = (error_message IS NULL)", name="ck_sync_runs_error"
        ),
    )
    op.create_index(
        "uq_sync_runs_active_connection_id",
        "sync_runs",
        ["connection_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_SYNC),
        sqlite_where=sa.text(ACTIVE_SYNC),
    )
    op.create_index(
        "ix_sync_runs_connection_id_queued_at", "sync_runs", ["connection_id", "queued_at"]
    )
    op.create_index("ix_sync_runs_status_heartbeat_at", "sync_runs", ["status", "heartbeat_at"])
    op.create_table(
        "raw_payloads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("captured_at", INSTANT, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_raw_payloads"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name="fk_raw_payloads_run_id_sync_runs",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("size >= 0", name="ck_raw_payloads_size"),
    )
    op.create_index("ix_raw_payloads_run_id_captured_at", "raw_payloads", ["run_id", "captured_at"])
    op.create_index("ix_raw_payloads_captured_at", "raw_payloads", ["captured_at"])


def downgrade() -> None:
    op.drop_index("ix_raw_payloads_captured_at", table_name="raw_payloads")
    op.drop_index("ix_raw_payloads_run_id_captured_at", table_name="raw_payloads")
    op.drop_table("raw_payloads")
    op.drop_index("ix_sync_runs_status_heartbeat_at", table_name="sync_runs")
    op.drop_index("ix_sync_runs_connection_id_queued_at", table_name="sync_runs")
    op.drop_index("uq_sync_runs_active_connection_id", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("transaction_change_counters")
    op.drop_index("ix_transactions_account_id_occurred_at_id", table_name="transactions")
    op.drop_index("ix_transactions_user_id_occurred_at_id", table_name="transactions")
    op.drop_table("transactions")
    for name in ("positions", "holdings"):
        op.drop_index(f"ix_{name}_user_id", table_name=name)
        op.drop_table(name)
    op.drop_index("ix_account_balances_user_id", table_name="account_balances")
    op.drop_table("account_balances")
    op.drop_index("ix_stored_accounts_user_id_id", table_name="stored_accounts")
    op.drop_table("stored_accounts")
