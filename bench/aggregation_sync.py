"""Syncing 200 sandbox connections with 50 ms injected latency, against the provider rate limits.

Part of ``bench.aggregation`` (issue 7). The core runs in this process on PostgreSQL (the run's
private schema) and Redis (a private key prefix), with the four in-process broker sandboxes:
``--sync-users`` people (default 50) each connect Schwab, Kite, Upstox and Groww through the
real login flows (the sandboxes approve consent at once), so 200 connections. Then every
sandbox answers each request after 50 ms (``FaultKind.LATENCY`` on every path; its firings
count the requests), and the periodic sync runs as in production: ``ScheduleSyncs`` queues a
run and its ``sync_connection`` job for every usable connection on the Redis queue, and one
worker (``run_worker``, the loop of ``dashcore worker``, ``--concurrency`` jobs at a time,
default 10 like ``dashcore worker``; in this process so that it reaches the same sandboxes)
runs them through ``RunSync``.

Measured: from just before ``ScheduleSyncs`` to the last run's ``finished_at``.

The bound: each adapter waits on its provider's token bucket (``rate_limit`` of the plugin:
Kite 10/s, Groww 20/s, Schwab and Upstox the conservative 2/s, each with its burst; one bucket
per provider and process), and the buckets are independent, so no schedule finishes sooner
than the slowest provider's ``(requests - burst) / rate``. Nor sooner than the latency allows:
every request waits 50 ms and at most ``concurrency`` syncs run at once, so
``requests × 50 ms / concurrency``. The bound is the larger; target: measured ≤ 2 × bound.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.schema import engine_in_schema
from dashcore.application.connections import ConnectionAuthorization, Connections
from dashcore.application.sync import ScheduleSyncs
from dashcore.domain.aggregation import ACTIVE_SYNC_STATUSES, SyncRunStatus
from dashcore.domain.connections import KeyCredentials
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.users import User
from dashcore.ports.ids import IdGenerator
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app import Dashcore
from dashcore_app.brokers import SANDBOX_PATH, BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.groww import PLUGIN as GROWW
from dashcore_brokers.plugin import BrokerPlugin
from dashcore_brokers.sandbox import (
    BrokerSandbox,
    ConsentMode,
    FaultKind,
    FaultRule,
    SandboxTransport,
)
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.schwab import PLUGIN as SCHWAB
from dashcore_brokers.upstox import PLUGIN as UPSTOX
from dashcore_brokers.zerodha import PLUGIN as ZERODHA
from dashcore_sql.tables import provider_connections, sync_runs
from dashcore_worker.runner import run_worker

__all__ = ["TARGET_RATIO", "measure_sync"]

PLUGINS: tuple[BrokerPlugin, ...] = (SCHWAB, ZERODHA, UPSTOX, GROWW)
TARGET_RATIO = 2.0
SESSION = "bench-browser-session"
COUNTED = 10_000_000
"""Firings of the latency rule: far more than a run sends, so it never runs out."""
POLL_SECONDS = 0.2


async def measure_sync(
    settings: Settings, schema: str, *, users: int, latency: float, concurrency: int
) -> dict[str, Any]:
    """Connect ``users`` × 4 sandbox connections, sync them all, compare with the bound."""
    async with Dashcore.open(settings, engine_in_schema(schema)) as core:
        engine = await core.get(AsyncEngine)
        sandboxes = (await core.get(BrokerSandboxes)).apps
        for sandbox in sandboxes.values():
            sandbox.settings.consent = ConsentMode.APPROVE
        people = await _people(core, users)
        connecting = time.perf_counter()
        await asyncio.gather(
            *(_connect_all(core, sandboxes[plugin.key], plugin.key, people) for plugin in PLUGINS)
        )
        connect_seconds = round(time.perf_counter() - connecting, 1)
        print(f"bench.aggregation: {len(people) * len(PLUGINS)} connections in {connect_seconds} s")
        # Let every token bucket fill up to its burst again, as after any quiet moment.
        await asyncio.sleep(max(p.rate_limit.burst / p.rate_limit.per_second for p in PLUGINS))
        counters = {
            plugin.key: sandboxes[plugin.key].faults.add(
                FaultRule(path="*", kind=FaultKind.LATENCY, seconds=latency, times=COUNTED)
            )
            for plugin in PLUGINS
        }
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                core.container, settings, stop=stop, concurrency=concurrency, scheduler=False
            )
        )
        started = datetime.now(UTC)
        try:
            async with core.scope() as scope:
                queued = await (await scope.get(ScheduleSyncs))()
            await _until_ended(engine, queued, deadline=time.monotonic() + 1800)
        finally:
            stop.set()
            await worker
        runs = await _runs(engine)
    requests = {key: COUNTED - (rule.remaining or 0) for key, rule in counters.items()}
    return {
        "notes": (
            "in-process sandboxes and one in-process worker (run_worker, the loop of "
            "`dashcore worker`) on the Redis queue; PostgreSQL in the run's private schema; "
            f"{users} users each with one connection per sandbox broker; runs queued by "
            "ScheduleSyncs (ordered by credential end, so grouped by provider); every sandbox "
            "request delayed by the latency; the buckets are per process, so N workers would "
            "have N times the rates"
        ),
        "connections": len(people) * len(PLUGINS),
        "concurrency": concurrency,
        "latency_seconds": latency,
        "connect_seconds": connect_seconds,
        "queued": queued,
        **_judge(runs, requests, started, latency, concurrency),
    }


async def _people(core: Dashcore, count: int) -> list[User]:
    now = datetime.now(UTC)
    async with core.scope() as scope:
        ids = await scope.get(IdGenerator)
        users = await scope.get(UserRepository)
        people = [
            User(
                id=ids.new_id(),
                email=Email(f"sync-bench-{number}@example.org"),
                password_hash="$argon2id$bench",  # noqa: S106 (no one logs in)
                created_at=now,
                updated_at=now,
                verified=True,
            )
            for number in range(count)
        ]
        for person in people:
            await users.add(person)
        await (await scope.get(UnitOfWork)).commit()
    return people


async def _connect_all(
    core: Dashcore, sandbox: BrokerSandbox, provider: str, people: Sequence[User]
) -> None:
    """One connection of each person to ``provider``, through its real login flow."""
    caller = CallerContext()
    transport = SandboxTransport(sandbox, root_path=f"{SANDBOX_PATH}/{provider}")
    async with httpx.AsyncClient(transport=transport) as browser:
        for person in people:
            async with core.scope() as scope:
                connection = await (await scope.get(Connections)).create(
                    person.id, provider, caller
                )
            async with core.scope() as scope:
                authorization = await scope.get(ConnectionAuthorization)
                if provider == GROWW.key:
                    key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
                    await authorization.submit_key_credentials(
                        person.id, connection.id, key, caller
                    )
                    continue
                started = await authorization.start(person.id, SESSION, connection.id, caller)
            assert started.authorization_url is not None
            consent = await browser.get(started.authorization_url)
            params = {
                k: v[0] for k, v in parse_qs(urlsplit(consent.headers["location"]).query).items()
            }
            async with core.scope() as scope:
                await (await scope.get(ConnectionAuthorization)).callback(
                    provider,
                    caller,
                    state=params.get("state"),
                    code=params.get("code") or params.get("request_token"),
                    bound_user=person.id,
                    bound_session=SESSION,
                )


async def _until_ended(engine: AsyncEngine, expected: int, *, deadline: float) -> None:
    active = select(func.count()).where(
        sync_runs.c.status.in_([status.value for status in ACTIVE_SYNC_STATUSES])
    )
    while True:
        async with engine.connect() as connection:
            left = (await connection.execute(active)).scalar_one()
            total = (
                await connection.execute(select(func.count()).select_from(sync_runs))
            ).scalar_one()
        if total >= expected and left == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench.aggregation: {left} of {total} syncs still active")
        await asyncio.sleep(POLL_SECONDS)


async def _runs(engine: AsyncEngine) -> list[dict[str, Any]]:
    query = select(
        provider_connections.c.provider,
        sync_runs.c.status,
        sync_runs.c.error_code,
        sync_runs.c.queued_at,
        sync_runs.c.started_at,
        sync_runs.c.finished_at,
        sync_runs.c.transactions_added,
    ).join(provider_connections, provider_connections.c.id == sync_runs.c.connection_id)
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 2)


def _judge(
    runs: Sequence[dict[str, Any]],
    requests: dict[str, int],
    started: datetime,
    latency: float,
    concurrency: int,
) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for plugin in PLUGINS:
        mine = [run for run in runs if run["provider"] == plugin.key]
        limit = plugin.rate_limit
        sent = requests[plugin.key]
        durations = [_seconds(r["finished_at"] - r["started_at"]) for r in mine if r["started_at"]]
        first_start = min((r["started_at"] for r in mine if r["started_at"]), default=started)
        last_end = max(r["finished_at"] for r in mine)
        providers[plugin.key] = {
            "runs": len(mine),
            "succeeded": sum(r["status"] == SyncRunStatus.SUCCEEDED.value for r in mine),
            "errors": sorted({r["error_code"] for r in mine if r["error_code"]}),
            "transactions_added": sum(r["transactions_added"] for r in mine),
            "requests": sent,
            "requests_per_connection": round(sent / max(1, len(mine)), 2),
            "rate_per_second": limit.per_second,
            "burst": limit.burst,
            "rate_bound_seconds": round(max(0, sent - limit.burst) / limit.per_second, 2),
            "first_start_after_seconds": _seconds(first_start - started),
            "last_end_after_seconds": _seconds(last_end - started),
            "run_seconds_median": round(statistics.median(durations), 2) if durations else None,
            "run_seconds_max": max(durations, default=None),
        }
    measured = _seconds(max(run["finished_at"] for run in runs) - started)
    rate_bound = max(p["rate_bound_seconds"] for p in providers.values())
    latency_bound = round(sum(requests.values()) * latency / concurrency, 2)
    bound = max(rate_bound, latency_bound)
    ratio = round(measured / bound, 3)
    complete = all(p["succeeded"] == p["runs"] > 0 for p in providers.values())
    return {
        "providers": providers,
        "measured_seconds": measured,
        "rate_bound_seconds": rate_bound,
        "latency_bound_seconds": latency_bound,
        "bound_seconds": bound,
        "providers_one_after_another_seconds": round(
            sum(p["rate_bound_seconds"] for p in providers.values()), 2
        ),
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "all_succeeded": complete,
        "passed": complete and ratio <= TARGET_RATIO,
    }
