"""Syncing a connection (issue #7) on the memory store, through the real Schwab adapter and its
in-process sandbox: a first sync stores everything, a second one changes nothing, provider
changes and removals reach the change feed, faults mid-sync leave the data intact and fail the
run with the reason (refused credentials: the connection needs a new login), a provider that
suddenly lists no holdings is suspicious, one sync per connection at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from dashcore.application.sync import (
    SYNC_TASK,
    CleanStaleRuns,
    PurgeRawPayloads,
    RequestSync,
    RunSync,
    ScheduleSyncs,
    SyncPolicy,
    SyncStore,
)
from dashcore.domain.aggregation import (
    RawPayload,
    StoredAccount,
    StoredTransaction,
    SyncCounts,
    SyncRun,
    SyncRunStatus,
    SyncStatus,
    SyncTrigger,
    TransactionChanges,
    TransactionFilter,
    decode_change_cursor,
)
from dashcore.domain.connections import ConnectionError_, ConnectionStatus, ProviderConnection
from dashcore.domain.errors import Conflict, DependencyUnavailable, NotFound
from dashcore.domain.jobs import JobArgument, JobId, JobState
from dashcore.domain.money import Money
from dashcore.domain.users import User
from dashcore.ports.jobs import JobQueue
from dashcore.ports.providers import RefreshLock
from dashcore.testing import FakeClock
from dashcore_brokers.http import HttpPolicy, RateLimit, RetryPolicy
from dashcore_brokers.sandbox.exchange.model import OrderKind, Side, SimAccount, SimTransaction
from dashcore_brokers.sandbox.exchange.seed import US_ACCOUNT_ID
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_brokers.sandbox.lifetimes import SCHWAB_ACCESS_TOKEN_LIFETIME
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.aggregation import (
    MemoryBalanceRepository,
    MemoryHoldingRepository,
    MemoryPositionRepository,
    MemoryRawPayloadRepository,
    MemoryStoredAccountRepository,
    MemorySyncRunRepository,
    MemoryTransactionRepository,
)
from dashcore_memory.connections import MemoryProviderConnectionRepository
from tests.unit.connections_world import CALLER, ConnectionsWorld, open_world
from tests.unit.watched_uow import WatchedUnitOfWork

SCHWAB_LEDGER = "/trader/v1/accounts/*/transactions"
SCHWAB_ACCOUNTS = "/trader/v1/accounts"
FAST = HttpPolicy(
    connect_timeout=0.05,
    total_timeout=0.2,
    retry=RetryPolicy(attempts=1),
    rate_limit=RateLimit(per_second=10_000, burst=10_000),
)
"""No waiting on the rate limit; a hung provider is a timeout after 0.2 s."""


class RecordingJobs(JobQueue):
    """Keeps what was enqueued (the test runs the jobs); ``down`` refuses like a dead queue."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, JobArgument]]] = []
        self.down = False

    async def enqueue(self, task: str, /, **arguments: JobArgument) -> JobId:
        if self.down:
            raise DependencyUnavailable("The job queue is not answering.", dependency="jobs")
        self.enqueued.append((task, arguments))
        return JobId(f"job-{len(self.enqueued)}")

    async def status(self, job_id: JobId) -> JobState:
        raise NotFound()


@dataclass
class SyncWorld:
    connections: ConnectionsWorld
    jobs: RecordingJobs = field(default_factory=RecordingJobs)
    policy: SyncPolicy = field(
        default_factory=lambda: SyncPolicy(stale_after=timedelta(minutes=15), batch_size=2)
    )

    @property
    def clock(self) -> FakeClock:
        return self.connections.clock

    def uow(self) -> MemoryUnitOfWork:
        return self.connections.uow()

    def store(self, uow: MemoryUnitOfWork) -> SyncStore:
        return SyncStore(
            MemoryStoredAccountRepository(uow),
            MemoryBalanceRepository(uow),
            MemoryHoldingRepository(uow),
            MemoryPositionRepository(uow),
            MemoryTransactionRepository(uow),
            MemorySyncRunRepository(uow),
            MemoryRawPayloadRepository(uow),
        )

    def request(self, uow: MemoryUnitOfWork) -> RequestSync:
        base = self.connections.base
        return RequestSync(
            MemoryProviderConnectionRepository(uow),
            MemorySyncRunRepository(uow),
            self.jobs,
            uow,
            base.clock,
            base.ids,
        )

    def runner(self, uow: MemoryUnitOfWork, lock: RefreshLock | None = None) -> RunSync:
        world, base = self.connections, self.connections.base
        return RunSync(
            MemoryProviderConnectionRepository(uow),
            world.registry,
            world.credential_store(uow),
            world.refresher(uow),
            world.lock if lock is None else lock,
            self.store(uow),
            base.audit(uow),
            uow,
            base.clock,
            base.ids,
            self.policy,
        )

    async def sync(self, user: User, connection: ProviderConnection) -> SyncRun:
        """Request a sync as the owner, then run the job it queued."""
        run = await self.request(self.uow()).__call__(user.id, connection.id)
        ran = await self.runner(self.uow())(run.id)
        assert ran is not None
        return ran

    # -- observing ---------------------------------------------------------------------------
    async def accounts(self, connection: ProviderConnection) -> list[StoredAccount]:
        return list(await self.store(self.uow()).accounts.list_for_connection(connection.id))

    async def account(self, connection: ProviderConnection) -> StoredAccount:
        (account,) = await self.accounts(connection)
        return account

    async def rows(self, user: User) -> list[StoredTransaction]:
        page = await self.store(self.uow()).transactions.list(
            user.id, TransactionFilter(include_removed=True), limit=500
        )
        assert page.next_cursor is None
        return list(page.items)

    async def feed(self, user: User, after: int = 0) -> TransactionChanges:
        return await self.store(self.uow()).transactions.changes(user.id, after, 500)

    async def holdings(self, account: StoredAccount) -> dict[str, Decimal]:
        page = await self.store(self.uow()).holdings.list(account.id, limit=500)
        return {line.key: line.quantity for line in page.items}

    async def stored_connection(self, connection: ProviderConnection) -> ProviderConnection:
        stored = await self.connections.stored(connection.id)
        assert stored is not None
        return stored

    def ledger(self) -> SimAccount:
        return self.connections.sandboxes["schwab"].exchange.account(US_ACCOUNT_ID)

    def calls(self, path_end: str) -> int:
        return sum(
            1
            for request in self.connections.recorders["schwab"].requests
            if request.method == "GET" and request.url.path.endswith(path_end)
        )

    def fault(self, path: str, kind: FaultKind, **options: object) -> None:
        self.connections.sandboxes["schwab"].faults.add(
            FaultRule(path=path, kind=kind, **options)  # type: ignore[arg-type]
        )


async def _hang(seconds: float) -> None:
    await asyncio.Event().wait()


@pytest.fixture
async def world() -> AsyncIterator[SyncWorld]:
    async with open_world(http=FAST, sleep=_hang) as connections:
        yield SyncWorld(connections)


@pytest.fixture
async def ada(world: SyncWorld) -> User:
    return await world.connections.add_user("ada@example.com")


@pytest.fixture
async def schwab(world: SyncWorld, ada: User) -> ProviderConnection:
    return await world.connections.connect(ada, "schwab")


def more_ledger(world: SyncWorld) -> list[SimTransaction]:
    """Three more ledger lines after the seeded deposit and dividend."""
    exchange = world.connections.sandboxes["schwab"].exchange
    world.clock.advance(minutes=1)
    return [
        exchange.pay_interest(US_ACCOUNT_ID, Decimal("1.25")),
        exchange.charge_fee(US_ACCOUNT_ID, Decimal("0.75")),
        exchange.deposit(US_ACCOUNT_ID, Decimal("500")),
    ]


# -- first sync and idempotency -----------------------------------------------------------------


async def test_a_first_sync_stores_accounts_balances_holdings_and_the_ledger(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    more_ledger(world)
    run = await world.sync(ada, schwab)

    assert run.status is SyncRunStatus.SUCCEEDED and run.error is None
    assert run.started_at == run.finished_at == world.clock.now()
    account = await world.account(schwab)
    assert account.masked_number == "****5678"
    assert (account.sync_status, account.last_synced_at) == (SyncStatus.OK, world.clock.now())
    held = await world.holdings(account)
    assert sorted(key.rsplit(":", 1)[1] for key in held) == ["AAPL", "MSFT"]
    assert sorted(held.values()) == [Decimal(5), Decimal(10)]
    balance = await world.store(world.uow()).balances.get(account.id)
    assert balance is not None and balance.cash == Money(world.ledger().cash, balance.currency)
    rows = await world.rows(ada)
    assert sorted(row.provider_transaction_id for row in rows) == sorted(
        line.id for line in world.ledger().transactions
    )
    assert run.counts == SyncCounts(
        accounts=1, holdings=2, positions=2, transactions_added=len(rows)
    )


async def test_a_second_sync_changes_nothing_and_stamps_nothing(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    more_ledger(world)
    await world.sync(ada, schwab)
    first_account = await world.account(schwab)
    first_rows = {row.provider_transaction_id: row for row in await world.rows(ada)}
    cursor = decode_change_cursor(ada.id, (await world.feed(ada)).next_cursor)
    world.clock.advance(hours=1)

    again = await world.sync(ada, schwab)

    assert again.status is SyncRunStatus.SUCCEEDED
    assert again.counts == SyncCounts(accounts=1, holdings=2, positions=2)
    account = await world.account(schwab)
    assert account.id == first_account.id and account.last_synced_at == world.clock.now()
    rows = await world.rows(ada)
    assert {row.provider_transaction_id: row for row in rows} == first_rows
    changes = await world.feed(ada, cursor)
    assert (changes.added, changes.modified, changes.removed) == ((), (), ())


async def test_changes_and_removals_at_the_provider_reach_the_change_feed(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    interest, fee, deposit = more_ledger(world)
    await world.sync(ada, schwab)
    cursor = decode_change_cursor(ada.id, (await world.feed(ada)).next_cursor)
    ledger = world.ledger().transactions
    fee.amount = Decimal("-0.80")
    fee.description = "Fee, corrected"
    ledger.remove(deposit)
    world.clock.advance(minutes=5)
    later = world.connections.sandboxes["schwab"].exchange.pay_interest(US_ACCOUNT_ID, Decimal(2))

    run = await world.sync(ada, schwab)

    assert run.counts.transactions_added == 1
    assert run.counts.transactions_modified == 1
    assert run.counts.transactions_removed == 1
    changes = await world.feed(ada, cursor)
    assert [row.provider_transaction_id for row in changes.added] == [later.id]
    assert [row.provider_transaction_id for row in changes.modified] == [fee.id]
    assert changes.modified[0].amount.amount == Decimal("-0.80")
    assert [row.provider_transaction_id for row in changes.removed] == [deposit.id]
    assert changes.removed[0].removed_at == world.clock.now()
    assert interest.id in {row.provider_transaction_id for row in await world.rows(ada)}


async def test_batches_commit_as_they_go_and_the_counts_add_up(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """Batches of two: five ledger rows are three transactions of writes, each committed with
    a heartbeat before the next page of work."""
    more_ledger(world)
    run = await world.sync(ada, schwab)
    assert run.counts.transactions_added == len(world.ledger().transactions) == 5
    assert len({row.change_seq for row in await world.rows(ada)}) == 5


async def test_accounts_keep_their_ids_across_a_new_authorization(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.sync(ada, schwab)
    before = await world.account(schwab)
    started = await world.connections.start(ada, schwab)
    params = await world.connections.consent("schwab", started)
    await world.connections.callback("schwab", params, user=ada)
    world.clock.advance(hours=1)

    await world.sync(ada, schwab)

    after = await world.account(schwab)
    assert after.id == before.id and after.created_at == before.created_at


async def test_a_second_connection_to_the_same_login_stores_nothing_twice(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """Connecting the same broker login again, instead of authorizing the first connection
    anew, must not count its cash and transactions twice."""
    await world.sync(ada, schwab)
    accounts, rows = await world.accounts(schwab), await world.rows(ada)
    again = await world.connections.connect(ada, "schwab")

    refused = await world.sync(ada, again)

    assert refused.status is SyncRunStatus.FAILED and refused.error is not None
    assert refused.error.code == "account_connected_elsewhere"
    assert str(schwab.id) in refused.error.message
    assert await world.accounts(again) == []
    assert (await world.accounts(schwab), await world.rows(ada)) == (accounts, rows)


async def test_a_new_connection_takes_over_the_accounts_of_a_disconnected_one(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """A disconnected connection is final: connecting the same login anew must not lose the
    accounts' history (it was deleted before it could sync) nor count it twice."""
    await world.sync(ada, schwab)
    accounts, rows = await world.accounts(schwab), await world.rows(ada)
    await world.connections.authorization(world.connections.uow()).disconnect(
        ada.id, schwab.id, CALLER
    )
    again = await world.connections.connect(ada, "schwab")
    world.clock.advance(hours=1)

    run = await world.sync(ada, again)

    assert run.status is SyncRunStatus.SUCCEEDED, run.error
    taken = await world.accounts(again)
    assert [a.id for a in taken] == [a.id for a in accounts]
    assert [a.created_at for a in taken] == [a.created_at for a in accounts]
    assert await world.accounts(schwab) == []
    assert await world.rows(ada) == rows, "nothing stored twice, nothing lost"
    (event,) = world.connections.audit("provider_accounts_taken_over")
    assert event.metadata["from_connections"] == str(schwab.id)


# -- faults leave the data intact ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": FaultKind.TIMEOUT}, "provider_timeout"),
        ({"kind": FaultKind.STATUS, "status": 503}, "provider_error"),
        ({"kind": FaultKind.STATUS, "status": 500}, "provider_error"),
    ],
    ids=["timeout", "503", "500"],
)
async def test_a_provider_failing_mid_sync_leaves_the_previous_data_and_fails_the_run(
    world: SyncWorld, ada: User, schwab: ProviderConnection, fault: dict[str, object], reason: str
) -> None:
    more_ledger(world)
    await world.sync(ada, schwab)
    account = await world.account(schwab)
    holdings = await world.holdings(account)
    balance = await world.store(world.uow()).balances.get(account.id)
    rows = await world.rows(ada)
    synced_at = account.last_synced_at
    world.ledger().holdings.pop("MSFT")
    world.connections.sandboxes["schwab"].exchange.deposit(US_ACCOUNT_ID, Decimal(1000))
    world.clock.advance(hours=1)
    world.fault(SCHWAB_LEDGER, **fault)  # type: ignore[arg-type]

    run = await world.sync(ada, schwab)

    assert run.status is SyncRunStatus.FAILED
    assert run.error is not None and run.error.code == reason, run.error
    assert run.finished_at == world.clock.now()
    account = await world.account(schwab)
    assert (account.sync_status, account.last_synced_at) == (SyncStatus.FAILED, synced_at)
    assert await world.holdings(account) == holdings, "the holdings snapshot was not replaced"
    assert await world.store(world.uow()).balances.get(account.id) == balance
    assert await world.rows(ada) == rows
    assert (await world.stored_connection(schwab)).status is ConnectionStatus.CONNECTED


async def test_a_connection_disconnected_mid_sync_ends_the_run_and_nothing_more_is_written(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """Found by QA: a run went on writing, and ended ``succeeded``, after its owner had
    disconnected the connection."""
    more_ledger(world)
    recorder = world.connections.recorders["schwab"]
    send = recorder.handle_async_request

    async def disconnecting(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/transactions"):
            uow = world.uow()
            connections = MemoryProviderConnectionRepository(uow)
            stored = await connections.lock(schwab.id)
            assert stored is not None
            await connections.save(stored.disconnected(world.clock.now()))
            await uow.commit()
        return await send(request)

    recorder.handle_async_request = disconnecting  # type: ignore[method-assign]
    try:
        run = await world.sync(ada, schwab)
    finally:
        del recorder.handle_async_request

    assert run.status is SyncRunStatus.FAILED
    assert run.error is not None and run.error.code == "connection_disconnected"
    assert await world.rows(ada) == [], "the ledger read after the disconnect was not written"


async def test_credentials_refused_mid_sync_need_a_new_login(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.sync(ada, schwab)
    account = await world.account(schwab)
    holdings = await world.holdings(account)
    world.ledger().holdings.clear()
    world.fault(SCHWAB_LEDGER, FaultKind.STATUS, status=401)

    run = await world.sync(ada, schwab)

    assert run.status is SyncRunStatus.FAILED
    assert run.error is not None and run.error.code == "access_token_rejected"
    connection = await world.stored_connection(schwab)
    assert connection.status is ConnectionStatus.NEEDS_REAUTH
    assert connection.last_error == ConnectionError_(run.error.code, run.error.message)
    assert await world.holdings(await world.account(schwab)) == holdings
    assert "provider_needs_reauth" in world.connections.base.actions()
    with pytest.raises(Conflict) as refused:
        await world.request(world.uow())(ada.id, schwab.id)
    assert refused.value.code == "connection_not_usable"


async def test_expired_credentials_fail_the_run_before_anything_is_read(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.sync(ada, schwab)
    assert world.connections.sandboxes["schwab"].tokens.expire() >= 1
    world.clock.advance(minutes=1)
    run = await world.sync(ada, schwab)
    assert run.error is not None and run.error.code == "access_token_rejected"
    assert (await world.account(schwab)).sync_status is SyncStatus.FAILED
    assert (await world.stored_connection(schwab)).status is ConnectionStatus.NEEDS_REAUTH


# -- suspicious answers ---------------------------------------------------------------------------


async def test_holdings_that_suddenly_go_empty_are_kept_and_the_sync_is_suspicious(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.sync(ada, schwab)
    account = await world.account(schwab)
    holdings = await world.holdings(account)
    world.ledger().holdings.clear()
    world.clock.advance(hours=1)

    run = await world.sync(ada, schwab)

    assert run.status is SyncRunStatus.SUCCEEDED and run.is_suspicious
    assert "no holdings" in run.suspicious[0]
    assert await world.holdings(account) == holdings
    stored = await world.account(schwab)
    assert (stored.sync_status, stored.last_synced_at) == (
        SyncStatus.SUSPICIOUS,
        world.clock.now(),
    )


async def test_holdings_sold_out_since_the_last_sync_are_believed_gone(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """Found by QA: after selling everything, each sync kept the old holdings while the
    balance took the sale's cash (the money counted twice), and the account stayed
    ``suspicious`` for ever. A sale in the same sync's ledger explains the empty list."""
    await world.sync(ada, schwab)
    account = await world.account(schwab)
    assert await world.holdings(account)
    world.clock.advance(hours=1)
    exchange = world.connections.sandboxes["schwab"].exchange
    for holding in list(world.ledger().holdings.values()):
        sold = exchange.place(
            US_ACCOUNT_ID,
            symbol=holding.instrument.symbol,
            side=Side.SELL,
            quantity=holding.quantity,
            kind=OrderKind.MARKET,
        )
        assert sold.status.name == "FILLED", sold
    exchange.end_of_day()
    assert not world.ledger().holdings

    run = await world.sync(ada, schwab)

    assert run.status is SyncRunStatus.SUCCEEDED and not run.is_suspicious, run.suspicious
    assert await world.holdings(account) == {}
    assert (await world.account(schwab)).sync_status is SyncStatus.OK


async def test_an_account_that_never_had_holdings_is_not_suspicious(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    world.ledger().holdings.clear()
    run = await world.sync(ada, schwab)
    assert not run.is_suspicious
    assert (await world.account(schwab)).sync_status is SyncStatus.OK


# -- requesting, single flight, stale runs ------------------------------------------------------


async def test_a_request_queues_one_run_and_its_job(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    first = await world.request(world.uow())(ada.id, schwab.id)
    again = await world.request(world.uow())(ada.id, schwab.id, trigger=SyncTrigger.SCHEDULED)

    assert again.id == first.id and first.status is SyncRunStatus.QUEUED
    assert first.job_id == "job-1" and first.trigger is SyncTrigger.MANUAL
    assert world.jobs.enqueued == [(SYNC_TASK, {"run_id": str(first.id)})]


async def test_only_the_owner_may_request_a_sync(
    world: SyncWorld, schwab: ProviderConnection
) -> None:
    eve = await world.connections.add_user("eve@example.com")
    with pytest.raises(NotFound):
        await world.request(world.uow())(eve.id, schwab.id)
    assert world.jobs.enqueued == []


async def test_a_pending_connection_cannot_sync(world: SyncWorld, ada: User) -> None:
    pending = await world.connections.create(ada, "schwab")
    with pytest.raises(Conflict) as refused:
        await world.request(world.uow())(ada.id, pending.id)
    assert refused.value.code == "connection_not_usable"


async def test_a_queue_that_is_down_fails_the_run_it_could_not_queue(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    world.jobs.down = True
    with pytest.raises(DependencyUnavailable):
        await world.request(world.uow())(ada.id, schwab.id)
    world.jobs.down = False
    (run,) = world.connections.base.database.table("sync_runs").values()
    assert run.status is SyncRunStatus.FAILED and run.error.code == "dependency_unavailable"
    retried = await world.request(world.uow())(ada.id, schwab.id)
    assert retried.id != run.id and retried.status is SyncRunStatus.QUEUED


class UnreachableLock(RefreshLock):
    """The lock's Redis does not answer."""

    async def acquire(self, key: str, *, ttl_seconds: float, wait_seconds: float) -> str | None:
        raise DependencyUnavailable("Redis is not answering.", dependency="redis")

    async def release(self, key: str, token: str) -> None:
        raise DependencyUnavailable("Redis is not answering.", dependency="redis")


async def test_a_run_whose_lock_is_unreachable_fails_and_a_new_request_queues_a_fresh_one(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """It used to stay queued until the stale-run cleanup (15 minutes), and every request
    meanwhile got that stuck run back."""
    run = await world.request(world.uow())(ada.id, schwab.id)
    ended = await world.runner(world.uow(), UnreachableLock())(run.id)

    assert ended is not None and ended.status is SyncRunStatus.FAILED
    assert ended.error is not None and ended.error.code == "dependency_unavailable"
    assert world.calls("/accounts") == 0
    stored = await world.store(world.uow()).runs.get(run.id)
    assert stored == ended
    fresh = await world.request(world.uow())(ada.id, schwab.id)
    assert fresh.id != run.id and fresh.status is SyncRunStatus.QUEUED
    synced = await world.runner(world.uow())(fresh.id)
    assert synced is not None and synced.status is SyncRunStatus.SUCCEEDED


async def test_an_unreachable_lock_leaves_a_sync_another_delivery_started_alone(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """A duplicate delivery that cannot reach the lock while the other delivery starts the
    sync changes nothing: the run is no longer queued."""
    run = await world.request(world.uow())(ada.id, schwab.id)
    running = run.started(world.clock.now())

    class StartedMeanwhile(UnreachableLock):
        async def acquire(self, key: str, *, ttl_seconds: float, wait_seconds: float) -> str | None:
            uow = world.uow()
            await world.store(uow).runs.save(running)
            await uow.commit()
            return await super().acquire(key, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)

    duplicate = await world.runner(world.uow(), StartedMeanwhile())(run.id)
    assert duplicate == running
    assert await world.store(world.uow()).runs.get(run.id) == running


async def test_a_job_delivered_twice_syncs_once(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    run = await world.request(world.uow())(ada.id, schwab.id)
    both = await asyncio.gather(
        world.runner(world.uow())(run.id), world.runner(world.uow())(run.id)
    )
    assert world.calls("/accounts") == 1, "the provider was read once"
    assert {ran.status for ran in both if ran} <= {SyncRunStatus.QUEUED, SyncRunStatus.SUCCEEDED}
    again = await world.runner(world.uow())(run.id)
    assert again is not None and again.status is SyncRunStatus.SUCCEEDED
    assert world.calls("/accounts") == 1
    assert await world.runner(world.uow())(world.connections.base.ids.new_id()) is None


async def test_stale_runs_are_failed_and_free_the_connection(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.sync(ada, schwab)
    stuck = await world.request(world.uow())(ada.id, schwab.id)
    world.clock.advance(minutes=14)
    cleaner = CleanStaleRuns(world.store(world.uow()), world.uow(), world.clock, world.policy)
    assert await cleaner() == 0
    world.clock.advance(minutes=2)
    uow = world.uow()
    assert await CleanStaleRuns(world.store(uow), uow, world.clock, world.policy)() == 1

    stored = await world.store(world.uow()).runs.get(stuck.id)
    assert stored is not None and stored.status is SyncRunStatus.FAILED
    assert stored.error is not None and stored.error.code == "stale_run"
    fresh = await world.request(world.uow())(ada.id, schwab.id)
    assert fresh.id != stuck.id


async def test_the_periodic_sync_queues_every_usable_connection_once(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    kite = await world.connections.connect(ada, "zerodha")
    await world.connections.create(ada, "upstox")  # pending: not usable
    uow = world.uow()
    schedule = ScheduleSyncs(
        MemoryProviderConnectionRepository(uow), world.request(uow), uow, world.clock
    )
    assert await schedule() == 2
    assert await schedule() == 2, "the runs already queued are kept"
    assert len(world.jobs.enqueued) == 2
    runs = world.connections.base.database.table("sync_runs").values()
    assert {(run.connection_id, run.trigger) for run in runs} == {
        (schwab.id, SyncTrigger.SCHEDULED),
        (kite.id, SyncTrigger.SCHEDULED),
    }


async def test_the_periodic_sync_queues_providers_in_turn(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    """Each provider rate-limits on its own; runs grouped by provider would leave every worker
    slot waiting on one provider's limit."""
    kites = [await world.connections.connect(ada, "zerodha") for _ in range(2)]
    second_schwab = await world.connections.connect(ada, "schwab")
    uow = world.uow()
    schedule = ScheduleSyncs(
        MemoryProviderConnectionRepository(uow), world.request(uow), uow, world.clock
    )
    assert await schedule() == 4

    provider = {c.id: c.provider for c in [schwab, second_schwab, *kites]}
    table = world.connections.base.database.table("sync_runs")
    runs = {str(run.id): run.connection_id for run in table.values()}
    order = [provider[runs[str(arguments["run_id"])]] for _, arguments in world.jobs.enqueued]
    assert order[0] != order[1] and order[2] != order[3], order


def test_a_policy_needs_a_positive_stale_age_and_batch() -> None:
    with pytest.raises(ValueError, match="positive"):
        SyncPolicy(stale_after=timedelta(0))
    with pytest.raises(ValueError, match="positive"):
        dataclasses.replace(SyncPolicy(), batch_size=0)


# -- raw payloads ---------------------------------------------------------------------------------


async def payloads_of(world: SyncWorld, run: SyncRun) -> list[RawPayload]:
    return list(await world.store(world.uow()).payloads.list_for_run(run.id))


async def test_every_body_a_run_received_is_kept_compressed(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    run = await world.sync(ada, schwab)

    kept = await payloads_of(world, run)
    assert any(payload.kind.endswith("/accountNumbers") for payload in kept)
    assert any(payload.kind.endswith("/transactions") for payload in kept)
    ledger = next(payload for payload in kept if payload.kind.endswith("/transactions"))
    assert not ledger.truncated and len(ledger.body) <= ledger.size
    assert {line["activityId"] for line in json.loads(ledger.content())} >= {
        int(line.id) for line in world.ledger().transactions if line.id.isdigit()
    }


async def test_a_failed_run_keeps_the_bodies_it_received_before_the_failure(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    world.fault(SCHWAB_LEDGER, FaultKind.STATUS, status=503)
    run = await world.sync(ada, schwab)
    assert run.status is SyncRunStatus.FAILED
    kinds = [payload.kind for payload in await payloads_of(world, run)]
    assert any(kind.endswith("/accountNumbers") for kind in kinds)
    assert not any(kind.endswith("/transactions") for kind in kinds)


async def test_bodies_are_cut_to_the_cap_or_not_kept_at_all(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    world.policy = SyncPolicy(batch_size=2, payload_cap=16)
    first = await world.sync(ada, schwab)
    assert all(len(p.content()) <= 16 and p.truncated for p in await payloads_of(world, first))
    world.policy = SyncPolicy(payload_cap=0)
    world.clock.advance(hours=1)
    second = await world.sync(ada, schwab)
    assert second.status is SyncRunStatus.SUCCEEDED
    assert await payloads_of(world, second) == []


async def test_payloads_past_retention_are_purged(
    world: SyncWorld, ada: User, schwab: ProviderConnection
) -> None:
    world.policy = SyncPolicy(payload_retention=timedelta(days=1))
    old = await world.sync(ada, schwab)
    world.clock.advance(hours=12)
    new = await world.sync(ada, schwab)
    world.clock.advance(hours=12, seconds=1)
    uow = world.uow()
    purged = await PurgeRawPayloads(
        MemoryRawPayloadRepository(uow), uow, world.clock, world.policy
    )()
    assert purged > 0
    assert await payloads_of(world, old) == []
    assert await payloads_of(world, new) != []


class Bodies:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def record(self, kind: str, body: bytes) -> None:
        assert body
        self.kinds.append(kind)


@pytest.mark.parametrize("provider", ["schwab", "zerodha", "upstox", "groww"])
async def test_each_broker_adapter_hands_its_read_bodies_to_the_recorder(
    world: SyncWorld, ada: User, provider: str
) -> None:
    connection = await world.connections.connect(ada, provider)
    credentials = await world.connections.credentials(connection.id)
    gateway = world.connections.registry.get(provider).gateway
    assert gateway is not None
    bodies = Bodies()
    reader = gateway.session(credentials, recorder=bodies).accounts
    (account, *_) = await reader.accounts()
    await reader.holdings(account.provider_account_id)
    assert bodies.kinds and all(kind.startswith("/") for kind in bodies.kinds)
    assert len(bodies.kinds) >= 2


@pytest.mark.parametrize("refreshes", [False, True], ids=["fresh token", "token refreshed first"])
async def test_no_transaction_is_open_while_the_provider_answers_a_sync(
    world: SyncWorld, ada: User, schwab: ProviderConnection, refreshes: bool
) -> None:
    """A slow provider must not hold the database (on SQLite, its single write lock): the
    refresh of credentials about to end, and every page of accounts, holdings, positions and
    the ledger, each with something to write after it."""
    more_ledger(world)
    run = await world.request(world.uow())(ada.id, schwab.id)
    if refreshes:
        world.clock.advance(SCHWAB_ACCESS_TOKEN_LIFETIME - timedelta(minutes=2))
    uow = WatchedUnitOfWork(world.connections.base.database)
    with world.connections.requests_watched(uow) as sent:
        ran = await world.runner(uow)(run.id)
    assert ran is not None and ran.status is SyncRunStatus.SUCCEEDED
    assert ran.counts.transactions_added > world.policy.batch_size  # several batches
    assert world.connections.token_calls("schwab") == (2 if refreshes else 1)
    assert sent and [r for r in sent if r.in_transaction] == []
