"""The aggregated data store in memory (embedded default, fast tests); answers as the SQL
adapters in ``dashcore_sql.aggregation`` do (see there and the ports for the rules).

Change seqs: a write takes the user's next seqs from a counter row and *claims* each one (a row
keyed by user and seq, inserted only if absent). Two units of work that read the counter before
either committed claim the same first seq, so the second to commit fails with ``Conflict``: seq
order is commit order here too, as the SQL counter's row lock makes it there. ``lock`` takes no
lock; listings read the whole table (fine for one process and tests, not for millions of rows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Hashable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
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
    check_page_size,
    encode_key_cursor,
    keyset_page,
    upsert_batch_owner,
)
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.portfolio import Page
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    RawPayloadRepository,
    StoredAccountRepository,
    SyncRunRepository,
    TransactionRepository,
    TransactionStream,
)
from dashcore_memory.store import MemoryUnitOfWork

__all__ = [
    "MemoryBalanceRepository",
    "MemoryHoldingRepository",
    "MemoryPositionRepository",
    "MemoryRawPayloadRepository",
    "MemoryStoredAccountRepository",
    "MemorySyncRunRepository",
    "MemoryTransactionRepository",
    "MemoryTransactionStream",
]

ACCOUNTS = "stored_accounts"
BALANCES = "account_balances"
HOLDINGS = "holdings"
POSITIONS = "positions"
TRANSACTIONS = "transactions"
CHANGE_COUNTERS = "transaction_change_counters"
CHANGE_CLAIMS = "transaction_change_claims"
"""One row per seq handed out, keyed by ``(user_id, seq)``."""
SYNC_RUNS = "sync_runs"
ACTIVE_RUNS = "sync_runs_active"
"""The queued or running run of each connection, keyed by connection id."""
RAW_PAYLOADS = "raw_payloads"


def _values(uow: MemoryUnitOfWork, table: str) -> list[Any]:
    return [value for _, value in uow.rows(table)]


class MemoryStoredAccountRepository(StoredAccountRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @staticmethod
    def _unique(account: StoredAccount) -> tuple[tuple[str, Hashable], ...]:
        if account.connection_id is None:
            return ()
        return (("provider_account", (account.connection_id, account.provider_account_id)),)

    async def add(self, account: StoredAccount) -> None:
        self._uow.put(ACCOUNTS, account.id, account, insert=True, unique=self._unique(account))

    async def upsert_synced(self, account: StoredAccount) -> StoredAccount:
        account.ensure_synced()
        existing = next(
            (
                stored
                for stored in _values(self._uow, ACCOUNTS)
                if stored.connection_id == account.connection_id
                and stored.provider_account_id == account.provider_account_id
            ),
            None,
        )
        if existing is None:
            await self.add(account)
            return account
        kept = replace(
            account, id=existing.id, user_id=existing.user_id, created_at=existing.created_at
        )
        self._uow.put(ACCOUNTS, kept.id, kept, unique=self._unique(kept))
        return kept

    async def get(self, account_id: UUID) -> StoredAccount | None:
        account: StoredAccount | None = self._uow.get(ACCOUNTS, account_id)
        return account

    async def lock(self, account_id: UUID) -> StoredAccount | None:
        return await self.get(account_id)

    async def save(self, account: StoredAccount) -> None:
        stored = await self.get(account.id)
        if stored is None or stored.user_id != account.user_id:
            raise NotFound("No such account.", code="account_not_found")
        self._uow.put(ACCOUNTS, account.id, account, unique=self._unique(account))

    async def list_for_user(
        self, user_id: UUID, *, after: UUID | None = None, limit: int
    ) -> Page[StoredAccount]:
        check_page_size(limit)
        rows = sorted(
            (
                account
                for account in _values(self._uow, ACCOUNTS)
                if account.user_id == user_id
                and account.is_visible
                and (after is None or account.id > after)
            ),
            key=lambda account: account.id,
        )
        return keyset_page(
            rows[: limit + 1], limit, lambda a: encode_key_cursor("accounts", user_id, str(a.id))
        )

    async def list_for_connection(self, connection_id: UUID) -> Sequence[StoredAccount]:
        owned = (a for a in _values(self._uow, ACCOUNTS) if a.connection_id == connection_id)
        return sorted(owned, key=lambda account: account.id)

    async def reached_elsewhere(
        self, connection: ProviderConnection, provider_account_ids: Collection[str]
    ) -> Sequence[StoredAccount]:
        found = (
            account
            for account in _values(self._uow, ACCOUNTS)
            if account.user_id == connection.user_id
            and account.provider == connection.provider
            and account.connection_id != connection.id
            and account.provider_account_id in provider_account_ids
            and account.is_visible
        )
        return sorted(found, key=lambda account: account.id)


class MemoryBalanceRepository(BalanceRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def put(self, balance: StoredBalance) -> None:
        self._uow.put(BALANCES, balance.account_id, balance)

    async def get(self, account_id: UUID) -> StoredBalance | None:
        balance: StoredBalance | None = self._uow.get(BALANCES, account_id)
        return balance

    async def list_for_user(self, user_id: UUID) -> Sequence[StoredBalance]:
        visible = {
            account.id
            for account in _values(self._uow, ACCOUNTS)
            if account.user_id == user_id and account.is_visible
        }
        balances = (b for b in _values(self._uow, BALANCES) if b.account_id in visible)
        return sorted(balances, key=lambda balance: balance.account_id)


class _MemorySnapshots:
    """Per-account snapshot lines keyed by ``(account_id, line.key)``."""

    def __init__(self, uow: MemoryUnitOfWork, table: str, listing: str) -> None:
        self._uow = uow
        self._table = table
        self._listing = listing

    def _lines(self, account_id: UUID) -> list[Any]:
        return [line for _, line in self._uow.rows(self._table) if line.account_id == account_id]

    def replace(self, account_id: UUID, lines: Sequence[StoredHolding | StoredPosition]) -> None:
        _check_snapshot(account_id, lines)
        for line in self._lines(account_id):
            self._uow.delete(self._table, (account_id, line.key))
        for line in lines:
            self._uow.put(self._table, (account_id, line.key), line)

    def list(self, account_id: UUID, after: str | None, limit: int) -> Page[Any]:
        check_page_size(limit)
        rows = sorted(
            (line for line in self._lines(account_id) if after is None or line.key > after),
            key=lambda line: line.key,
        )
        return keyset_page(
            rows[: limit + 1],
            limit,
            lambda line: encode_key_cursor(self._listing, account_id, line.key),
        )

    def count(self, account_id: UUID) -> int:
        return len(self._lines(account_id))


def _check_snapshot(account_id: UUID, lines: Sequence[StoredHolding | StoredPosition]) -> None:
    if any(line.account_id != account_id for line in lines):
        raise ValueError("every line of a snapshot belongs to its account")
    if len({line.key for line in lines}) != len(lines):
        raise ValueError("the keys of a snapshot are unique")


class MemoryHoldingRepository(HoldingRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._snapshots = _MemorySnapshots(uow, HOLDINGS, "holdings")

    async def replace(self, account_id: UUID, holdings: Sequence[StoredHolding]) -> None:
        self._snapshots.replace(account_id, holdings)

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredHolding]:
        return self._snapshots.list(account_id, after, limit)

    async def count(self, account_id: UUID) -> int:
        return self._snapshots.count(account_id)


class MemoryPositionRepository(PositionRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._snapshots = _MemorySnapshots(uow, POSITIONS, "positions")

    async def replace(self, account_id: UUID, positions: Sequence[StoredPosition]) -> None:
        self._snapshots.replace(account_id, positions)

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredPosition]:
        return self._snapshots.list(account_id, after, limit)

    async def count(self, account_id: UUID) -> int:
        return self._snapshots.count(account_id)


def _newest_first(row: StoredTransaction) -> tuple[datetime, UUID]:
    return (row.occurred_at, row.id)


class MemoryTransactionRepository(TransactionRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[StoredTransaction]:
        return _values(self._uow, TRANSACTIONS)

    def _stamp(self, user_id: UUID, rows: Sequence[StoredTransaction]) -> list[StoredTransaction]:
        """Write ``rows`` with the user's next seqs (a new row's ``created_seq`` too)."""
        last: int = self._uow.get(CHANGE_COUNTERS, user_id) or 0
        stamped = []
        for seq, row in enumerate(rows, start=last + 1):
            self._uow.put(CHANGE_CLAIMS, (user_id, seq), True, insert=True)
            created = seq if row.created_seq == 0 else row.created_seq
            written = replace(row, created_seq=created, change_seq=seq)
            self._uow.put(
                TRANSACTIONS,
                written.id,
                written,
                unique=(("provider_transaction", (row.account_id, row.provider_transaction_id)),),
            )
            stamped.append(written)
        if rows:
            self._uow.put(CHANGE_COUNTERS, user_id, last + len(rows))
        return stamped

    def _of_account(self, account_id: UUID) -> dict[str, StoredTransaction]:
        return {
            row.provider_transaction_id: row for row in self._all() if row.account_id == account_id
        }

    async def upsert(self, transactions: Sequence[StoredTransaction]) -> UpsertCounts:
        if not transactions:
            return UpsertCounts()
        account_id, user_id = upsert_batch_owner(transactions)
        existing = self._of_account(account_id)
        added: list[StoredTransaction] = []
        modified: list[StoredTransaction] = []
        for incoming in transactions:
            stored = existing.get(incoming.provider_transaction_id)
            if stored is None:
                added.append(replace(incoming, created_seq=0, change_seq=0))
            elif (updated := stored.updated_from(incoming, incoming.updated_at)) is not None:
                modified.append(updated)
        self._stamp(user_id, [*added, *modified])
        return UpsertCounts(added=len(added), modified=len(modified))

    async def add(self, transaction: StoredTransaction) -> StoredTransaction:
        if self._uow.get(TRANSACTIONS, transaction.id) is not None or any(
            row.account_id == transaction.account_id
            and row.provider_transaction_id == transaction.provider_transaction_id
            for row in self._all()
        ):
            raise Conflict("This transaction already exists.", code="transactions_exists")
        (written,) = self._stamp(
            transaction.user_id, [replace(transaction, created_seq=0, change_seq=0)]
        )
        return written

    async def get(self, transaction_id: UUID) -> StoredTransaction | None:
        row: StoredTransaction | None = self._uow.get(TRANSACTIONS, transaction_id)
        return row

    async def save(self, transaction: StoredTransaction) -> StoredTransaction:
        stored = await self.get(transaction.id)
        if (
            stored is None
            or stored.account_id != transaction.account_id
            or stored.user_id != transaction.user_id
        ):
            raise NotFound("No such transaction.", code="transaction_not_found")
        (written,) = self._stamp(
            transaction.user_id, [replace(transaction, created_seq=stored.created_seq)]
        )
        return written

    async def live_provider_ids(self, account_id: UUID, *, since: datetime) -> set[str]:
        return {
            row.provider_transaction_id
            for row in self._all()
            if row.account_id == account_id and not row.is_removed and row.occurred_at >= since
        }

    async def mark_removed(
        self, account_id: UUID, provider_transaction_ids: Collection[str], at: datetime
    ) -> int:
        wanted = set(provider_transaction_ids)
        doomed = [
            row
            for pid, row in sorted(self._of_account(account_id).items())
            if pid in wanted and not row.is_removed
        ]
        return self._remove(doomed, at)

    async def mark_account_removed(self, account_id: UUID, at: datetime) -> int:
        doomed = [
            row for _, row in sorted(self._of_account(account_id).items()) if not row.is_removed
        ]
        return self._remove(doomed, at)

    def _remove(self, rows: Sequence[StoredTransaction], at: datetime) -> int:
        if rows:
            self._stamp(rows[0].user_id, [row.removed(at) for row in rows])
        return len(rows)

    async def list(
        self,
        user_id: UUID,
        query: TransactionFilter,
        *,
        after: TransactionPosition | None = None,
        limit: int,
    ) -> Page[StoredTransaction]:
        check_page_size(limit)
        rows = sorted(
            (
                row
                for row in self._all()
                if row.user_id == user_id
                and query.matches(row)
                and (after is None or after.is_before(row))
            ),
            key=_newest_first,
            reverse=True,
        )
        return keyset_page(
            rows[: limit + 1], limit, lambda row: TransactionPosition.of(row).encode(user_id)
        )

    async def changes(self, user_id: UUID, after_seq: int, limit: int) -> TransactionChanges:
        check_page_size(limit)
        rows = sorted(
            (row for row in self._all() if row.user_id == user_id and row.change_seq > after_seq),
            key=lambda row: row.change_seq,
        )
        return TransactionChanges.of(user_id, rows[: limit + 1], after_seq, limit)


class MemoryTransactionStream(TransactionStream):
    """Reads what the unit of work sees when the stream starts."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def stream_transactions(
        self, user_id: UUID, query: TransactionFilter, *, batch_size: int = 1000
    ) -> AsyncIterator[StoredTransaction]:
        if batch_size < 1:
            raise ValueError("a batch holds at least one row")
        rows = sorted(
            (
                row
                for row in _values(self._uow, TRANSACTIONS)
                if row.user_id == user_id and query.matches(row)
            ),
            key=_newest_first,
        )
        for row in rows:
            yield row


class MemorySyncRunRepository(SyncRunRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _claim(self, run: SyncRun) -> None:
        """Hold or free the connection's one active slot (a row keyed by connection id):
        a slot committed by another run, or claimed in another unit of work that commits
        first, refuses this one."""
        holder = self._uow.get(ACTIVE_RUNS, run.connection_id)
        if not run.is_active:
            if holder == run.id:
                self._uow.delete(ACTIVE_RUNS, run.connection_id)
            return
        if holder is not None and holder != run.id:
            raise _already_active()
        if holder is None:
            fresh = run.connection_id not in self._uow.database.table(ACTIVE_RUNS)
            self._uow.put(ACTIVE_RUNS, run.connection_id, run.id, insert=fresh)

    async def add(self, run: SyncRun) -> None:
        if self._uow.get(SYNC_RUNS, run.id) is not None:
            raise Conflict("A sync run with this id already exists.", code="sync_runs_exists")
        self._claim(run)
        self._uow.put(SYNC_RUNS, run.id, run, insert=True)

    async def get(self, run_id: UUID) -> SyncRun | None:
        run: SyncRun | None = self._uow.get(SYNC_RUNS, run_id)
        return run

    async def lock(self, run_id: UUID) -> SyncRun | None:
        return await self.get(run_id)

    async def save(self, run: SyncRun) -> None:
        stored = await self.get(run.id)
        if stored is None or stored.connection_id != run.connection_id:
            raise NotFound("No such sync run.", code="sync_run_not_found")
        if run.job_id is None and stored.job_id is not None:
            run = run.with_job(stored.job_id)
        self._claim(run)
        self._uow.put(SYNC_RUNS, run.id, run)

    async def active_for_connection(self, connection_id: UUID) -> SyncRun | None:
        return next(
            (
                run
                for run in _values(self._uow, SYNC_RUNS)
                if run.connection_id == connection_id and run.is_active
            ),
            None,
        )

    async def stale(self, before: datetime, *, limit: int) -> Sequence[SyncRun]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        runs = (r for r in _values(self._uow, SYNC_RUNS) if r.is_active and r.heartbeat_at < before)
        return sorted(runs, key=lambda run: (run.heartbeat_at, run.id))[:limit]


def _already_active() -> Conflict:
    return Conflict(
        "A sync of this connection is already queued or running.", code="sync_already_active"
    )


class MemoryRawPayloadRepository(RawPayloadRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, payload: RawPayload) -> None:
        self._uow.put(RAW_PAYLOADS, payload.id, payload, insert=True)

    async def list_for_run(self, run_id: UUID) -> Sequence[RawPayload]:
        payloads = (p for p in _values(self._uow, RAW_PAYLOADS) if p.run_id == run_id)
        return sorted(payloads, key=lambda payload: (payload.captured_at, payload.id))

    async def purge(self, before: datetime) -> int:
        doomed = [
            payload.id
            for payload in _values(self._uow, RAW_PAYLOADS)
            if payload.captured_at < before
        ]
        for payload_id in doomed:
            self._uow.delete(RAW_PAYLOADS, payload_id)
        return len(doomed)
