"""Translating database errors into domain errors, at the adapter's boundary.

No SQLAlchemy, asyncpg or sqlite3 exception leaves ``dashcore_sql``:

- a violated constraint is looked up by name in ``CONSTRAINT_CONFLICTS`` and becomes that
  ``Conflict``; a constraint not listed there becomes a plain ``Conflict``;
- a transaction that lost a race (serialization failure, deadlock) is a ``Conflict`` too: the
  caller may retry;
- an unreachable, restarting, overloaded, locked or timed-out database is
  ``DependencyUnavailable(dependency="database")``;
- a database without dashcore's tables or columns (never migrated, or migrated to an older
  revision than the code) is that too, with code ``database_not_migrated`` and a message
  that says to run ``dashcore migrate up``: "unavailable" alone sends an operator looking
  for a network fault; so is a database the URL names that does not exist
  (``database_missing``) or that refuses its user or password (``database_access_denied``);
- an error raised while binding a value is re-raised as itself: a domain error for a refused
  value (a naive datetime, a float amount), a ``TypeError`` for a programming mistake;
- anything else is a ``DashcoreError`` with code ``database_error`` (a defect, not the caller's).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from sqlalchemy import MetaData, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from dashcore.domain.errors import Conflict, DashcoreError, DependencyUnavailable
from dashcore_sql.tables import metadata

__all__ = [
    "CONSTRAINT_CONFLICTS",
    "DATABASE",
    "constraint_name",
    "database_errors",
    "not_migrated",
    "translate_error",
]

DATABASE = "database"

CONSTRAINT_CONFLICTS: Final[Mapping[str, tuple[str, str]]] = {
    "pk_sealed_secrets": ("sealed_secrets_exists", "A secret with this id already exists."),
    "uq_sealed_secrets_owner_purpose": (
        "sealed_secrets_owner_purpose_taken",
        "The owner already has a secret for this purpose.",
    ),
    "pk_audit_events": ("audit_events_exists", "An audit event with this id already exists."),
    "uq_audit_events_chain_seq": (
        "audit_events_exists",
        "The audit chain already has an event at this position.",
    ),
    "pk_mail_outbox": ("mail_outbox_exists", "An outbox entry with this id already exists."),
    "pk_known_devices": ("known_devices_exists", "This device is already known."),
    "pk_users": ("users_exists", "A user with this id already exists."),
    "uq_users_email_key": ("users_email_taken", "An account with this email already exists."),
    "pk_email_tokens": ("email_tokens_exists", "A token with this id already exists."),
    "uq_email_tokens_token_hash": ("email_tokens_exists", "This token already exists."),
    "pk_totp_factors": ("totp_factors_exists", "The user already has an authenticator factor."),
    "pk_recovery_codes": ("recovery_codes_exists", "A recovery code with this id already exists."),
    "pk_login_challenges": ("login_challenges_exists", "This challenge already exists."),
    "pk_provider_connections": (
        "provider_connections_exists",
        "A connection with this id already exists.",
    ),
    "pk_pending_authorizations": (
        "pending_authorizations_exists",
        "This authorization is already pending.",
    ),
    "pk_orders": ("order_exists", "An order with this id already exists."),
    "uq_orders_provider_broker_order_id": (
        "placed_orders_broker_order_taken",
        "This broker order is already bound to another order.",
    ),
    "pk_idempotency_keys": (
        "idempotency_claims_exists",
        "This Idempotency-Key is already claimed.",
    ),
    "pk_webhook_events": (
        "webhook_events_id_taken",
        "A webhook event with this id already exists.",
    ),
    "uq_webhook_events_provider_event_id": (
        "webhook_events_exists",
        "This provider's event is already stored.",
    ),
    "pk_trades": ("trades_exists", "A trade with this id already exists."),
    "uq_trades_user_id_account_broker_trade_id": (
        "trades_broker_trade_taken",
        "This broker fill is already recorded.",
    ),
    "pk_splits": ("splits_exists", "A split with this id already exists."),
    "uq_splits_user_id_symbol_exchange_effective_at": (
        "splits_instrument_at_taken",
        "A split of this instrument at this instant is already recorded.",
    ),
    "pk_stored_accounts": ("stored_accounts_exists", "An account with this id already exists."),
    "uq_stored_accounts_connection_id_provider_account_id": (
        "stored_accounts_provider_account_taken",
        "This provider account is already stored for the connection.",
    ),
    "pk_transactions": ("transactions_exists", "This transaction already exists."),
    "uq_transactions_account_id_provider_transaction_id": (
        "transactions_exists",
        "This transaction already exists.",
    ),
    # Change numbers are taken under the user's counter-row lock; a clash means a concurrent
    # writer bypassed it, and the write is safe to retry.
    "uq_transactions_user_id_change_seq": (
        "transaction_change_conflict",
        "Another change to these transactions was recorded at the same time; retry.",
    ),
    "pk_sync_runs": ("sync_runs_exists", "A sync run with this id already exists."),
    "uq_sync_runs_active_connection_id": (
        "sync_already_active",
        "A sync of this connection is already queued or running.",
    ),
    "pk_raw_payloads": ("raw_payloads_exists", "A payload with this id already exists."),
    "pk_exports": ("exports_exists", "An export with this id already exists."),
}
"""Constraint name -> (stable ``Conflict`` code, message). Codes match the memory adapter's."""

# SQLSTATE classes (PostgreSQL): 08 connection, 53 resources, 57 operator intervention
# (shutdown, statement timeout), 40 transaction rollback (serialization failure, deadlock).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_RACE_SQLSTATE_CLASS = "40"
_MISSING_SCHEMA_SQLSTATES = ("42P01", "42703")  # undefined table, undefined column
_MISSING_DATABASE_SQLSTATE = "3D000"  # invalid catalog name
_ACCESS_DENIED_SQLSTATE_CLASS = "28"  # invalid authorization specification
_SQLITE_MISSING_SCHEMA = re.compile(r"^no such (?:table|column): ")
_SQLITE_COLUMNS = re.compile(r"(?:UNIQUE|PRIMARY KEY) constraint failed: (.+)$")
_SQLITE_NAMED = re.compile(r"CHECK constraint failed: (\w+)")


def _column_sets(schema: MetaData) -> dict[tuple[str, frozenset[str]], str]:
    """(table, columns) -> constraint name, for every unique and primary key constraint."""
    names: dict[tuple[str, frozenset[str]], str] = {}
    for table in schema.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
                columns = frozenset(column.name for column in constraint.columns)
                names[(table.name, columns)] = str(constraint.name)
    return names


_CONSTRAINT_BY_COLUMNS: Final = _column_sets(metadata)


def constraint_name(error: SqlIntegrityError) -> str | None:
    """The name of the violated constraint, from asyncpg's report or SQLite's message."""
    driver_error = error.orig
    named = getattr(getattr(driver_error, "__cause__", None), "constraint_name", None)
    if isinstance(named, str):
        return named
    message = str(driver_error)
    if match := _SQLITE_NAMED.search(message):
        return match.group(1)
    if match := _SQLITE_COLUMNS.search(message):
        qualified = [part.strip().split(".", 1) for part in match.group(1).split(",")]
        if len({table for table, _ in qualified}) == 1:
            key = (qualified[0][0], frozenset(column for _, column in qualified))
            return _CONSTRAINT_BY_COLUMNS.get(key)
    return None


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or "")


def translate_error(error: Exception) -> Exception:
    """The domain error to raise in place of ``error`` (see the module docstring)."""
    if isinstance(error, DashcoreError):
        return error
    if isinstance(error, SqlIntegrityError):
        name = constraint_name(error)
        code, message = CONSTRAINT_CONFLICTS.get(name or "", ("conflict", None))
        return Conflict(message, code=code)
    if isinstance(error, DBAPIError):
        sqlstate = _sqlstate(error)
        if sqlstate.startswith(_RACE_SQLSTATE_CLASS):
            return Conflict("A concurrent change got there first; retry.", code="concurrent_update")
        if sqlstate in _MISSING_SCHEMA_SQLSTATES or _SQLITE_MISSING_SCHEMA.match(str(error.orig)):
            return not_migrated()
        if sqlstate == _MISSING_DATABASE_SQLSTATE:
            return DependencyUnavailable(
                "The database named in the database URL does not exist: create it, then run "
                "`dashcore migrate up`.",
                dependency=DATABASE,
                code="database_missing",
            )
        if sqlstate.startswith(_ACCESS_DENIED_SQLSTATE_CLASS):
            return DependencyUnavailable(
                "The database refused the user or password of the database URL.",
                dependency=DATABASE,
                code="database_access_denied",
            )
        if (
            error.connection_invalidated
            or isinstance(error, OperationalError | InterfaceError)
            or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
        ):
            return DependencyUnavailable("The database is unavailable.", dependency=DATABASE)
    elif isinstance(error, StatementError) and isinstance(error.orig, DashcoreError | TypeError):
        return error.orig
    if isinstance(error, PoolTimeoutError | OSError | TimeoutError):
        return DependencyUnavailable("The database is unavailable.", dependency=DATABASE)
    return DashcoreError("The database rejected a statement.", code="database_error")


def not_migrated() -> DependencyUnavailable:
    """A database without this version's tables: the operator runs ``dashcore migrate up``."""
    return DependencyUnavailable(
        "The database is not migrated to this version of dashcore: run `dashcore migrate up`.",
        dependency=DATABASE,
        code="database_not_migrated",
    )


@contextmanager
def database_errors() -> Iterator[None]:
    """Run a block whose database errors leave it as domain errors."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        raise translate_error(error) from error
