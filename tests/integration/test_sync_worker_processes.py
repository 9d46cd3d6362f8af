"""Issue #7's end-to-end acceptance with real ``dashcore worker`` processes on PostgreSQL and
Redis: connect a sandbox broker, sync, list accounts, holdings and transactions; sync again and
nothing is duplicated; the broker modifies and removes ledger lines and the change feed shows
it; two workers and one connection run one sync at a time.

The API is the in-process app: ``POST /providers/{id}/syncs`` puts the ``sync_connection`` job
on the Redis queue and a worker *process* runs it. Both must reach one Schwab sandbox over the
network, as they would the real broker (``DASHCORE_BROKER_SANDBOXES=false`` and
``DASHCORE_PROVIDER_SCHWAB_*``, plain http being accepted on a loopback host). It is served
from this process (uvicorn on a thread) because the broker's own changes to its ledger (a
corrected amount, a removed line) have no ``/__sandbox__`` control route: the test makes them on
the sandbox's exchange, as the in-process suites do.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from dashcore.domain.jobs import JobStatus
from dashcore.ports.jobs import JobQueue
from dashcore_app.brokers import callback_url
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox import ConsentMode, FaultKind, FaultRule
from dashcore_brokers.sandbox.credentials import SCHWAB_APP_KEY, SCHWAB_APP_SECRET
from dashcore_brokers.sandbox.exchange import US_ACCOUNT_ID
from dashcore_brokers.sandbox.schwab import SchwabSandbox
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_system import SystemClock
from tests.integration.accounts_support import every_item, request_sync
from tests.integration.conftest import _Lifespan
from tests.integration.identity.conftest import Served, mailbox
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.support import create, land, signed_up, start
from tests.integration.test_serve import free_port
from tests.integration.test_sync_processes import Gate
from tests.integration.test_worker_process import (
    BOUND,
    POLL,
    WorkerProcess,
    role_database,
    settings,
    worker_env,
    workers,
)
from tests.services import delete_prefix

__all__ = ["mailbox", "role_database", "settings", "worker_env", "workers"]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
]

ACCOUNT_LISTING = "/trader/v1/accounts/accountNumbers"
"""The first read of every Schwab sync: counting its requests counts the syncs that ran."""


@dataclass(frozen=True, slots=True)
class ServedSandbox:
    """The Schwab sandbox served on ``url``."""

    sandbox: SchwabSandbox
    url: str
    gate: Gate


@pytest.fixture
def sandbox_port() -> int:
    return free_port()


@pytest.fixture
def app_settings(settings: Settings, memory_settings: Settings, sandbox_port: int) -> Settings:
    """The API's settings: the workers' database, Redis prefix and vault keys, no in-process
    sandboxes, Schwab configured at the served sandbox."""
    base = f"http://127.0.0.1:{sandbox_port}"
    return replace(
        memory_settings,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        vault_keys=settings.vault_keys,
        broker_sandboxes=False,
        rate_limits=False,  # the test polls the run
        provider_options={
            "schwab": {
                "client_id": SCHWAB_APP_KEY,
                "client_secret": SCHWAB_APP_SECRET,
                "api_base_url": base,
                "login_base_url": base,
            }
        },
    )


@pytest.fixture
def schwab(app_settings: Settings, sandbox_port: int) -> Iterator[ServedSandbox]:
    """The sandbox served on a thread until the test ends; latency faults wait on its gate."""
    gate = Gate()
    sandbox = SchwabSandbox(
        SystemClock(),
        consent=ConsentMode.APPROVE,
        redirect_uri=f"{callback_url(app_settings)}/schwab",
        sleep=gate,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            sandbox,
            host="127.0.0.1",
            port=sandbox_port,
            lifespan="off",
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="schwab-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + BOUND
    while not server.started:
        assert thread.is_alive(), "the sandbox server did not start"
        assert time.monotonic() < deadline, "the sandbox server did not start in time"
        time.sleep(POLL)
    try:
        yield ServedSandbox(sandbox, f"http://127.0.0.1:{sandbox_port}", gate)
    finally:
        gate.open.set()  # nothing stays parked in a latency fault
        server.should_exit = True
        thread.join(BOUND)


@pytest.fixture
def broker_env(worker_env: dict[str, str], schwab: ServedSandbox) -> dict[str, str]:
    """A worker's environment: the shared database and queue, Schwab at the served sandbox."""
    return {
        **worker_env,
        "DASHCORE_BROKER_SANDBOXES": "false",
        "DASHCORE_PROVIDER_SCHWAB_CLIENT_ID": SCHWAB_APP_KEY,
        "DASHCORE_PROVIDER_SCHWAB_CLIENT_SECRET": SCHWAB_APP_SECRET,
        "DASHCORE_PROVIDER_SCHWAB_API_BASE_URL": schwab.url,
        "DASHCORE_PROVIDER_SCHWAB_LOGIN_BASE_URL": schwab.url,
    }


@pytest.fixture
async def served(
    app_settings: Settings,
    mailbox: Mailbox,
    schwab: ServedSandbox,
) -> AsyncIterator[Served]:
    """The API in this process: it enqueues on Redis and never runs a job itself."""
    app = create_app(app_settings, mailbox)
    try:
        async with _Lifespan(app):
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                yield Served(client, app.state[CONTAINER_STATE_KEY])
    finally:
        assert app_settings.redis_url is not None
        redis = Redis.from_url(app_settings.redis_url)
        await delete_prefix(redis, app_settings.redis_prefix)
        await redis.aclose()


# ------------------------------------------------------------------------------ helpers


async def connect_schwab(served: Served, account: Account, schwab: ServedSandbox) -> str:
    """A connected Schwab connection: the browser's trip to the sandbox goes over the network."""
    connection_id = await create(served.client, account, "schwab")
    login = await start(served.client, account, connection_id)
    assert login.startswith(schwab.url), login
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(login)
    assert consent.status_code in (302, 303), consent.text
    landed = await land(served.client, account, consent.headers["location"])
    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True
    return connection_id


async def read_run(served: Served, account: Account, run_id: str) -> dict[str, Any]:
    response = await served.client.get(f"{API}/syncs/{run_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


async def ended(
    served: Served, account: Account, run_id: str, *workers: WorkerProcess
) -> dict[str, Any]:
    """The run once a worker has ended it (``GET /syncs/{id}`` polled), failing early if a
    worker process died."""
    deadline = time.monotonic() + BOUND
    while (run := await read_run(served, account, run_id))["status"] in ("queued", "running"):
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited:\n{worker.log}"
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        await asyncio.sleep(POLL)
    return run


async def sync(
    served: Served, account: Account, connection_id: str, worker: WorkerProcess
) -> dict[str, Any]:
    """Request a sync over HTTP; the worker process runs it; the run as it ended."""
    queued = await request_sync(served, account, connection_id)
    # The answer is the run as it is once its job is queued: a quick worker may have begun it.
    assert queued["status"] in ("queued", "running") and queued["job_id"], queued
    return await ended(served, account, queued["id"], worker)


def started(worker: WorkerProcess, job_id: str) -> bool:
    return any(line["job_id"] == job_id for line in worker.events("job_started"))


def ran_in(worker: WorkerProcess, job_id: str) -> bool:
    return any(line["job_id"] == job_id for line in worker.events("job_finished"))


async def feed(served: Served, account: Account, cursor: str | None = None) -> dict[str, Any]:
    params = {} if cursor is None else {"cursor": cursor}
    response = await served.client.get(
        f"{API}/transactions/changes", params=params, headers=account.headers
    )
    assert response.status_code == 200, response.text
    changes: dict[str, Any] = response.json()
    return changes


async def snapshot(served: Served, account: Account) -> dict[str, list[dict[str, Any]]]:
    """Everything the user reads of their synced data, every page."""
    accounts = await every_item(served.client, account, "/accounts")
    holdings = [
        holding
        for listed in accounts
        for holding in await every_item(
            served.client, account, f"/accounts/{listed['id']}/holdings"
        )
    ]
    transactions = await every_item(served.client, account, "/transactions")
    return {"accounts": accounts, "holdings": holdings, "transactions": transactions}


def without_as_of(holdings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holdings as the broker reported them (``as_of`` moves with every sync)."""
    return [{key: value for key, value in row.items() if key != "as_of"} for row in holdings]


def added_modified_removed(run: dict[str, Any]) -> tuple[int, int, int]:
    counts = run["counts"]
    return (
        counts["transactions_added"],
        counts["transactions_modified"],
        counts["transactions_removed"],
    )


# ------------------------------------------------------------------------------ tests


async def test_a_worker_process_syncs_a_broker_idempotently_and_feeds_its_changes(
    served: Served,
    mailbox: Mailbox,
    schwab: ServedSandbox,
    workers: Callable[..., WorkerProcess],
    broker_env: dict[str, str],
) -> None:
    worker = workers("--no-scheduler", "--concurrency", "2", env=broker_env)
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id = await connect_schwab(served, ada, schwab)
    await worker.started()

    first = await sync(served, ada, connection_id, worker)

    assert first["status"] == "succeeded" and first["error"] is None, first
    assert ran_in(worker, first["job_id"]), "the worker process ran the sync"
    assert added_modified_removed(first) == (2, 0, 0)
    seen = await snapshot(served, ada)
    (account,) = seen["accounts"]
    assert (account["provider"], account["connection_id"]) == ("schwab", connection_id)
    assert account["sync_status"] == "ok" and account["last_synced_at"] is not None
    assert [(h["instrument"]["symbol"], Decimal(h["quantity"])) for h in seen["holdings"]] == [
        ("AAPL", Decimal(10)),
        ("MSFT", Decimal(5)),
    ]
    assert sorted(t["type"] for t in seen["transactions"]) == ["deposit", "dividend"]
    start_feed = await feed(served, ada)
    assert (len(start_feed["added"]), start_feed["has_more"]) == (2, False)

    second = await sync(served, ada, connection_id, worker)

    assert second["status"] == "succeeded" and second["id"] != first["id"], second
    assert added_modified_removed(second) == (0, 0, 0)
    again = await snapshot(served, ada)
    for kind in ("accounts", "transactions"):
        assert [row["id"] for row in again[kind]] == [row["id"] for row in seen[kind]], kind
    assert without_as_of(again["holdings"]) == without_as_of(seen["holdings"])
    quiet = await feed(served, ada, start_feed["next_cursor"])
    assert quiet["added"] == quiet["modified"] == quiet["removed"] == []

    ledger = schwab.sandbox.exchange.account(US_ACCOUNT_ID).transactions
    deposit, dividend = sorted(ledger, key=lambda line: line.kind)
    by_amount = {Decimal(row["amount"]["amount"]): row["id"] for row in start_feed["added"]}
    corrected = replace(dividend, amount=dividend.amount + Decimal("0.10"))
    ledger[ledger.index(dividend)] = corrected  # the broker corrects a line ...
    ledger.remove(deposit)  # ... and withdraws another

    third = await sync(served, ada, connection_id, worker)
    changes = await feed(served, ada, quiet["next_cursor"])

    assert third["status"] == "succeeded", third
    assert added_modified_removed(third) == (0, 1, 1)
    assert changes["added"] == []
    assert [row["id"] for row in changes["modified"]] == [by_amount[dividend.amount]]
    assert Decimal(changes["modified"][0]["amount"]["amount"]) == corrected.amount
    assert [row["id"] for row in changes["removed"]] == [by_amount[deposit.amount]]
    listed = await every_item(served.client, ada, "/transactions")
    assert [row["id"] for row in listed] == [by_amount[dividend.amount]]
    assert all(ran_in(worker, run["job_id"]) for run in (first, second, third))
    assert await worker.terminated() == 0


async def test_two_worker_processes_run_one_connection_s_sync_once(
    served: Served,
    mailbox: Mailbox,
    schwab: ServedSandbox,
    workers: Callable[..., WorkerProcess],
    broker_env: dict[str, str],
) -> None:
    """The first worker is held inside the broker's account listing (a latency fault waiting
    on the gate) when a duplicate delivery of its job reaches the second worker, and a second
    request comes in over HTTP: the broker is read by one run only, the run ends once."""
    pair: list[WorkerProcess] = [
        workers("--no-scheduler", "--concurrency", "1", env=broker_env) for _ in range(2)
    ]
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id = await connect_schwab(served, ada, schwab)
    for worker in pair:
        await worker.started()
    listing = schwab.sandbox.faults.add(
        FaultRule(path=ACCOUNT_LISTING, method="GET", kind=FaultKind.LATENCY, seconds=1, times=100)
    )

    queued = await request_sync(served, ada, connection_id)
    assert await asyncio.to_thread(schwab.gate.arrived.wait, BOUND), "the sync never started"
    running = await read_run(served, ada, queued["id"])
    requested_again = await request_sync(served, ada, connection_id)
    jobs = await served.core.get(JobQueue)
    duplicate = await jobs.enqueue("sync_connection", run_id=queued["id"])
    first = await pair[0].until(
        lambda: next((w for w in pair if started(w, queued["job_id"])), None),
        "the job_started line of the held sync",
    )
    (second,) = [worker for worker in pair if worker is not first]
    await second.until(lambda: ran_in(second, duplicate), "the duplicate delivery to finish")
    left_alone = [
        line for line in second.events("sync_run_skipped") if line["run_id"] == queued["id"]
    ]
    schwab.gate.open.set()
    finished = await ended(served, ada, queued["id"], *pair)

    assert running["status"] == "running"
    assert requested_again["id"] == queued["id"], "one active run per connection"
    assert [line["status"] for line in left_alone] == ["running"]
    assert (await jobs.status(duplicate)).status is JobStatus.SUCCEEDED
    assert finished["status"] == "succeeded" and finished["error"] is None, finished
    assert finished["counts"]["accounts"] == 1 and finished["counts"]["holdings"] == 2
    assert listing.remaining == 99, "the broker's account listing was read by one run only"
    await first.until(lambda: ran_in(first, queued["job_id"]), "the first job's end")
    ends = [line["status"] for worker in pair for line in worker.events("sync_run_ended")]
    assert ends == ["succeeded"], "the run ends once, where it ran"
    for worker in pair:
        assert await worker.terminated() == 0
