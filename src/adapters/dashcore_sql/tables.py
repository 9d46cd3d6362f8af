"""The schema, as SQLAlchemy Core tables. Migrations create exactly this (a test compares them).

Every constraint has a name derived from ``NAMING_CONVENTION``: errors are translated to domain
errors by constraint name (``dashcore_sql.errors``), and migrations can drop what they created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from dashcore_sql.types import ExactDecimal, UtcDateTime

__all__ = [
    "NAMING_CONVENTION",
    "account_balances",
    "audit_chain_heads",
    "audit_events",
    "email_tokens",
    "exports",
    "holdings",
    "idempotency_keys",
    "known_devices",
    "ledger_snapshots",
    "login_challenges",
    "mail_outbox",
    "metadata",
    "order_limits",
    "orders",
    "pending_authorizations",
    "positions",
    "provider_connections",
    "raw_payloads",
    "recovery_codes",
    "sealed_secrets",
    "splits",
    "stored_accounts",
    "sync_runs",
    "totp_factors",
    "trade_books",
    "trades",
    "transaction_change_counters",
    "transactions",
    "users",
    "webhook_events",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("chain", Text(), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("prev_hash", CHAR(64), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("action", Text(), nullable=False),
    Column("outcome", Text(), nullable=False),
    Column("actor", Text()),
    Column("target", Text()),
    Column("ip", Text()),
    Column("user_agent", Text()),
    Column("request_id", Text()),
    Column("metadata", Text(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("chain", "seq"),
)
"""One row per recorded audit event; ``metadata`` is canonical JSON (sorted keys, compact)."""

audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("chain", Text(), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    PrimaryKeyConstraint("chain"),
)
"""The last seq and hash of each chain; appends to one chain serialize on its row."""

sealed_secrets = Table(
    "sealed_secrets",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("owner", Text(), nullable=False),
    Column("purpose", Text(), nullable=False),
    Column("ciphertext", LargeBinary(), nullable=False),
    Column("key_id", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("owner", "purpose"),
    Index(None, "key_id"),
)
"""One ciphertext per (owner, purpose); ``key_id`` is indexed for the key-rotation job."""

mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("recipient", Text(), nullable=False),
    Column("subject", Text(), nullable=False),
    Column("template", Text(), nullable=False),
    Column("body", LargeBinary()),
    Column("status", Text(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime()),
    Column("sent_at", UtcDateTime()),
    Column("last_error", Text()),
    Column("expires_at", UtcDateTime()),
    PrimaryKeyConstraint("id"),
    CheckConstraint("status IN ('pending', 'failed', 'sent', 'dead', 'expired')", name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    Index(None, "status", "next_attempt_at"),
)
"""Mail waiting to be sent, written in the same transaction as the change that caused it.

``body`` is the text and HTML sealed by the vault, bound to the row id; it is set to NULL once
the message is sent or dead. ``locked_until`` is the lease of the dispatcher that claimed it.
"""

users = Table(
    "users",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("email", Text(), nullable=False),
    Column("email_key", Text(), nullable=False),
    Column("password_hash", Text(), nullable=False),
    Column("verified", Boolean(), nullable=False),
    Column("role", Text(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("plan", Text()),
    Column("display_name", Text()),
    Column("pending_email", Text()),
    Column("failed_logins", Integer(), nullable=False),
    Column("last_failed_login_at", UtcDateTime()),
    Column("locked_until", UtcDateTime()),
    Column("password_login_disabled", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("email_key"),
    CheckConstraint("role IN ('user', 'admin')", name="role"),
    CheckConstraint("status IN ('active', 'disabled')", name="status"),
    CheckConstraint("failed_logins >= 0", name="failed_logins"),
)
"""Accounts. ``email`` is the address as given (mail goes there); ``email_key`` its canonical
form, unique. The lockout counter lives here, not in a cache (security.md LOCK-1)."""

email_tokens = Table(
    "email_tokens",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text(), nullable=False),
    Column("token_hash", LargeBinary(), nullable=False),
    Column("email_key", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("token_hash"),
    Index(None, "user_id", "purpose"),
    CheckConstraint(
        "purpose IN ('verify_email', 'change_email', 'password_reset')", name="purpose"
    ),
)
"""Email verification and password-reset tokens, stored as SHA-256 and found by that hash."""

known_devices = Table(
    "known_devices",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", CHAR(32), nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "fingerprint"),
)
"""Fingerprints of the clients each account signed in from (a new one is announced by mail)."""

totp_factors = Table(
    "totp_factors",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("status", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("confirmed_at", UtcDateTime()),
    Column("last_used_step", BigInteger()),
    Column("failures", Integer(), nullable=False),
    Column("locked_until", UtcDateTime()),
    PrimaryKeyConstraint("user_id"),
    CheckConstraint("status IN ('pending', 'active')", name="status"),
    CheckConstraint("(status = 'active') = (confirmed_at IS NOT NULL)", name="confirmed"),
    CheckConstraint("failures >= 0", name="failures"),
)
"""At most one authenticator-app factor per account (TOTP-1); its secret is a sealed secret,
not a column here. ``last_used_step`` is the last RFC 6238 counter accepted (each is accepted
once); ``failures`` is the account's MFA failure counter."""

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    PrimaryKeyConstraint("id"),
    Index(None, "user_id"),
)
"""Recovery codes as individual password hashes, never the codes (RC-1); a code is spent by
setting ``used_at`` once."""

login_challenges = Table(
    "login_challenges",
    metadata,
    Column("handle_hash", CHAR(64), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("amr", Text(), nullable=False),
    Column("code_digest", Text()),
    Column("remember_me", Boolean(), nullable=False),
    Column("device_label", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("max_attempts", Integer(), nullable=False),
    Column("consumed_at", UtcDateTime()),
    PrimaryKeyConstraint("handle_hash"),
    Index(None, "user_id", "kind"),
    Index(None, "expires_at"),
    CheckConstraint("kind IN ('email_otp', 'second_factor')", name="kind"),
    CheckConstraint("(kind = 'email_otp') = (code_digest IS NOT NULL)", name="code_digest"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
)
"""Pending steps of logins (OTP-1), found by the SHA-256 of the handle the client holds.
``amr`` is the JSON array of the factors already proven; ``code_digest`` is the keyed hash of an
emailed code. ``expires_at`` is indexed for the clean-up job."""

provider_connections = Table(
    "provider_connections",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", Text(), nullable=False),
    Column("alias", Text()),
    Column("status", Text(), nullable=False),
    Column("scopes", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("connected_at", UtcDateTime()),
    Column("expires_at", UtcDateTime()),
    Column("refresh_expires_at", UtcDateTime()),
    Column("last_refreshed_at", UtcDateTime()),
    Column("last_error_code", Text()),
    Column("last_error_message", Text()),
    Column("reauth_warned_for", UtcDateTime()),
    PrimaryKeyConstraint("id"),
    Index(None, "user_id", "created_at"),
    Index(None, "expires_at"),
    Index(None, "refresh_expires_at"),
    CheckConstraint(
        "status IN ('pending', 'connected', 'refreshing', 'needs_reauth', 'error', 'disconnected')",
        name="status",
    ),
    CheckConstraint("scopes IN ('read', 'read trade')", name="scopes"),
    CheckConstraint("(last_error_code IS NULL) = (last_error_message IS NULL)", name="last_error"),
)
"""Users' connections to brokers (issue #5). ``scopes`` is the sorted, space-separated scope
names (every connection can read). Credentials end at ``COALESCE(refresh_expires_at,
expires_at)``; both columns are indexed so the refresh and re-auth jobs find the connections
about to end without scanning the table. ``reauth_warned_for`` is the credential end the owner
was last warned about (one warning each). Tokens are sealed secrets, never columns here."""

pending_authorizations = Table(
    "pending_authorizations",
    metadata,
    Column("state_hash", CHAR(64), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("session_id", Text(), nullable=False),
    Column(
        "connection_id",
        Uuid(),
        ForeignKey("provider_connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("provider", Text(), nullable=False),
    Column("redirect_uri", Text(), nullable=False),
    Column("code_verifier", Text()),
    Column("return_to", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("consumed_at", UtcDateTime()),
    PrimaryKeyConstraint("state_hash"),
    Index(None, "user_id"),
    Index(None, "connection_id"),
    Index(None, "expires_at"),
)
"""Authorizations in flight (OAUTH-1, BKEY-1), found by the SHA-256 of their one-time
``state``, never the state itself. Each is consumed once by setting ``consumed_at``;
``expires_at`` is indexed for the clean-up job."""

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("provider", Text(), nullable=False),
    Column("event_id", Text(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("verified_by", Text(), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("broker_order_id", Text()),
    Column("account_id", Text()),
    Column("payload_digest", CHAR(64), nullable=False),
    Column("body", LargeBinary(), nullable=False),
    Column("body_size", Integer(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("provider", "event_id"),
    Index(None, "received_at"),
    CheckConstraint("body_size >= 0", name="body_size"),
)
"""The inbox of broker webhook deliveries (issue #8, WH-3): one row per ``(provider,
event_id)``, the constraint that deduplicates concurrent deliveries. ``body`` is the raw body
cut to 64 KiB (``body_size`` is the whole size, ``payload_digest`` its SHA-256); headers and
signatures are never stored. ``received_at`` is indexed for retention."""

# Aggregated data (issue #7). Listings are keyset scans of an ascending index read backwards
# where they sort newest first (PostgreSQL and SQLite both scan a B-tree either way).

_ACTIVE_SYNC = "status IN ('queued', 'running')"


def _instrument_columns(*, nullable: bool) -> list[Column[Any]]:
    """An instrument, flattened (``dashcore.domain.instruments.Instrument``)."""
    return [
        Column("symbol", Text(), nullable=nullable),
        Column("exchange", Text(), nullable=nullable),
        Column("instrument_currency", CHAR(3), nullable=nullable),
        Column("asset_class", Text(), nullable=nullable),
        Column("isin", CHAR(12)),
        Column("instrument_name", Text()),
        Column("lot_size", ExactDecimal(), nullable=nullable),
        Column("tick_size", ExactDecimal(), nullable=nullable),
    ]


stored_accounts = Table(
    "stored_accounts",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("connection_id", Uuid(), ForeignKey("provider_connections.id", ondelete="CASCADE")),
    Column("provider", Text()),
    Column("provider_account_id", Text()),
    Column("source", Text(), nullable=False),
    Column("name", Text()),
    Column("masked_number", Text(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("base_currency", CHAR(3), nullable=False),
    Column("sync_status", Text(), nullable=False),
    Column("last_synced_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
    Column("deleted_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("connection_id", "provider_account_id"),
    Index(None, "user_id", "id"),
    CheckConstraint("source IN ('synced', 'manual')", name="source"),
    CheckConstraint(
        "(source = 'synced') = (connection_id IS NOT NULL AND provider IS NOT NULL"
        " AND provider_account_id IS NOT NULL)",
        name="synced_link",
    ),
    CheckConstraint(
        "sync_status IN ('never', 'syncing', 'ok', 'failed', 'suspicious')", name="sync_status"
    ),
)
"""Accounts of users' connections and their manual accounts. A synced account is unique by
``(connection_id, provider_account_id)`` (the upsert key: its id survives re-authorization);
manual accounts have neither (NULLs never collide). ``(user_id, id)`` serves the keyset listing."""

account_balances = Table(
    "account_balances",
    metadata,
    Column(
        "account_id", Uuid(), ForeignKey("stored_accounts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("cash", ExactDecimal(), nullable=False),
    Column("buying_power", ExactDecimal(), nullable=False),
    Column("margin_used", ExactDecimal(), nullable=False),
    Column("synced_at", UtcDateTime(), nullable=False),
    Column("as_of", UtcDateTime()),
    PrimaryKeyConstraint("account_id"),
    Index(None, "user_id"),
)
"""The latest balance of each account, in one currency."""


def _snapshot_table(name: str, *extra: Column[Any]) -> Table:
    """Per-account snapshot lines keyed by ``key``; prices in one ``price_currency``."""
    return Table(
        name,
        metadata,
        Column(
            "account_id",
            Uuid(),
            ForeignKey("stored_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("key", Text(), nullable=False),
        Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        *_instrument_columns(nullable=False),
        Column("quantity", ExactDecimal(), nullable=False),
        *extra,
        Column("price_currency", CHAR(3)),
        Column("last_price", ExactDecimal()),
        Column("market_value", ExactDecimal()),
        Column("as_of", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("account_id", "key"),
        Index(None, "user_id"),
    )


holdings = _snapshot_table("holdings", Column("average_cost", ExactDecimal()))
"""Each account's holdings snapshot, replaced whole by a sync; the primary key serves the
keyset listing by instrument key."""

positions = _snapshot_table(
    "positions",
    Column("product", Text(), nullable=False),
    Column("average_price", ExactDecimal()),
    Column("realised_pnl", ExactDecimal()),
)
"""Each account's positions snapshot (key: instrument and product; quantity signed)."""

transactions = Table(
    "transactions",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column(
        "account_id", Uuid(), ForeignKey("stored_accounts.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text(), nullable=False),
    Column("provider_transaction_id", Text(), nullable=False),
    Column("activity", Text(), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("amount", ExactDecimal(), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    *_instrument_columns(nullable=True),
    Column("quantity", ExactDecimal()),
    Column("price", ExactDecimal()),
    Column("price_currency", CHAR(3)),
    Column("description", Text(), nullable=False),
    Column("provider_type", Text()),
    Column("order_ref", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("removed_at", UtcDateTime()),
    Column("created_seq", BigInteger(), nullable=False),
    Column("change_seq", BigInteger(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("account_id", "provider_transaction_id"),
    UniqueConstraint("user_id", "change_seq"),
    Index(None, "user_id", "occurred_at", "id"),
    Index(None, "account_id", "occurred_at", "id"),
    CheckConstraint("source IN ('synced', 'manual')", name="source"),
    CheckConstraint("created_seq >= 1 AND change_seq >= created_seq", name="seqs"),
    CheckConstraint("(price IS NULL) = (price_currency IS NULL)", name="price_currency"),
)
"""Every account's ledger. Unique by ``(account_id, provider_transaction_id)`` (the upsert
key); ``(user_id, change_seq)`` is unique and serves the change feed; ``(user_id | account_id,
occurred_at, id)`` serve the newest-first keyset listings (read backwards) and exports."""

transaction_change_counters = Table(
    "transaction_change_counters",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    PrimaryKeyConstraint("user_id"),
    CheckConstraint("seq >= 0", name="seq"),
)
"""The last ``change_seq`` handed out per user. Writers add to it with ``UPDATE … RETURNING``
inside their transaction: the row lock (held to commit) makes seq order commit order."""

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column(
        "connection_id",
        Uuid(),
        ForeignKey("provider_connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("trigger", Text(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("queued_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("accounts", Integer(), nullable=False),
    Column("holdings", Integer(), nullable=False),
    Column("positions", Integer(), nullable=False),
    Column("transactions_added", Integer(), nullable=False),
    Column("transactions_modified", Integer(), nullable=False),
    Column("transactions_removed", Integer(), nullable=False),
    Column("error_code", Text()),
    Column("error_message", Text()),
    Column("suspicious", Text(), nullable=False),
    Column("job_id", Text()),
    PrimaryKeyConstraint("id"),
    Index(
        "uq_sync_runs_active_connection_id",
        "connection_id",
        unique=True,
        postgresql_where=text(_ACTIVE_SYNC),
        sqlite_where=text(_ACTIVE_SYNC),
    ),
    Index(None, "connection_id", "queued_at"),
    Index(None, "status", "heartbeat_at"),
    CheckConstraint("trigger IN ('manual', 'scheduled')", name="trigger"),
    CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
    CheckConstraint("(error_code IS NULL) = (error_message IS NULL)", name="error"),
)
"""Sync runs. The partial unique index keeps at most one queued or running run per connection
(the database's guard beside the cross-process lock); ``suspicious`` is a JSON array of notes."""

raw_payloads = Table(
    "raw_payloads",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("run_id", Uuid(), ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("truncated", Boolean(), nullable=False),
    Column("body", LargeBinary(), nullable=False),
    PrimaryKeyConstraint("id"),
    Index(None, "run_id", "captured_at"),
    Index(None, "captured_at"),
    CheckConstraint("size >= 0", name="size"),
)
"""Providers' response bodies per sync run, zlib-compressed and capped; ``captured_at`` is
indexed for the retention purge."""

trades = Table(
    "trades",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("account", Text(), nullable=False),
    Column("symbol", Text(), nullable=False),
    Column("exchange", Text(), nullable=False),
    Column("side", Text(), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("price", ExactDecimal(), nullable=False),
    Column("charges", ExactDecimal(), nullable=False),
    Column("mtf_charge", ExactDecimal()),
    Column("capital_used", ExactDecimal()),
    Column("type", Text(), nullable=False),
    Column("source", Text(), nullable=False),
    Column("executed_at", UtcDateTime(), nullable=False),
    Column("order_id", Uuid()),
    Column("broker_trade_id", Text()),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("user_id", "account", "broker_trade_id"),
    Index(None, "user_id", "executed_at", "id"),
    Index(None, "user_id", "symbol", "exchange"),
    CheckConstraint("side IN ('buy', 'sell')", name="side"),
    CheckConstraint("source IN ('broker_fill', 'manual')", name="source"),
    CheckConstraint(
        "type IN ('equity', 'futures', 'options', 'currency', 'commodity', 'other')", name="type"
    ),
    CheckConstraint("source = 'manual' OR broker_trade_id IS NOT NULL", name="broker_fill"),
)
"""Users' trades (issue #8): manual records and broker fills. Every amount is in ``currency``
(the price's). A broker fill is unique by ``(user_id, account, broker_trade_id)`` (manual
trades have no broker id, and NULLs never collide); ``(user_id, executed_at, id)`` serves the
newest-first keyset listing (read backwards) and the ledger's oldest-first read. ``order_id``
names the placed order without a foreign key: a trade outlives the order's record."""

trade_books = Table(
    "trade_books",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("revision", BigInteger(), nullable=False),
    Column("rewritten_at", BigInteger(), nullable=False),
    Column("last_executed_at", UtcDateTime()),
    Column("last_trade_id", Uuid()),
    PrimaryKeyConstraint("user_id"),
    CheckConstraint("rewritten_at >= 0 AND rewritten_at <= revision", name="revisions"),
    CheckConstraint("(last_executed_at IS NULL) = (last_trade_id IS NULL)", name="last"),
)
"""Where each user's trades stand (``TradeBook``): the revision every trade write moves, the
revision of the last write that was not an append, and the greatest ``(executed_at, id)`` a
trade of the user ever had. Written by the trade repository in the unit of work of each write;
its row lock orders a user's concurrent trade writes."""

splits = Table(
    "splits",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("symbol", Text(), nullable=False),
    Column("exchange", Text(), nullable=False),
    Column("numerator", BigInteger(), nullable=False),
    Column("denominator", BigInteger(), nullable=False),
    Column("effective_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("user_id", "symbol", "exchange", "effective_at"),
    Index(None, "user_id", "effective_at", "id"),
    CheckConstraint("numerator > 0 AND denominator > 0", name="ratio"),
    CheckConstraint("numerator <> denominator", name="changes"),
)
"""Stock splits users recorded (``RecordedSplit``): ``numerator`` new units for every
``denominator`` old units of the instrument from ``effective_at`` on, in that user's ledger
only. A user has at most one split of an instrument at one instant; ``(user_id, effective_at,
id)`` serves the ledger's read of a user's splits in the order it applies them."""

ledger_snapshots = Table(
    "ledger_snapshots",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("method", Text(), nullable=False),
    Column("revision", BigInteger(), nullable=False),
    Column("through_at", UtcDateTime()),
    Column("through_id", Uuid()),
    Column("state", LargeBinary(), nullable=False),
    Column("built_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "method"),
    CheckConstraint("method IN ('fifo', 'lifo', 'average')", name="method"),
    CheckConstraint("revision >= 0", name="revision"),
    CheckConstraint("(through_at IS NULL) = (through_id IS NULL)", name="through"),
)
"""A user's lot ledger per cost method as of a trade book revision (``StoredLedger``), a cache
the portfolio resumes instead of reading every trade: ``state`` is the ledger snapshot in a
versioned binary encoding (``dashcore_sql.ledgers``), ``through_*`` the position of the last
trade it covers."""

_ORDER_STATUSES = (
    "status IN ('pending_submit', 'submitted', 'open', 'partially_filled', 'filled',"
    " 'cancel_requested', 'cancelled', 'rejected', 'expired', 'unknown')"
)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("connection_id", Uuid(), nullable=False),
    Column("provider", Text(), nullable=False),
    Column("account_id", Text(), nullable=False),
    *_instrument_columns(nullable=False),
    Column("side", Text(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("product", Text(), nullable=False),
    Column("validity", Text(), nullable=False),
    Column("quantity", ExactDecimal(), nullable=False),
    Column("limit_price", ExactDecimal()),
    Column("stop_price", ExactDecimal()),
    Column("client_reference", Text(), nullable=False),
    Column("idempotency_key_hash", CHAR(64), nullable=False),
    Column("status", Text(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("status_changed_at", UtcDateTime(), nullable=False),
    Column("submit_deadline", UtcDateTime(), nullable=False),
    Column("submit_attempts", Integer(), nullable=False),
    Column("reconcile_attempts", Integer(), nullable=False, server_default="0"),
    Column("reconcile_after", UtcDateTime()),
    Column("broker_order_id", Text()),
    Column("broker_status", Text()),
    Column("broker_updated_at", UtcDateTime()),
    Column("filled_quantity", ExactDecimal(), nullable=False),
    Column("carried_quantity", ExactDecimal(), nullable=False),
    Column("average_price", ExactDecimal()),
    Column("average_price_currency", CHAR(3)),
    Column("fills", Text(), nullable=False),
    Column("status_message", Text()),
    Column("last_error_code", Text()),
    Column("last_error_message", Text()),
    Column("estimated_value", ExactDecimal()),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("provider", "broker_order_id"),
    Index(None, "user_id", "idempotency_key_hash"),
    Index(None, "status", "status_changed_at"),
    CheckConstraint(_ORDER_STATUSES, name="status"),
    CheckConstraint("side IN ('buy', 'sell')", name="side"),
    CheckConstraint("type IN ('market', 'limit', 'stop', 'stop_limit')", name="type"),
    CheckConstraint("product IN ('delivery', 'intraday', 'margin')", name="product"),
    CheckConstraint("validity IN ('day', 'ioc', 'gtc')", name="validity"),
    CheckConstraint("version >= 0 AND submit_attempts >= 0", name="counters"),
    CheckConstraint(
        "(average_price IS NULL) = (average_price_currency IS NULL)", name="average_price"
    ),
    CheckConstraint("(last_error_code IS NULL) = (last_error_message IS NULL)", name="last_error"),
)
"""Orders placed through dashcore (issue #8), written ``pending_submit`` before anything is sent.
``version`` is the optimistic lock every save checks and bumps. A broker order is bound to one
order (``(provider, broker_order_id)`` is unique; NULLs never collide). ``fills`` is a JSON
array whose numbers are decimal strings. ``(status, status_changed_at)`` serves the reconciler
and the poller; ``connection_id`` has no foreign key: an order outlives its connection."""

Index(
    "ix_orders_user_id_created_at_id",
    orders.c.user_id,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
"""The newest-first keyset listing of a user's orders."""

order_limits = Table(
    "order_limits",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("max_order_value", ExactDecimal()),
    Column("max_order_quantity", ExactDecimal()),
    Column("max_daily_value", ExactDecimal()),
    PrimaryKeyConstraint("user_id", "currency"),
    CheckConstraint(
        "max_order_value IS NOT NULL OR max_order_quantity IS NOT NULL "
        "OR max_daily_value IS NOT NULL",
        name="some_limit",
    ),
)
"""A user's own order limits (security.md ORD-3), set by an administrator: per currency, each
limit that replaces the deployment's default (NULL: the default holds)."""

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", CHAR(64), nullable=False),
    Column("fingerprint", CHAR(64), nullable=False),
    Column("order_id", Uuid(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "key_hash"),
    Index(None, "expires_at"),
)
"""Claimed ``Idempotency-Key`` s of ``POST /orders`` (ORD-1): the SHA-256 of user and key, never
the key; the primary key makes concurrent claims of one key produce one order. ``expires_at``
is indexed for the clean-up job."""

_EXPORT_STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed')"

exports = Table(
    "exports",
    metadata,
    Column("id", Uuid(), nullable=False),
    Column("user_id", Uuid(), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("format", Text(), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime(), nullable=False),
    Column("account_ids", Text(), nullable=False),
    Column("period", Text()),
    Column("status", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("expires_at", UtcDateTime()),
    Column("rows_read", BigInteger(), nullable=False),
    Column("rows_estimated", BigInteger()),
    Column("row_count", BigInteger()),
    Column("byte_size", BigInteger()),
    Column("file_key", Text()),
    Column("error_code", Text()),
    Column("error_message", Text()),
    Column("job_id", Text()),
    PrimaryKeyConstraint("id"),
    Index(None, "status", "heartbeat_at"),
    Index(None, "expires_at"),
    CheckConstraint("format IN ('csv', 'json')", name="format"),
    CheckConstraint("period IN ('day', 'week', 'month', 'year')", name="period"),
    CheckConstraint(_EXPORT_STATUSES, name="status"),
    CheckConstraint("rows_read >= 0", name="rows_read"),
    CheckConstraint("(error_code IS NULL) = (error_message IS NULL)", name="error"),
)
"""Transaction exports (issue #7): the request (``account_ids`` is a JSON array, ``period``
NULL for raw rows), the state and progress, and where the file is. ``(status, heartbeat_at)``
serves the stale-export cleanup, ``expires_at`` the deletion of expired ones."""
