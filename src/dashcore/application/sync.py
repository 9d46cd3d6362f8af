"""Syncing a connection's data from its provider (issue #7).

Rules:
- **One sync at a time per connection.** A request finds the connection's queued or running run
  and returns it instead of starting another; the store refuses a second active run
  (``sync_already_active``). The job that runs a sync holds a cross-process lock on the
  connection (``RefreshLock``, Redis in production) and runs only a *queued* run: a duplicate
  delivery of the job finds the lock held, or the run already started, and does nothing.
- **A run that cannot start fails at once.** When the job cannot take the lock because a
  service it needs is unavailable (Redis), the still-queued run fails with
  ``dependency_unavailable``, as a run fails whose job could not be queued: left queued, it
  would be returned to every request until the stale-run cleanup, and no new run could start.
- **Idempotent.** Accounts are matched by the provider's account id and keep their ids (also
  after a re-authorization); transactions by the provider's transaction id. Re-reading what is
  already stored writes nothing and stamps nothing in the change feed.
- **One broker account, one place.** A second connection of the same person to the same broker
  login (made instead of authorizing the first one again) would store every account a second
  time and count its cash and transactions twice. A sync that finds a new account already held
  by another of the person's connections to that provider fails with
  ``account_connected_elsewhere`` (naming that connection) and writes nothing: authorize that
  connection again, or delete it, then sync. A *disconnected* connection (final: it cannot be
  authorized again) is the exception: the new connection takes its accounts over, with their
  ids and history, and the take-over is audited (``provider_accounts_taken_over``).
- **Incremental.** Provider ledger cursors belong to the window a provider opened for one read
  (Schwab's start and end dates, Kite's trading day), so they cannot resume a later sync: each
  sync reads the provider's current window from its start, and only rows that are new or changed
  are written. Transactions are written page by page in batches of ``batch_size``, each batch in
  its own transaction, so a 5,000-row ledger never holds one huge transaction.
- **Removed transactions.** A stored transaction inside the window the provider just returned
  (from the oldest transaction it returned) that the provider no longer returns is marked
  removed — only after the whole ledger was read.
- **A failed sync leaves the previous data intact.** Balances, holdings and positions of an
  account are written only after all of that account was read, in one transaction; a failure
  (timeout, 5xx, refused credentials) fails the run with the reason and replaces nothing.
  Refused credentials (``ReauthRequired``) also move the connection to ``needs_reauth``.
- **Suspicious answers are kept out.** A provider that lists no holdings where the stored
  snapshot has some, or no accounts where accounts are open, keeps the stored data; the run
  notes it and the accounts show ``suspicious`` — never "holdings went to zero".
- **Freshness** is on every account: ``syncing`` while a run reads it, then ``ok`` (or
  ``suspicious``) with ``last_synced_at``, or ``failed`` keeping the last success.
- A run whose heartbeat is older than ``stale_after`` died with its worker: the cleanup fails it
  (``stale_run``); the lock on its connection expires after the same time.
- **Raw payloads.** Every body the provider sent a run is kept with it, zlib-compressed and cut
  to ``payload_cap`` bytes (the run's failure included: that is when it is needed most), for
  ``payload_retention``; the cleanup purges older ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import zip_longest
from typing import Final, TypeVar
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.connections import (
    CredentialStore,
    RefreshConnections,
    fail_closed_unreadable,
)
from dashcore.domain.aggregation import (
    RawPayload,
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
    SyncCounts,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    SyncTrigger,
)
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.connections import ConnectionError_, ConnectionStatus, ProviderConnection
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import (
    Conflict,
    DashcoreError,
    DecryptionFailed,
    DependencyUnavailable,
    IntegrityError,
    NotFound,
    NotSupported,
    ReauthRequired,
)
from dashcore.domain.portfolio import ActivityType, Page, Transaction
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    RawPayloadRepository,
    StoredAccountRepository,
    SyncRunRepository,
    TransactionRepository,
)
from dashcore.ports.brokers import AccountReader, PayloadRecorder
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.jobs import JobQueue
from dashcore.ports.providers import ProviderConnectionRepository, ProviderRegistry, RefreshLock
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "SYNC_TASK",
    "CleanStaleRuns",
    "PurgeRawPayloads",
    "RequestSync",
    "RunSync",
    "ScheduleSyncs",
    "SyncPolicy",
    "SyncStore",
    "sync_lock_key",
]

SYNC_TASK = "sync_connection"
"""The job that runs one sync: ``sync_connection(run_id=<uuid>)``."""
SYSTEM = CallerContext(actor="system:sync")
_EVERY_CREDENTIAL_END = timedelta(days=3650)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    stale_after: timedelta = timedelta(minutes=15)
    """A run whose heartbeat is older is dead; also how long a sync may hold its lock."""
    batch_size: int = 500
    """Transactions per write (and per heartbeat)."""
    payload_cap: int = 1024 * 1024
    """Bytes kept of each raw provider body (0: none are kept)."""
    payload_retention: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.stale_after <= timedelta(0) or self.batch_size < 1:
            raise ValueError("a sync policy needs a positive stale age and batch size")
        if self.payload_cap < 0 or self.payload_retention <= timedelta(0):
            raise ValueError("a sync policy needs a payload cap >= 0 and a positive retention")


@dataclass(frozen=True, slots=True)
class SyncStore:
    """The repositories a sync writes, on one unit of work."""

    accounts: StoredAccountRepository
    balances: BalanceRepository
    holdings: HoldingRepository
    positions: PositionRepository
    transactions: TransactionRepository
    runs: SyncRunRepository
    payloads: RawPayloadRepository


def sync_lock_key(connection_id: UUID) -> str:
    """The ``RefreshLock`` key a running sync of the connection holds."""
    return f"connection-sync:{connection_id}"


def _not_usable(connection: ProviderConnection) -> Conflict:
    return Conflict(
        f"This connection cannot sync ({connection.status}, or its login has ended): "
        "reconnect it first.",
        code="connection_not_usable",
    )


def _connection_not_found() -> NotFound:
    return NotFound("No such connection.", code="connection_not_found")


def _failure(error: DashcoreError) -> SyncFailure:
    return SyncFailure(error.code, error.message)


def _failed(run: SyncRun, now: datetime, failure: SyncFailure) -> SyncRun:
    """``run`` failed, unless it already ended."""
    return run.failed(now, failure) if run.is_active else run


class RequestSync:
    """Asking for a sync of one connection: the run already queued or running, or a new one
    queued with its job."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        runs: SyncRunRepository,
        jobs: JobQueue,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._connections = connections
        self._runs = runs
        self._jobs = jobs
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def __call__(
        self, user_id: UUID, connection_id: UUID, *, trigger: SyncTrigger = SyncTrigger.MANUAL
    ) -> SyncRun:
        """The owner's request (another user's connection is a 404); the connection must be
        usable (``Conflict`` ``connection_not_usable`` otherwise: reconnect first)."""
        connection = await self._connections.get(connection_id)
        if connection is None or connection.user_id != user_id:
            raise _connection_not_found()
        return await self._request(connection, trigger)

    async def scheduled(self, connection_id: UUID) -> SyncRun:
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise _connection_not_found()
        return await self._request(connection, SyncTrigger.SCHEDULED)

    async def _request(self, connection: ProviderConnection, trigger: SyncTrigger) -> SyncRun:
        now = self._clock.now()
        if not connection.is_usable(now):
            raise _not_usable(connection)
        active = await self._runs.active_for_connection(connection.id)
        if active is not None:
            await self._uow.rollback()
            return active
        run = SyncRun.queued(self._ids.new_id(), connection.id, connection.user_id, trigger, now)
        try:
            await self._runs.add(run)
            await self._uow.commit()
        except Conflict:
            await self._uow.rollback()
            active = await self._runs.active_for_connection(connection.id)
            if active is None:
                raise
            return active
        try:
            job = await self._jobs.enqueue(SYNC_TASK, run_id=str(run.id))
        except DashcoreError as error:
            failure = _failure(error)
            await self._settle(run.id, lambda current: _failed(current, self._clock.now(), failure))
            raise
        return await self._settle(run.id, lambda current: current.with_job(job))

    async def _settle(self, run_id: UUID, change: Callable[[SyncRun], SyncRun]) -> SyncRun:
        """Apply ``change`` to the run as it is now (its job may have moved it already)."""
        current = await self._runs.lock(run_id)
        if current is None:
            raise NotFound("No such sync run.", code="sync_run_not_found")
        changed = change(current)
        await self._runs.save(changed)
        await self._uow.commit()
        return changed


class ScheduleSyncs:
    """The periodic sync: a scheduled run for every usable connection (each on its own; a
    connection already syncing keeps its run)."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        request: RequestSync,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._request = request
        self._uow = uow
        self._clock = clock

    async def __call__(self, *, limit: int = 1000) -> int:
        """How many connections have a run queued or running afterwards."""
        # ``expiring`` with a horizon past any credential end lists the usable connections.
        usable = await self._connections.expiring(
            self._clock.now() + _EVERY_CREDENTIAL_END, limit=limit
        )
        await self._uow.rollback()
        queued = 0
        for connection in _round_robin_by_provider(usable):
            try:
                await self._request.scheduled(connection.id)
            except DashcoreError:
                await self._uow.rollback()
                continue
            queued += 1
        return queued


def _round_robin_by_provider(
    connections: Sequence[ProviderConnection],
) -> list[ProviderConnection]:
    """One connection of each provider in turn. Each provider rate-limits on its own, and the
    queue is worked first in, first out: queued grouped by provider, every worker slot would
    wait on one provider's limit while the others idle."""
    by_provider: dict[str, list[ProviderConnection]] = {}
    for connection in connections:
        by_provider.setdefault(connection.provider, []).append(connection)
    turns = zip_longest(*by_provider.values())
    return [connection for turn in turns for connection in turn if connection is not None]


class _Payloads(PayloadRecorder):
    """The raw bodies a run received and has not stored yet (compressed as they arrive)."""

    def __init__(self, run_id: UUID, clock: Clock, ids: IdGenerator, cap: int) -> None:
        self._run_id = run_id
        self._clock = clock
        self._ids = ids
        self._cap = cap
        self._kept: list[RawPayload] = []

    def record(self, kind: str, body: bytes) -> None:
        self._kept.append(
            RawPayload.capture(
                self._ids.new_id(), self._run_id, kind, body, self._clock.now(), cap=self._cap
            )
        )

    async def store(self, payloads: RawPayloadRepository) -> None:
        """Add what was received since the last call (in the caller's transaction)."""
        kept, self._kept = self._kept, []
        for payload in kept:
            await payloads.add(payload)


@dataclass
class _Progress:
    """A run while it goes: its state, what it wrote so far, and the bodies it received."""

    run: SyncRun
    payloads: _Payloads
    counts: SyncCounts = field(default_factory=SyncCounts)

    def add(self, counts: SyncCounts) -> None:
        self.counts = self.counts + counts

    def flag(self, note: str) -> None:
        self.run = self.run.flagged(note)


@dataclass
class _LedgerRead:
    """What one sync saw of an account's ledger: each provider id once, and the oldest."""

    seen: dict[str, StoredTransaction] = field(default_factory=dict)
    oldest: datetime | None = None


_DATED_TRADES_SLACK: Final = timedelta(days=1)
"""How far before the last sync a sale may be dated and still be new: some brokers date
trades without a time (Upstox: midnight, India time)."""


def _sold_out(account: StoredAccount, ledger: _LedgerRead) -> bool:
    """Whether the ledger read in this sync shows a sale since the account's last sync: then
    a provider that lists no holdings where some are stored is believed (the account was sold
    out), not doubted. Found by QA: after selling everything, every sync kept the old holdings
    while the balance took the sale's cash, counting the money twice, and the account stayed
    ``suspicious`` for ever."""
    if account.last_synced_at is None:
        return False
    since = account.last_synced_at - _DATED_TRADES_SLACK
    return any(
        row.activity is ActivityType.SELL and row.occurred_at >= since
        for row in ledger.seen.values()
    )


class RunSync:
    """Running one queued sync run (the ``sync_connection`` job)."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        refresher: RefreshConnections,
        lock: RefreshLock,
        store: SyncStore,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
        policy: SyncPolicy,
    ) -> None:
        self._connections = connections
        self._registry = registry
        self._credentials = credentials
        self._refresher = refresher
        self._lock = lock
        self._store = store
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def __call__(self, run_id: UUID) -> SyncRun | None:
        """The run as it ended (or as another worker left it); ``None`` for an unknown id. A run
        whose lock cannot be taken because Redis is unavailable ends ``failed``
        (``dependency_unavailable``)."""
        run = await self._store.runs.get(run_id)
        await self._uow.rollback()
        if run is None or run.status is not SyncRunStatus.QUEUED:
            return run
        key = sync_lock_key(run.connection_id)
        try:
            token = await self._lock.acquire(
                key, ttl_seconds=self._policy.stale_after.total_seconds(), wait_seconds=0
            )
        except DependencyUnavailable as error:
            return await self._not_started(run_id, error)
        if token is None:
            return run
        try:
            return await self._locked(run_id)
        finally:
            await self._lock.release(key, token)

    async def _not_started(self, run_id: UUID, error: DependencyUnavailable) -> SyncRun | None:
        """Fail the run that could not start, if it is still queued (a delivery that got
        further owns it otherwise); a database that does not answer either raises."""
        run = await self._store.runs.lock(run_id)
        if run is None or run.status is not SyncRunStatus.QUEUED:
            await self._uow.rollback()
            return run
        failed = run.failed(self._clock.now(), _failure(error))
        await self._store.runs.save(failed)
        await self._uow.commit()
        return failed

    async def _locked(self, run_id: UUID) -> SyncRun | None:
        run = await self._store.runs.lock(run_id)
        if run is None or run.status is not SyncRunStatus.QUEUED:
            await self._uow.rollback()
            return run
        payloads = _Payloads(run.id, self._clock, self._ids, self._policy.payload_cap)
        progress = _Progress(run.started(self._clock.now()), payloads)
        await self._store.runs.save(progress.run)
        await self._uow.commit()
        try:
            return await self._sync(progress)
        except ReauthRequired as error:
            return await self._fail(progress, error, reauth=True)
        except DashcoreError as error:
            return await self._fail(progress, error)
        except Exception:
            internal = DashcoreError("The sync stopped on an unexpected error.", code="sync_error")
            await self._fail(progress, internal)
            raise

    async def _fail(
        self, progress: _Progress, error: DashcoreError, *, reauth: bool = False
    ) -> SyncRun:
        """Fail the run with the reason; its accounts keep their data and show ``failed``;
        refused credentials move the connection to ``needs_reauth``."""
        await self._uow.rollback()
        now = self._clock.now()
        current = await self._store.runs.lock(progress.run.id) or progress.run
        if current.status is SyncRunStatus.RUNNING:
            current = current.progressed(progress.counts, now)
        failed = _failed(current, now, _failure(error))
        await self._store.runs.save(failed)
        await progress.payloads.store(self._store.payloads)
        await _not_refreshed_by(self._store.accounts, failed, now)
        if reauth:
            await self._needs_reauth(failed.connection_id, error, now)
        elif isinstance(error, DecryptionFailed):  # as a refresh that met them would
            await fail_closed_unreadable(
                self._connections, self._audit, failed.connection_id, SYSTEM, now
            )
        await self._uow.commit()
        return failed

    async def _needs_reauth(self, connection_id: UUID, error: DashcoreError, now: datetime) -> None:
        connection = await self._connections.lock(connection_id)
        if connection is None or connection.status not in _REAUTH_FROM:
            return
        problem = ConnectionError_(error.code, error.message[:500])
        await self._connections.save(connection.needs_reauth(now, problem))
        await self._audit.record(
            "provider_needs_reauth",
            caller=SYSTEM,
            outcome=AuditOutcome.FAILURE,
            target=f"connection:{connection_id}",
            metadata={"provider": connection.provider, "reason": error.code},
        )

    async def _checkpoint(self, progress: _Progress) -> None:
        """Save the counts so far with a heartbeat, and commit."""
        await self._still_connected(progress.run.connection_id)
        progress.run = progress.run.progressed(progress.counts, self._clock.now())
        await self._store.runs.save(progress.run)
        await progress.payloads.store(self._store.payloads)
        await self._uow.commit()

    async def _still_connected(self, connection_id: UUID) -> None:
        """Before each commit: a connection disconnected (or removed) since the run started
        ends the run, and what it read since its last commit is not written. Found by QA: a
        run went on writing, and ended ``succeeded``, after its owner had disconnected the
        connection. A read without a lock: a disconnect that commits just after it lets at
        most this one batch through."""
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise _connection_not_found()
        if connection.status is ConnectionStatus.DISCONNECTED:
            raise Conflict(
                "The connection was disconnected during the sync; nothing more was written.",
                code="connection_disconnected",
            )

    async def _sync(self, progress: _Progress) -> SyncRun:
        connection = await self._connections.get(progress.run.connection_id)
        if connection is None:
            raise _connection_not_found()
        if not connection.is_usable(self._clock.now()):
            raise _not_usable(connection)
        auth = self._registry.get(connection.provider)
        if auth.gateway is None:
            raise NotSupported("This provider offers no account data.", code="provider_has_no_data")
        if not (await self._refresher.fresh(connection, SYSTEM)).is_usable(self._clock.now()):
            raise ReauthRequired("The provider refused to refresh the connection's credentials.")
        credentials = await self._credentials.load(connection.id)
        await self._uow.rollback()  # no transaction open while the provider answers
        recorder = progress.payloads if self._policy.payload_cap else None
        reader = auth.gateway.session(credentials, recorder=recorder).accounts
        for account in await self._accounts(progress, connection, reader):
            await self._account(progress, account, reader)
        await self._still_connected(progress.run.connection_id)
        now = self._clock.now()
        progress.run = progress.run.progressed(progress.counts, now).succeeded(now)
        await self._store.runs.save(progress.run)
        await progress.payloads.store(self._store.payloads)
        await self._uow.commit()
        return progress.run

    async def _accounts(
        self, progress: _Progress, connection: ProviderConnection, reader: AccountReader
    ) -> list[StoredAccount]:
        """Store the provider's accounts (``syncing``), close those it stopped listing, and
        return the accounts to read."""
        listed = await reader.accounts()
        known = {
            account.provider_account_id: account
            for account in await self._store.accounts.list_for_connection(connection.id)
        }
        for taken in await self._take_over_or_refuse(
            connection, {a.provider_account_id for a in listed} - known.keys()
        ):
            assert taken.provider_account_id is not None  # a synced account
            known[taken.provider_account_id] = taken
        now = self._clock.now()
        if not listed and any(kept.closed_at is None for kept in known.values()):
            progress.flag(f"The provider listed no accounts where {len(known)} are stored.")
            for kept in known.values():
                await self._store.accounts.save(kept.sync_doubted(now))
            await self._checkpoint(progress)
            return []
        stored: list[StoredAccount] = []
        for account in listed:
            existing = known.pop(account.provider_account_id, None)
            fresh = (
                StoredAccount.from_provider(
                    self._ids.new_id(),
                    connection.user_id,
                    connection.id,
                    connection.provider,
                    account,
                    now,
                )
                if existing is None
                else existing.refreshed_from(account, now)
            )
            stored.append(await self._store.accounts.upsert_synced(fresh.sync_started(now)))
        for unlisted in known.values():
            await self._store.accounts.save(unlisted.closed(now))
        progress.add(SyncCounts(accounts=len(stored)))
        await self._checkpoint(progress)
        return stored

    async def _take_over_or_refuse(
        self, connection: ProviderConnection, new_ids: set[str]
    ) -> list[StoredAccount]:
        """The accounts among ``new_ids`` that ``connection`` takes over from the person's
        disconnected connections to the same login; ``Conflict`` if another connection that
        is not disconnected holds one (it would be counted twice)."""
        held = await self._store.accounts.reached_elsewhere(connection, new_ids)
        if not held:
            return []
        owners: dict[UUID, ProviderConnection | None] = {}
        for account in held:
            assert account.connection_id is not None  # a synced account
            if account.connection_id not in owners:
                owners[account.connection_id] = await self._connections.get(account.connection_id)
        for other, owner in owners.items():
            if owner is not None and owner.status is not ConnectionStatus.DISCONNECTED:
                raise Conflict(
                    f"This {connection.provider} login is already connected as your "
                    f"connection {other}: authorize that connection again (or delete it) "
                    "instead of syncing a second one, which would count its accounts twice.",
                    code="account_connected_elsewhere",
                )
        now = self._clock.now()
        taken = [account.handed_over(connection.id, now) for account in held]
        for account in taken:
            await self._store.accounts.save(account)
        await self._audit.record(
            "provider_accounts_taken_over",
            caller=SYSTEM,
            target=f"connection:{connection.id}",
            metadata={
                "provider": connection.provider,
                "from_connections": ",".join(str(other) for other in owners),
                "accounts": len(taken),
            },
        )
        return taken

    async def _account(
        self, progress: _Progress, account: StoredAccount, reader: AccountReader
    ) -> None:
        """Read all of one account, then replace what it replaces in one transaction."""
        provider_id = account.provider_account_id
        assert provider_id is not None, "a synced account has the provider's id"
        balance = await reader.balance(provider_id)
        holdings = await _every_page(lambda cursor: reader.holdings(provider_id, cursor=cursor))
        positions = await _every_page(lambda cursor: reader.positions(provider_id, cursor=cursor))
        ledger = await self._ledger(progress, account, reader)
        now = self._clock.now()
        held = None if holdings is None else StoredHolding.snapshot(account, holdings, now)
        open_ = None if positions is None else StoredPosition.snapshot(account, positions, now)
        suspicious = False
        if held is not None:
            stored = await self._store.holdings.count(account.id)
            if not held and stored and not _sold_out(account, ledger):
                suspicious = True
                progress.flag(
                    f"Account {account.id}: the provider listed no holdings where {stored} are "
                    "stored; kept them."
                )
            else:
                await self._store.holdings.replace(account.id, held)
        if open_ is not None:
            await self._store.positions.replace(account.id, open_)
        await self._store.balances.put(StoredBalance.from_provider(account, balance, now))
        removed = 0
        if ledger.oldest is not None:
            live = await self._store.transactions.live_provider_ids(account.id, since=ledger.oldest)
            removed = await self._store.transactions.mark_removed(
                account.id, sorted(live - ledger.seen.keys()), now
            )
        await self._store.accounts.save(account.sync_finished(now, suspicious=suspicious))
        progress.add(
            SyncCounts(
                holdings=len(held or ()),
                positions=len(open_ or ()),
                transactions_removed=removed,
            )
        )
        await self._checkpoint(progress)

    async def _ledger(
        self, progress: _Progress, account: StoredAccount, reader: AccountReader
    ) -> _LedgerRead:
        """Read the provider's ledger page by page, writing new and changed rows in batches
        (a provider without a ledger gives an empty read)."""
        provider_id = account.provider_account_id
        assert provider_id is not None
        read = _LedgerRead()
        cursor: str | None = None
        while True:
            try:
                page = await reader.transactions(provider_id, cursor=cursor)
            except NotSupported:
                if cursor is not None:
                    raise
                return read
            batch = self._unseen(account, page.items, read)
            size = self._policy.batch_size
            for start in range(0, len(batch), size):
                written = await self._store.transactions.upsert(batch[start : start + size])
                progress.add(
                    SyncCounts(
                        transactions_added=written.added, transactions_modified=written.modified
                    )
                )
                await self._checkpoint(progress)
            if page.next_cursor is None:
                return read
            cursor = page.next_cursor

    def _unseen(
        self, account: StoredAccount, items: Sequence[Transaction], read: _LedgerRead
    ) -> list[StoredTransaction]:
        """The page's rows not yet seen in this sync. One id listed twice with different
        content is a provider fault to stop on (``duplicate_provider_transaction``)."""
        now = self._clock.now()
        rows: list[StoredTransaction] = []
        for item in items:
            row = StoredTransaction.from_provider(self._ids.new_id(), account, item, now)
            earlier = read.seen.get(row.provider_transaction_id)
            if earlier is not None:
                if earlier.content() != row.content():
                    raise IntegrityError(
                        f"The provider listed transaction {row.provider_transaction_id} twice, "
                        "differently.",
                        code="duplicate_provider_transaction",
                    )
                continue
            read.seen[row.provider_transaction_id] = row
            rows.append(row)
            if read.oldest is None or row.occurred_at < read.oldest:
                read.oldest = row.occurred_at
        return rows


async def _not_refreshed_by(accounts: StoredAccountRepository, run: SyncRun, now: datetime) -> None:
    """The connection's open accounts that ``run`` (which failed) did not refresh show
    ``failed``, keeping their last success; those it refreshed stay as they are."""
    began = run.started_at or run.queued_at
    for account in await accounts.list_for_connection(run.connection_id):
        refreshed = account.last_synced_at is not None and account.last_synced_at >= began
        if account.closed_at is None and not refreshed:
            await accounts.save(account.sync_failed(now))


_REAUTH_FROM = (ConnectionStatus.CONNECTED, ConnectionStatus.REFRESHING, ConnectionStatus.ERROR)


async def _every_page(read: Callable[[str | None], Awaitable[Page[T]]]) -> list[T] | None:
    """Every item of a listing, following its cursors; ``None`` where the provider does not
    offer the listing at all."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        try:
            page = await read(cursor)
        except NotSupported:
            if cursor is not None:
                raise
            return None
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


class CleanStaleRuns:
    """Failing runs whose worker died: queued or running with a heartbeat older than the
    policy's ``stale_after`` (``stale_run``); their accounts show ``failed``."""

    def __init__(self, store: SyncStore, uow: UnitOfWork, clock: Clock, policy: SyncPolicy) -> None:
        self._store = store
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self, before: datetime | None = None, *, limit: int = 100) -> int:
        now = self._clock.now()
        cutoff = before or now - self._policy.stale_after
        stale = await self._store.runs.stale(cutoff, limit=limit)
        await self._uow.rollback()
        failure = SyncFailure("stale_run", "The sync stopped answering; it was given up.")
        cleaned = 0
        for candidate in stale:
            run = await self._store.runs.lock(candidate.id)
            if run is None or not run.is_active or run.heartbeat_at >= cutoff:
                await self._uow.rollback()
                continue
            await self._store.runs.save(run.failed(now, failure))
            await _not_refreshed_by(self._store.accounts, run, now)
            await self._uow.commit()
            cleaned += 1
        return cleaned


class PurgeRawPayloads:
    """Deleting raw provider payloads older than the policy's retention."""

    def __init__(
        self, payloads: RawPayloadRepository, uow: UnitOfWork, clock: Clock, policy: SyncPolicy
    ) -> None:
        self._payloads = payloads
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self) -> int:
        purged = await self._payloads.purge(self._clock.now() - self._policy.payload_retention)
        await self._uow.commit()
        return purged
