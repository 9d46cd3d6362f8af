"""Aggregation benchmarks (issue 7), on PostgreSQL and Redis.

1. **Paging** (:mod:`bench.aggregation_paging`): ``GET /api/v1/transactions?limit=100``, the
   newest page and a page ~90 % deep, for one user with 10 k, then 100 k, then 1 M
   transactions. Target: at every size the deep page's p99 within ±20 % of the first page's,
   and each page's p99 at 1 M within ±20 % of its p99 at 10 k (relative to a same-run
   baseline request, ``GET /api/v1/accounts``). Both pages' queries are shown under
   ``EXPLAIN (ANALYZE, BUFFERS)`` at each size.
2. **Sync throughput** (:mod:`bench.aggregation_sync`): 200 sandbox connections (50 each of
   Schwab, Kite, Upstox and Groww) synced by the periodic sync through one worker, every
   sandbox request delayed 50 ms. Target: done within 2× the time the providers' rate limits
   (and the latency, at the worker's concurrency) allow.

Both run in one private PostgreSQL schema (``DASHCORE_BENCH_DATABASE_URL``, default the local
``test`` database) and under one private Redis key prefix (``DASHCORE_TEST_REDIS_URL``, default
the local Redis), removed at the end. Exit status: 0 when every target is met, 1 otherwise.
Results: ``bench/results/aggregation-*.json`` and ``aggregation-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.aggregation_paging import SIZES, measure_paging
from bench.aggregation_sync import measure_sync
from bench.machine import machine_facts, source_revision
from bench.wrk import ensure_wrk
from dashcore_app.settings import LogFormat, MailerKind, Settings
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing
from dashcore_sql import create_engine, upgrade

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    return asyncio.run(_run(args))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.aggregation", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=SIZES,
        help="transaction counts, growing (default 10000,100000,1000000)",
    )
    parser.add_argument("--samples", type=int, default=300, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=10, help="discarded requests per page")
    parser.add_argument("--sync-users", type=int, default=50, help="people, 4 connections each")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per sandbox request")
    parser.add_argument("--concurrency", type=int, default=10, help="jobs the worker runs at once")
    parser.add_argument("--no-paging", action="store_true", help="skip the paging benchmark")
    parser.add_argument("--no-sync", action="store_true", help="skip the sync benchmark")
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DASHCORE_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL (a private schema is created and dropped)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("DASHCORE_TEST_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis (a private key prefix, deleted afterwards)",
    )
    args = parser.parse_args(argv)
    if list(args.sizes) != sorted(set(args.sizes)) or args.sizes[0] < 2000:
        parser.error("--sizes: growing counts of at least 2000")
    if args.samples < 100 or args.warmup < 0 or args.sync_users < 1 or args.concurrency < 1:
        parser.error("--samples >= 100 (a p99 needs them), --warmup >= 0, positive counts")
    return args


async def _run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "aggregation",
        "started_at": started.isoformat(),
        "command": "python -m bench.aggregation " + " ".join(sys.argv[1:]),
        "machine": machine_facts(ensure_wrk()),  # records wrk's version; wrk is not run here
        "revision": source_revision(REPO),
        "database": args.database_url.rsplit("@", 1)[-1],
    }
    schema = f"bench_aggregation_{uuid.uuid4().hex[:12]}"
    prefix = f"bench-aggregation-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=args.database_url,
        redis_url=args.redis_url,
        redis_prefix=prefix,
        vault_keys=KeyRing.generate().to_env_value(),
        signing_keys=SigningKeyRing.generate().to_env_value(),
        hash_profile="test",  # the one sign-in is not what is measured
        mailer=MailerKind.MEMORY,
        rate_limits=False,
        log_format=LogFormat.JSON,
        log_level="WARNING",
    )
    admin = create_engine(args.database_url)
    try:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(args.database_url, schema=schema)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        if not args.no_paging:
            report["paging"] = await measure_paging(
                settings, schema, sizes=args.sizes, samples=args.samples, warmup=args.warmup
            )
        if not args.no_sync:
            report["sync"] = await measure_sync(
                settings,
                schema,
                users=args.sync_users,
                latency=args.latency,
                concurrency=args.concurrency,
            )
    finally:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()
        await _forget(args.redis_url, prefix)
    report["loadavg_at_end"] = list(os.getloadavg())
    measured = [report[part] for part in ("paging", "sync") if part in report]
    passed = all(part["passed"] for part in measured)
    report["verdict"] = "pass" if passed else "fail"
    _print(report)
    if not args.no_save:
        path = RESULTS / f"aggregation-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        content = json.dumps(report, indent=2, default=str) + "\n"
        path.write_text(content)
        (RESULTS / "aggregation-latest.json").write_text(content)
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0 if passed else 1


async def _forget(url: str, prefix: str) -> None:
    """Delete the run's Redis keys (jobs stream, statuses, locks, sessions)."""
    client = Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=5000):
            await client.delete(key)
    finally:
        await client.aclose()


def _print(report: dict[str, Any]) -> None:
    if "paging" in report:
        paging = report["paging"]
        print(
            "bench.aggregation: paging deep/first p99 drift "
            f"{paging['deep_vs_first_p99_drift']}, p99 growth smallest -> largest "
            f"{paging['p99_growth_vs_baseline']} vs the baseline (raw "
            f"{paging['p99_growth_raw']}, baseline {paging['baseline_p99_growth']}; target within ±"
            f"{paging['target_drift']:.0%}); keyset index scans: "
            f"{paging['keyset_index_scan_at_every_size']}"
        )
    if "sync" in report:
        sync = report["sync"]
        print(
            f"bench.aggregation: {sync['connections']} syncs in {sync['measured_seconds']} s; "
            f"bound {sync['bound_seconds']} s (rate {sync['rate_bound_seconds']} s, latency "
            f"{sync['latency_bound_seconds']} s): ratio {sync['ratio']} "
            f"(target <= {sync['target_ratio']})"
        )
    print(f"bench.aggregation: {report['verdict']}")


if __name__ == "__main__":
    sys.exit(main())
