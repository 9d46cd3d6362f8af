"""``GET /api/v1/transactions``: the first page and a deep page, from 10 k to 1 M rows.

Part of ``bench.aggregation`` (issue 7). One user with four manual accounts; the transactions
are inserted in the database itself (``INSERT … SELECT … FROM generate_series``, every column
and constraint of the real table: trades with an instrument, quantity and price every third
row, cash movements otherwise, two rows per instant so that the id breaks ties) up to 10 k,
then 100 k, then 1 M rows, with ``ANALYZE`` after each step.

At each size the app runs in this process (ASGI with lifespan; PostgreSQL in the run's private
schema, sessions and rate-limit state in Redis, rate limits off) and is asked, signed in,
``GET /api/v1/transactions?limit=100`` for the newest page and for a page whose cursor is the
row ~90 % into the listing (found with an ``OFFSET`` query of the bench's own, never by the
API), and ``GET /api/v1/accounts`` as a same-run baseline of what any authenticated read
costs. The three alternate request by request (the order reversing every round), so a busy
neighbour slows them alike; each request is timed on the wall clock. Then the deep page's
query, captured as the repository sends it, is run under ``EXPLAIN (ANALYZE, BUFFERS)``.

Verdict: at every size the deep page's p99 is within ±20 % of the first page's, and each
page's p99 at the largest size is within ±20 % of its p99 at the smallest, both taken
relative to the baseline's p99 of the same size (see :func:`_verdict`; the raw growth is in
the report too).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.schema import engine_in_schema
from dashcore.application.accounts import ManualAccounts
from dashcore.application.admin import CreateAdmin
from dashcore.domain.aggregation import TransactionPosition
from dashcore.domain.context import CallerContext
from dashcore.domain.money import Currency
from dashcore.domain.portfolio import AccountType
from dashcore_app.settings import Settings
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY

__all__ = ["PAGE_SIZE", "SIZES", "TARGET_DRIFT", "measure_paging"]

SIZES = (10_000, 100_000, 1_000_000)
PAGE_SIZE = 100
DEEP_FRACTION = 0.9
TARGET_DRIFT = 0.20
ACCOUNTS = 4
EMAIL = "paging-bench@example.org"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 (a throwaway account)
START = datetime(2019, 1, 1, tzinfo=UTC)
API = "/api/v1"

_SEED = text(
    """
    INSERT INTO transactions (
        id, account_id, user_id, source, provider_transaction_id, activity, occurred_at,
        amount, currency, symbol, exchange, instrument_currency, asset_class, lot_size,
        tick_size, quantity, price, price_currency, description, created_at, updated_at,
        created_seq, change_seq)
    SELECT
        gen_random_uuid(), (CAST(:accounts AS uuid[]))[1 + n % 4], CAST(:user AS uuid),
        'manual', 'bench-' || n,
        (ARRAY['buy', 'deposit', 'withdrawal', 'dividend', 'fee', 'sell'])[1 + n % 6],
        CAST(:start AS timestamptz) + (n / 2) * interval '30 seconds',
        CAST(CASE WHEN n % 2 = 0 THEN -1 ELSE 1 END * ((n % 100000) * 0.01 + 0.05)
             AS numeric(18, 2)),
        'USD',
        CASE WHEN n % 3 = 0 THEN 'AAPL' END, CASE WHEN n % 3 = 0 THEN 'XNAS' END,
        CASE WHEN n % 3 = 0 THEN 'USD' END, CASE WHEN n % 3 = 0 THEN 'equity' END,
        CASE WHEN n % 3 = 0 THEN 1 END, CASE WHEN n % 3 = 0 THEN 0.01 END,
        CASE WHEN n % 3 = 0 THEN 1 + n % 50 END, CASE WHEN n % 3 = 0 THEN 187.25 END,
        CASE WHEN n % 3 = 0 THEN 'USD' END,
        'Bench row ' || n, CAST(:start AS timestamptz), CAST(:start AS timestamptz), n, n
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n
    """
)
_COUNTER = text(
    """
    INSERT INTO transaction_change_counters (user_id, seq) VALUES (CAST(:user AS uuid), :seq)
    ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq
    """
)
_NTH = text(
    """
    SELECT occurred_at, id FROM transactions
    WHERE user_id = CAST(:user AS uuid) AND removed_at IS NULL
    ORDER BY occurred_at DESC, id DESC OFFSET :skip LIMIT 1
    """
)


async def measure_paging(
    settings: Settings,
    schema: str,
    *,
    sizes: Sequence[int],
    samples: int,
    warmup: int,
) -> dict[str, Any]:
    """The figures and both pages' plans at each size, and the verdict."""
    app = create_app(settings, engine_in_schema(schema))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        container = app.state[CONTAINER_STATE_KEY]
        engine = await container.get(AsyncEngine)
        async with container() as scope:
            user = await (await scope.get(CreateAdmin))(EMAIL, PASSWORD, CallerContext())
        accounts = []
        for number in range(ACCOUNTS):
            async with container() as scope:
                manual = await scope.get(ManualAccounts)
                account = await manual.create(
                    user.id,
                    CallerContext(),
                    name=f"Bench {number + 1}",
                    account_type=AccountType.CASH,
                    base_currency=Currency("USD"),
                )
            accounts.append(account.id)
        login = await client.post(f"{API}/auth/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        results: list[dict[str, Any]] = []
        seeded = 0
        for size in sizes:
            seed_seconds = await _seed(engine, user.id, accounts, seeded + 1, size)
            seeded = size
            deep = await _cursor_at(engine, user.id, int(size * DEEP_FRACTION))
            print(f"bench.aggregation: {size} transactions seeded in {seed_seconds} s")
            timings = await _rounds(client, headers, deep, samples=samples, warmup=warmup)
            plans = await _plans(client, headers, engine, deep)
            results.append({"rows": size, "seed_seconds": seed_seconds, **timings, "plans": plans})
            _print(results[-1])
    return {
        "notes": (
            "in-process ASGI (httpx.ASGITransport, lifespan on): no server or socket in the "
            "figures; PostgreSQL in the run's private schema, sessions in Redis, rate limits "
            "off; one user, four manual accounts, ids from gen_random_uuid(), two rows per "
            "instant; first, deep and baseline requests alternate one by one; wall clock"
        ),
        "page_size": PAGE_SIZE,
        "deep_fraction": DEEP_FRACTION,
        "samples_per_page": samples,
        "warmup_per_page": warmup,
        "sizes": results,
        **_verdict(results),
    }


async def _seed(
    engine: AsyncEngine, user_id: UUID, accounts: Sequence[UUID], first: int, last: int
) -> float:
    """Rows ``first`` to ``last`` (their seqs too), the change counter after them, ANALYZE."""
    started = time.perf_counter()
    async with engine.begin() as connection:
        parameters = {"accounts": [str(a) for a in accounts], "user": str(user_id)}
        await connection.execute(
            _SEED, {**parameters, "start": START, "first": first, "last": last}
        )
        await connection.execute(_COUNTER, {"user": str(user_id), "seq": last})
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE transactions")
    return round(time.perf_counter() - started, 1)


async def _cursor_at(engine: AsyncEngine, user_id: UUID, skip: int) -> str:
    """The cursor after the ``skip + 1``-th row in listing order (the next page starts past it)."""
    async with engine.connect() as connection:
        row = (await connection.execute(_NTH, {"user": str(user_id), "skip": skip})).one()
    return TransactionPosition(row.occurred_at, row.id).encode()


def _requests(deep: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "first": (f"{API}/transactions", {"limit": PAGE_SIZE}),
        "deep": (f"{API}/transactions", {"limit": PAGE_SIZE, "cursor": deep}),
        "baseline": (f"{API}/accounts", {"limit": PAGE_SIZE}),
    }


async def _rounds(
    client: httpx.AsyncClient, headers: dict[str, str], deep: str, *, samples: int, warmup: int
) -> dict[str, Any]:
    requests = _requests(deep)
    names = list(requests)
    timings: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for index in range(warmup + samples):
        for name in names if index % 2 == 0 else reversed(names):
            path, params = requests[name]
            started, cpu_started = time.perf_counter(), time.process_time()
            response = await client.get(path, params=params, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            cpu_elapsed = (time.process_time() - cpu_started) * 1000
            response.raise_for_status()
            if name != "baseline" and len(response.json()["items"]) != PAGE_SIZE:
                raise SystemExit(f"bench.aggregation: the {name} page is not full")
            if index >= warmup:
                timings[name].append(elapsed)
                cpu[name].append(cpu_elapsed)
    summary = {name: _summary(values) for name, values in timings.items()}
    first, deep_ms = summary["first"]["p99"], summary["deep"]["p99"]
    return {
        **summary,
        "deep_vs_first_p99": round(deep_ms / first, 3),
        "deep_vs_first_p50": round(summary["deep"]["p50"] / summary["first"]["p50"], 3),
        "process_cpu_ms": {name: _summary(values) for name, values in cpu.items()},
    }


def _percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest sample with at least ``share`` of the samples at or below."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _summary(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(_percentile(ordered, 0.50), 2),
        "p90": round(_percentile(ordered, 0.90), 2),
        "p99": round(_percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


async def _plans(
    client: httpx.AsyncClient, headers: dict[str, str], engine: AsyncEngine, deep: str
) -> dict[str, Any]:
    """Each page's query as the repository sent it, under ``EXPLAIN (ANALYZE, BUFFERS)``."""
    captured: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if "FROM transactions" in statement and "ORDER BY" in statement:
            captured.append((statement, parameters))

    requests = _requests(deep)
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        for page in ("first", "deep"):
            path, params = requests[page]
            (await client.get(path, params=params, headers=headers)).raise_for_status()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    plans: dict[str, Any] = {}
    async with engine.connect() as connection:
        for page, (statement, parameters) in zip(("first", "deep"), captured, strict=True):
            explained = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
            )
            plans[page] = _plan([str(row[0]) for row in explained], cursor=page == "deep")
    plans["statement"] = " ".join(captured[-1][0].split())
    return plans


def _plan(lines: list[str], *, cursor: bool) -> dict[str, Any]:
    """The plan, its execution time and buffers, and whether it is a keyset index scan: a
    backward scan of the ``(user_id, occurred_at, id)`` index (with the cursor's row comparison
    in its index condition), no sort and no sequential scan, so the work is one page whatever
    the depth."""
    scan = any("Index Scan Backward" in line and "occurred_at" in line for line in lines)
    keyset = not cursor or any(
        "Index Cond" in line and "ROW(occurred_at, id) <" in line for line in lines
    )
    sorted_or_seq = any("Sort" in line or "Seq Scan" in line for line in lines)
    execution = next(
        (line.split(":")[1].split()[0] for line in lines if line.startswith("Execution Time")), None
    )
    buffers = next((line.strip() for line in lines if "Buffers:" in line), None)
    return {
        "keyset_index_scan": scan and keyset and not sorted_or_seq,
        "execution_ms": None if execution is None else float(execution),
        "buffers": buffers,
        "explain_analyze": lines,
    }


def _verdict(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Depth: the deep page's p99 against the first page's, at each size (the two alternate
    request by request, so they share the machine's state). Size: each page's p99 at the
    largest size against the smallest, both divided by the baseline's p99 of the same size:
    the sizes are minutes apart, and on a shared machine the p99 of the same request moves by
    more than the target in that time (``baseline_p99_growth`` shows by how much), which the
    division cancels. The raw growth is reported beside it."""
    depth = {str(r["rows"]): round(r["deep_vs_first_p99"] - 1, 3) for r in results}
    smallest, largest = results[0], results[-1]

    def grown(page: str, *, against_baseline: bool) -> float:
        def p99(result: dict[str, Any]) -> float:
            value: float = result[page]["p99"]
            return value / result["baseline"]["p99"] if against_baseline else value

        return round(p99(largest) / p99(smallest) - 1, 3)

    pages = ("first", "deep")
    growth = {page: grown(page, against_baseline=True) for page in pages}
    drifts = [*depth.values(), *growth.values()]
    return {
        "deep_vs_first_p99_drift": depth,
        "p99_growth_vs_baseline": growth,
        "p99_growth_raw": {page: grown(page, against_baseline=False) for page in pages},
        "baseline_p99_growth": grown("baseline", against_baseline=False),
        "keyset_index_scan_at_every_size": all(
            r["plans"][page]["keyset_index_scan"] for r in results for page in pages
        ),
        "target_drift": TARGET_DRIFT,
        "passed": all(abs(drift) <= TARGET_DRIFT for drift in drifts),
    }


def _print(result: dict[str, Any]) -> None:
    print(
        f"  {result['rows']:>9} rows: first p50 {result['first']['p50']} / p99 "
        f"{result['first']['p99']} ms, deep p50 {result['deep']['p50']} / p99 "
        f"{result['deep']['p99']} ms (deep/first p99 {result['deep_vs_first_p99']}), baseline "
        f"p99 {result['baseline']['p99']} ms; SQL {result['plans']['first']['execution_ms']} / "
        f"{result['plans']['deep']['execution_ms']} ms"
    )
