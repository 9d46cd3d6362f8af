"""Order placement (issue 8): what the API adds to the broker adapter's own call.

Target: the median (p50) latency of ``POST /api/v1/orders`` exceeds the median of the Zerodha
Kite adapter's ``OrderGateway.place`` alone by at most 5 ms.

Both run in this process against the same in-process Kite sandbox (its exchange engine, no
network), on the app's own container, so the broker's part is the same code in both:

- **API**: the dashcore app (``create_app``) driven over ASGI by httpx, on the **embedded
  default** (a migrated SQLite file in a temporary directory; ``--database postgresql`` runs it
  in a private schema of ``DASHCORE_BENCH_DATABASE_URL``, default the local ``test`` database,
  created, migrated and dropped; ``memory`` on the in-memory stores), rate limits off (the
  per-user budget would otherwise be what is measured), JSON logs at INFO as in production
  (written to a file, not the terminal). Each call carries a new ``Idempotency-Key``; it
  authenticates the bearer token, reads the connection and its credentials, claims the key and
  writes the ``pending_submit`` order (its first send counted) with its audit event in one
  commit, calls the adapter, and saves the answer with its fill as a trade (the second
  commit).
- **adapter**: ``session.orders.place(request)`` on the same connection's credentials, with a
  new client reference each call.

- **adapter with fills**: the same, then ``session.orders.fills(...)`` of the order: every
  broker request the API's placement makes, without the API (shown for attribution; the
  verdict compares with the adapter's ``place`` alone, as the issue states it).

The adapter's ``place`` is two broker requests (the order, then reading it back); the API's
placement of a filled order makes a third (its fills, recorded as a trade). The adapter keeps to
Kite's published rate (10 requests a second, bursts of 10): calls are spaced, untimed, by the
time the limiter needs to refill three tokens, so no side ever waits for it — the bench counts
each side's broker requests and refuses to report a side that made more (Kite is used for its
rate: Upstox publishes none, and the default of 2 a second would make every placement wait a
second). Until this was counted, the API was paced for two requests, and its figure was mostly
the limiter's wait for the third.

The order is a marketable limit buy of 1 INFY at 1600.00 (the market is 1500.00): it fills at
once, so no open orders pile up between calls, and no quote is asked for (a limit price gives
the order's value). The account gets enough cash first. The two are timed in alternating
chunks (API then adapter, the order reversed every other round) on the wall clock, after a
discarded warm-up; the order schedules (polling, reconciliation) are off during the run. The
process CPU time of each call (every thread) is recorded beside: on a loaded machine it says
how much of a wall-clock gap is work and how much is waiting for a core.

Both run on uvloop, the event loop ``dashcore serve`` runs the app on (granian's
``Loops.auto``, which picks uvloop where it is installed): on SQLite each statement makes a trip
to the driver's thread and back (``dashcore_sql.sqlite_driver``), and the loop decides what a
trip costs (asyncio's default loop adds about a third).

Exit status: 0 when the target is met, 1 otherwise. Results: ``bench/results/orders-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvloop
from dishka import AsyncContainer, Provider
from litestar import Litestar
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.machine import machine_facts, source_revision
from bench.profile_app import Lifespan
from bench.schema import engine_in_schema
from bench.wrk import ensure_wrk
from dashcore.application.admin import CreateAdmin
from dashcore.application.connections import CredentialStore
from dashcore.domain.context import CallerContext
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.orders import Order, OrderRequest, OrderSide, OrderType
from dashcore.domain.trading import client_reference_for
from dashcore.ports.brokers import BrokerSession
from dashcore.ports.providers import ProviderRegistry
from dashcore.ports.trading import InstrumentCatalog
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import LogFormat, MailerKind, Settings
from dashcore_brokers.sandbox import ConsentMode
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.transport import SandboxTransport
from dashcore_brokers.sandbox.zerodha import KITE_USER
from dashcore_brokers.zerodha.plugin import KITE_RATE_LIMIT
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing
from dashcore_sql import create_engine, upgrade

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TARGET_OVERHEAD_MS = 5.0
API = "/api/v1"
EMAIL = "orders-bench@example.org"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 (a throwaway account)
CASH = Decimal(1_000_000_000)
BROKER = "zerodha"
DATABASES = {
    "sqlite": "embedded default (SQLite file)",
    "memory": "memory",
    "postgresql": "PostgreSQL (private schema)",
}
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BROKER_REQUESTS_MAX = 3
"""Broker requests a timed call may make: the API's placement of a filled order (the order,
reading it back, its fills); more would make the rate limiter wait inside the timed call."""
PACE_SECONDS = BROKER_REQUESTS_MAX / KITE_RATE_LIMIT.per_second * 1.1
"""Untimed gap before each call: three requests' worth of the rate limiter's refill, and 10 %."""
ORDER = {
    "account_id": KITE_USER.user_id,
    "symbol": "INFY",
    "exchange": "NSE",
    "side": "buy",
    "type": "limit",
    "quantity": "1",
    "limit_price": "1600.00",
}

Call = Callable[[], Awaitable[None]]


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "orders",
        "started_at": started.isoformat(),
        "command": "python -m bench.orders " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(ensure_wrk()),  # records wrk's version; wrk is not run here
        "revision": source_revision(REPO),
        "target_overhead_ms_p50": TARGET_OVERHEAD_MS,
        "warmup_per_side": args.warmup,
        "rounds": args.rounds,
        "per_round_per_side": args.chunk,
        "order": ORDER,
        "broker": BROKER,
        "pace_seconds": round(PACE_SECONDS, 3),
        "event_loop": "uvloop (as dashcore serve runs the app)",
        "notes": (
            "in-process, on uvloop: the API over httpx.ASGITransport vs the Kite adapter's "
            "place() on the "
            "same in-process sandbox and credentials; wall-clock latency per call, calls spaced "
            "so that the adapter's rate limiter never waits; overhead = p50(API) - p50(adapter)"
        ),
    }
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as root:
        measured = uvloop.run(_run(args, Path(root)))
    report.update(measured)
    report["loadavg_at_end"] = list(os.getloadavg())
    overhead = report["overhead_ms_p50"]
    passed = overhead <= TARGET_OVERHEAD_MS
    report["verdict"] = "pass" if passed else "fail"
    api, adapter = report["api_ms"], report["adapter_ms"]
    print(
        f"orders: API p50 {api['p50']:.2f} ms (p90 {api['p90']:.2f}), adapter p50 "
        f"{adapter['p50']:.2f} ms (p90 {adapter['p90']:.2f}); the API adds {overhead:.2f} ms "
        f"(target <= {TARGET_OVERHEAD_MS} ms; {report['overhead_cpu_ms_p50']:.2f} ms of process "
        f"CPU) on {report['database']}: {report['verdict']}"
    )
    print(
        f"orders: the adapter's place and fills (every broker request the API makes) p50 "
        f"{report['adapter_with_fills_ms']['p50']:.2f} ms: the API adds "
        f"{report['overhead_over_adapter_with_fills_ms_p50']:.2f} ms over it; broker requests "
        f"per call {report['broker_requests_per_call']}"
    )
    sql = report["sql_per_api_call"]
    if sql is not None:
        print(
            f"orders: per placement the API ran {sql['statements']} SQL statements and "
            f"{sql['commits']} commits, {sql['executing_ms_mean']:.2f} ms (mean) of it in the "
            "driver executing them"
        )
    if not args.no_save:
        path = RESULTS / f"orders-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        text = json.dumps(report, indent=2) + "\n"
        path.write_text(text)
        (RESULTS / "orders-latest.json").write_text(text)
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0 if passed else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.orders", description=__doc__)
    parser.add_argument("--warmup", type=int, default=20, help="discarded calls per side")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--chunk", type=int, default=20, help="timed calls per side per round")
    parser.add_argument(
        "--database",
        default="sqlite",
        choices=sorted(DATABASES),
        help="'sqlite' (the embedded default, a temporary file), 'memory', or 'postgresql' (a "
        "private schema of DASHCORE_BENCH_DATABASE_URL, default the local test database)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.rounds < 1 or args.chunk < 1:
        parser.error("--warmup must be at least 0, --rounds and --chunk at least 1")
    return args


async def _run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    if args.database != "postgresql":
        return await _measure(args, root, await _settings(args.database, root))
    url = os.environ.get("DASHCORE_BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL)
    schema = f"bench_orders_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(url, schema=schema)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        settings = _base_settings(url, root)
        return await _measure(args, root, settings, engine_in_schema(schema))
    finally:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()


async def _measure(
    args: argparse.Namespace, root: Path, settings: Settings, *overrides: Provider
) -> dict[str, Any]:
    log_path = root / "app.log"
    requests = BrokerRequests()
    with _stdout_to(log_path), requests.counting():
        app = create_app(settings, *overrides)
        async with Lifespan(app):  # type: ignore[arg-type]  # Litestar is an ASGI app
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                statements = Statements()
                if args.database != "memory":
                    statements.attach(await app.state[CONTAINER_STATE_KEY].get(AsyncEngine))
                sides = requests.per_side(await _sides(app, client, statements))
                for call in sides.values():
                    for _ in range(args.warmup):
                        await _timed(call)
                statements.reset()
                timings = await _alternate(sides, args.rounds, args.chunk)
    wall = {side: _summary(timings[side]) for side in sides}
    cpu = {side: _summary(timings[f"{side}_cpu"]) for side in sides}
    api_ms, adapter_ms = wall["api"], wall["adapter"]
    return {
        "database": DATABASES[args.database],
        "transport": "in-process ASGI (httpx.ASGITransport), no sockets",
        "app_log_lines": sum(1 for _ in log_path.open()),
        "broker_requests_per_call": requests.per_call(),
        "api_ms": api_ms,
        "adapter_ms": adapter_ms,
        "adapter_with_fills_ms": wall["adapter_with_fills"],
        "overhead_ms_p50": round(api_ms["p50"] - adapter_ms["p50"], 3),
        "overhead_over_adapter_with_fills_ms_p50": round(
            api_ms["p50"] - wall["adapter_with_fills"]["p50"], 3
        ),
        "sql_per_api_call": statements.per_call(api_ms["count"]),
        "api_cpu_ms": cpu["api"],
        "adapter_cpu_ms": cpu["adapter"],
        "adapter_with_fills_cpu_ms": cpu["adapter_with_fills"],
        "overhead_cpu_ms_p50": round(cpu["api"]["p50"] - cpu["adapter"]["p50"], 3),
        "overhead_ms_per_round_p50": [
            round(statistics.median(a) - statistics.median(b), 3)
            for a, b in zip(timings["api_rounds"], timings["adapter_rounds"], strict=True)
        ],
    }


class BrokerRequests:
    """Counts the requests that reach the in-process sandbox during each side's calls, so the
    pacing (:data:`BROKER_REQUESTS_MAX` per call) is checked rather than assumed: a call that
    makes more is an error, since the rate limiter would then wait inside the timed call."""

    def __init__(self) -> None:
        self.side: str | None = None
        self.counts: dict[str, list[int]] = {}

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        original = SandboxTransport.handle_async_request
        counts = self

        async def counted(self: SandboxTransport, request: httpx.Request) -> httpx.Response:
            if counts.side is not None:
                counts.counts[counts.side][-1] += 1
            return await original(self, request)

        SandboxTransport.handle_async_request = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            SandboxTransport.handle_async_request = original  # type: ignore[method-assign]

    def per_side(self, sides: dict[str, Call]) -> dict[str, Call]:
        return {name: self._counted(name, call) for name, call in sides.items()}

    def _counted(self, name: str, call: Call) -> Call:
        self.counts[name] = []

        async def counted_call() -> None:
            self.side = name
            self.counts[name].append(0)
            try:
                await call()
            finally:
                self.side = None
            made = self.counts[name][-1]
            if made > BROKER_REQUESTS_MAX:
                raise RuntimeError(
                    f"{name} made {made} broker requests (paced for {BROKER_REQUESTS_MAX})"
                )

        return counted_call

    def per_call(self) -> dict[str, float]:
        return {name: statistics.fmean(made) for name, made in self.counts.items() if made}


async def _settings(database: str, root: Path) -> Settings:
    url = {"sqlite": f"sqlite+aiosqlite:///{root / 'dashcore.db'}", "memory": "memory://"}[database]
    if url != "memory://":
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    return _base_settings(url, root)


def _base_settings(url: str, root: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=root,
        keys_dir=root / "keys",
        vault_keys=KeyRing.generate().to_env_value(),
        signing_keys=SigningKeyRing.generate().to_env_value(),
        log_format=LogFormat.JSON,
        hash_profile="test",  # the one sign-in is not what is measured
        mailer=MailerKind.MEMORY,
        rate_limits=False,
        schedule_order_poll_seconds=0,
        schedule_order_reconcile_seconds=0,
    )


@contextlib.contextmanager
def _stdout_to(path: Path) -> Iterator[None]:
    """The app's log lines go to ``path`` (file descriptor 1 and ``sys.stdout`` both), so the
    measured calls write their production log lines without flooding the terminal."""
    sys.stdout.flush()
    saved = os.dup(1)
    with path.open("w") as log:
        os.dup2(log.fileno(), 1)
        try:
            with contextlib.redirect_stdout(log):
                yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


async def _sides(
    app: Litestar, client: httpx.AsyncClient, statements: Statements
) -> dict[str, Call]:
    """The calls to time: a placement through the API (its SQL counted), the adapter's own,
    and the adapter's followed by reading the order's fills."""
    container = app.state[CONTAINER_STATE_KEY]
    sandbox = (await container.get(BrokerSandboxes)).apps[BROKER]
    sandbox.settings.consent = ConsentMode.APPROVE
    sandbox.exchange.deposit(INDIA_ACCOUNT_ID, CASH)
    async with container() as scope:
        await (await scope.get(CreateAdmin))(EMAIL, PASSWORD, CallerContext())
    headers = await _signed_in(client)
    connection_id = await _connected(client, headers)
    body = {"connection_id": connection_id, **ORDER}

    async def through_the_api() -> None:
        statements.active = True
        try:
            response = await client.post(
                f"{API}/orders",
                json=body,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
        finally:
            statements.active = False
        if response.status_code != 201 or response.json()["status"] != "filled":
            raise RuntimeError(f"the API did not fill the order: {response.text}")

    session = await _session(container, connection_id)
    catalog = await container.get(InstrumentCatalog)
    instrument = await catalog.find(BROKER, InstrumentKey("INFY", "NSE"))
    assert instrument is not None
    template = OrderRequest(
        provider_account_id=KITE_USER.user_id,
        instrument=instrument,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal(1),
        client_reference="BENCH0000",
        limit_price=Decimal("1600.00"),
    )

    async def the_adapter_alone() -> Order:
        reference = client_reference_for(uuid.uuid4())
        placed = await session.orders.place(replace(template, client_reference=reference))
        if placed.status.value != "filled":
            raise RuntimeError(f"the adapter did not fill the order: {placed}")
        return placed

    async def the_adapter_with_fills() -> None:
        placed = await the_adapter_alone()
        fills = await session.orders.fills(placed.provider_account_id, placed.provider_order_id)
        if not fills:
            raise RuntimeError(f"the adapter found no fill of {placed.provider_order_id}")

    async def adapter() -> None:
        await the_adapter_alone()

    return {
        "api": through_the_api,
        "adapter": adapter,
        "adapter_with_fills": the_adapter_with_fills,
    }


class Statements:
    """Counts the SQL statements and commits the app's engine runs while ``active`` (during an
    API call; a statement of the mail-outbox poller, at most one a second, may fall inside),
    and the wall time from handing each statement to the driver to having its rows: the
    database's share of a placement (the round trips to the driver's thread or the server
    included; SQLAlchemy's compiling and the repositories' own work around it excluded)."""

    def __init__(self) -> None:
        self.active = False
        self._started = 0.0
        self.reset()

    def reset(self) -> None:
        self.statements = 0
        self.commits = 0
        self.seconds = 0.0

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "after_cursor_execute", self._executed)
        event.listen(engine.sync_engine, "commit", self._commit)

    def _statement(self, *_: object) -> None:
        self.statements += self.active
        self._started = time.perf_counter()

    def _executed(self, *_: object) -> None:
        if self.active:
            self.seconds += time.perf_counter() - self._started

    def _commit(self, *_: object) -> None:
        self.commits += self.active

    def per_call(self, calls: int) -> dict[str, float] | None:
        if not self.statements:
            return None
        return {
            "statements": round(self.statements / calls, 1),
            "commits": round(self.commits / calls, 1),
            "executing_ms_mean": round(self.seconds * 1000 / calls, 3),
        }


async def _signed_in(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _connected(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Kite connected for trading through the real flow (the sandbox consents at once)."""
    created = await client.post(
        f"{API}/providers", json={"provider": BROKER, "trade": True}, headers=headers
    )
    created.raise_for_status()
    connection_id = str(created.json()["id"])
    started = await client.post(
        f"{API}/providers/{connection_id}/authorization", json={}, headers=headers
    )
    started.raise_for_status()
    login = await client.get(started.json()["authorization_url"])
    callback = await client.get(
        login.headers["location"], headers={**headers, "Accept": "application/json"}
    )
    if not callback.json().get("connected"):
        raise RuntimeError(f"Kite did not connect: {callback.text}")
    return connection_id


async def _session(container: AsyncContainer, connection_id: str) -> BrokerSession:
    registry = await container.get(ProviderRegistry)
    gateway = registry.get(BROKER).gateway
    assert gateway is not None
    async with container() as scope:
        credentials = await (await scope.get(CredentialStore)).load(uuid.UUID(connection_id))
    session: BrokerSession = gateway.session(credentials)
    return session


async def _alternate(sides: dict[str, Call], rounds: int, chunk: int) -> dict[str, Any]:
    """``rounds`` rounds of ``chunk`` calls per side, the order of the sides rotating each
    round: each side's wall-clock and process-CPU milliseconds per call, and its per-round
    wall samples."""
    timings: dict[str, Any] = {
        f"{name}{kind}": [] for name in sides for kind in ("", "_cpu", "_rounds")
    }
    order = list(sides.items())
    for number in range(rounds):
        shift = number % len(order)
        for name, call in order[shift:] + order[:shift]:
            samples = [await _timed(call) for _ in range(chunk)]
            timings[name].extend(wall for wall, _ in samples)
            timings[f"{name}_cpu"].extend(cpu for _, cpu in samples)
            timings[f"{name}_rounds"].append([wall for wall, _ in samples])
    return timings


async def _timed(call: Call) -> tuple[float, float]:
    """Wall-clock and process-CPU (every thread: SQLite runs in aiosqlite's) milliseconds."""
    await asyncio.sleep(PACE_SECONDS)  # untimed: the broker's rate limiter never waits
    wall, cpu = time.perf_counter(), time.process_time()
    await call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    quantiles = statistics.quantiles(ordered, n=100)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p90": round(quantiles[89], 3),
        "p99": round(quantiles[98], 3),
        "mean": round(statistics.fmean(ordered), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }


if __name__ == "__main__":
    sys.exit(main())
