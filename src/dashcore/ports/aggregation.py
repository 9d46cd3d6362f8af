"""Ports of the aggregated data store (issue #7): accounts, balances, holdings and positions
snapshots, transactions with their change feed, sync runs and raw provider payloads.

Every repository works inside the caller's unit of work: writes are visible to others only
after ``commit()``. Listings page by keyset (``limit`` rows after a position, never an offset)
and answer a :class:`~dashcore.domain.portfolio.Page` whose ``next_cursor`` is made with the
cursor functions of :mod:`dashcore.domain.aggregation`; the caller decodes a client's cursor into
the position before calling (a malformed one is a ``BadRequest`` there).

Transactions: each write of a transaction (insert, changed content, removal) stamps it with its
user's next ``change_seq``, taken under a per-user lock held until the unit of work commits, so
seq order is commit order (see the domain module); a write that changes nothing stamps nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.aggregation import (
    RawPayload,
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
    SyncRun,
    TransactionChanges,
    TransactionFilter,
    TransactionPosition,
    UpsertCounts,
)
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.portfolio import Page

__all__ = [
    "BalanceRepository",
    "HoldingRepository",
    "PositionRepository",
    "RawPayloadRepository",
    "StoredAccountRepository",
    "SyncRunRepository",
    "TransactionRepository",
    "TransactionStream",
]


class StoredAccountRepository(Protocol):
    async def add(self, account: StoredAccount) -> None:
        """Insert a new account (``Conflict`` ``stored_accounts_exists`` for a taken id, or
        ``stored_accounts_provider_account_taken`` for a synced account already stored)."""
        ...

    async def upsert_synced(self, account: StoredAccount) -> StoredAccount:
        """Store a synced account by ``(connection_id, provider_account_id)``: a new one is
        inserted as given; an existing one keeps its id, owner and ``created_at`` and takes
        every other field from ``account``. Returns what is stored."""
        ...

    async def get(self, account_id: UUID) -> StoredAccount | None: ...

    async def lock(self, account_id: UUID) -> StoredAccount | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, account: StoredAccount) -> None:
        """Rewrite an existing account (``NotFound`` ``account_not_found`` if there is none
        with that id and owner)."""
        ...

    async def list_for_user(
        self, user_id: UUID, *, after: UUID | None = None, limit: int
    ) -> Page[StoredAccount]:
        """The user's visible accounts (closed ones included, deleted manual ones not), in id
        order (creation order), ``limit`` after the account ``after``."""
        ...

    async def list_for_connection(self, connection_id: UUID) -> Sequence[StoredAccount]:
        """Every account of a connection (closed ones included), in id order."""
        ...

    async def reached_elsewhere(
        self, connection: ProviderConnection, provider_account_ids: Collection[str]
    ) -> Sequence[StoredAccount]:
        """The visible accounts of ``connection``'s user that another of their connections to
        the same provider holds under one of ``provider_account_ids``, in id order."""
        ...


class BalanceRepository(Protocol):
    async def put(self, balance: StoredBalance) -> None:
        """Replace the account's latest balance."""
        ...

    async def get(self, account_id: UUID) -> StoredBalance | None: ...

    async def list_for_user(self, user_id: UUID) -> Sequence[StoredBalance]:
        """The latest balance of each of the user's visible accounts, in account id order."""
        ...


class HoldingRepository(Protocol):
    async def replace(self, account_id: UUID, holdings: Sequence[StoredHolding]) -> None:
        """Make ``holdings`` the account's whole snapshot (keys unique, all of this account)."""
        ...

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredHolding]:
        """The snapshot in key order, ``limit`` lines after the key ``after``."""
        ...

    async def count(self, account_id: UUID) -> int: ...


class PositionRepository(Protocol):
    async def replace(self, account_id: UUID, positions: Sequence[StoredPosition]) -> None:
        """Make ``positions`` the account's whole snapshot (keys unique, all of this account)."""
        ...

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredPosition]:
        """The snapshot in key order, ``limit`` lines after the key ``after``."""
        ...

    async def count(self, account_id: UUID) -> int: ...


class TransactionRepository(Protocol):
    async def upsert(self, transactions: Sequence[StoredTransaction]) -> UpsertCounts:
        """Store provider rows of one account by ``(account_id, provider_transaction_id)``.

        A new row is inserted as given. An existing row keeps its id and ``created_at``; it is
        rewritten (and stamped) only when its content changed or it had been removed, which
        un-removes it. An identical row is left alone: re-upserting a batch writes nothing.
        New rows are stamped first, then changed ones, each in batch order; an existing row
        takes ``updated_at`` from the incoming one. The batch holds each provider id at most
        once (``ValueError`` otherwise)."""
        ...

    async def add(self, transaction: StoredTransaction) -> StoredTransaction:
        """Insert one row (a manual entry) and return it stamped."""
        ...

    async def get(self, transaction_id: UUID) -> StoredTransaction | None: ...

    async def save(self, transaction: StoredTransaction) -> StoredTransaction:
        """Rewrite one existing row (an edit or a deletion) and return it stamped
        (``NotFound`` ``transaction_not_found`` if there is none with that id and account)."""
        ...

    async def live_provider_ids(self, account_id: UUID, *, since: datetime) -> set[str]:
        """Provider ids of the account's rows not removed with ``occurred_at >= since``."""
        ...

    async def mark_removed(
        self, account_id: UUID, provider_transaction_ids: Collection[str], at: datetime
    ) -> int:
        """Mark those rows removed at ``at`` (stamped); rows already removed or unknown are
        skipped. Returns how many were marked."""
        ...

    async def mark_account_removed(self, account_id: UUID, at: datetime) -> int:
        """Mark every row of the account not yet removed (a deleted manual account)."""
        ...

    async def list(
        self,
        user_id: UUID,
        query: TransactionFilter,
        *,
        after: TransactionPosition | None = None,
        limit: int,
    ) -> Page[StoredTransaction]:
        """The user's rows matching ``query`` in ``(occurred_at desc, id desc)`` order,
        ``limit`` after ``after``; ``next_cursor`` is the encoded position of the last row.

        Walking every page returns each row that existed when the walk began, and was not
        changed to stop matching meanwhile, exactly once; a row inserted during the walk shows
        up only if it sorts after the page being read."""
        ...

    async def changes(self, user_id: UUID, after_seq: int, limit: int) -> TransactionChanges:
        """The change feed: the user's rows with ``change_seq > after_seq`` in seq order,
        ``limit`` at most, each in its latest state."""
        ...


class TransactionStream(Protocol):
    """Reading many transactions in constant memory (exports)."""

    def stream_transactions(
        self, user_id: UUID, query: TransactionFilter, *, batch_size: int = 1000
    ) -> AsyncIterator[StoredTransaction]:
        """The user's rows matching ``query`` in ``(occurred_at, id)`` order, from one
        consistent snapshot, fetched ``batch_size`` at a time (a server-side cursor on
        PostgreSQL): memory stays bounded by the batch, whatever the row count."""
        ...


class SyncRunRepository(Protocol):
    async def add(self, run: SyncRun) -> None:
        """Insert a run. At most one run of a connection is queued or running: a second one
        is a ``Conflict`` (``sync_already_active``)."""
        ...

    async def get(self, run_id: UUID) -> SyncRun | None: ...

    async def lock(self, run_id: UUID) -> SyncRun | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, run: SyncRun) -> None:
        """Rewrite an existing run (``NotFound`` ``sync_run_not_found`` otherwise), keeping
        its stored ``job_id`` when ``run`` has none: the job is set once, by whoever queued
        it, and a worker's copy read before that must not clear it."""
        ...

    async def active_for_connection(self, connection_id: UUID) -> SyncRun | None:
        """The connection's queued or running run, if any."""
        ...

    async def stale(self, before: datetime, *, limit: int) -> Sequence[SyncRun]:
        """Queued or running runs whose heartbeat is older than ``before``, oldest first."""
        ...


class RawPayloadRepository(Protocol):
    async def add(self, payload: RawPayload) -> None: ...

    async def list_for_run(self, run_id: UUID) -> Sequence[RawPayload]:
        """The run's payloads in capture order."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete payloads captured before ``before``; returns how many."""
        ...
