"""Exports: a 1,000,000-row CSV export in constant memory, on PostgreSQL (issue 7).

Target: the process that runs the export (``RunExport``, as the ``run_export`` job runs it)
peaks at most 200 MB resident (``ru_maxrss``), whatever the number of rows.

1. A private PostgreSQL schema (``DASHCORE_BENCH_DATABASE_URL``, default the local ``test``
   database) is migrated and seeded in the database itself: one user, one manual account, and
   ``--rows`` transactions 30 seconds apart (``INSERT … SELECT … FROM generate_series``): every
   third one a trade of an instrument with a quantity and a price, the others cash movements in
   four activity types, descriptions with commas and quotes (so CSV quotes them), amounts with
   cents. A queued CSV export of every row is recorded.
2. A **subprocess** (``python -m bench.exports --child …``) builds the SQL adapters, the
   transaction stream (server-side cursor) and the file store, and runs ``RunExport`` on it.
   Its peak RSS is read here from ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it
   exits (the child also reports its own ``RUSAGE_SELF`` peak and the wall time). A first
   child exports an empty range: its peak is the baseline of the interpreter and the imports.
3. The file is checked (one line per row plus the header) and removed with the schema.

Exit status: 0 when the peak meets the target and the export is complete, 1 otherwise.
Results: ``bench/results/exports-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.machine import machine_facts, source_revision
from bench.wrk import ensure_wrk
from dashcore.application.exports import ExportPolicy, RunExport
from dashcore.domain.aggregation import ManualAccountDetails, StoredAccount
from dashcore.domain.email import Email
from dashcore.domain.exports import Export, ExportFormat, ExportRequest
from dashcore.domain.money import Currency
from dashcore.domain.portfolio import AccountType
from dashcore.domain.users import User
from dashcore_sql import create_engine, unit_of_work, upgrade
from dashcore_sql.aggregation import SqlStoredAccountRepository, SqlTransactionStream
from dashcore_sql.exports import SqlExportRepository, SqlTransactionCounter
from dashcore_sql.users import SqlUserRepository
from dashcore_system import SystemClock
from dashcore_system.export_files import LocalExportFileStore

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_MB = 200.0
ROWS = 1_000_000
START = datetime(2020, 1, 1, tzinfo=UTC)
USER = UUID("0190f0a4-1b2c-7d3e-8f40-0000000000e1")
ACCOUNT = UUID("0190f0a4-1b2c-7d3e-8f40-0000000000e2")
EVERYTHING = ExportRequest(ExportFormat.CSV, START, START + timedelta(days=3650))
NOTHING = ExportRequest(ExportFormat.CSV, START - timedelta(days=2), START - timedelta(days=1))

_SEED = text(
    """
    INSERT INTO transactions (
        id, account_id, user_id, source, provider_transaction_id, activity, occurred_at,
        amount, currency, symbol, exchange, instrument_currency, asset_class, lot_size,
        tick_size, quantity, price, price_currency, description, created_at, updated_at,
        created_seq, change_seq)
    SELECT
        gen_random_uuid(), CAST(:account AS uuid), CAST(:user AS uuid), 'manual', 'bench-' || n,
        (ARRAY['buy', 'deposit', 'withdrawal', 'dividend', 'fee', 'sell'])[1 + n % 6],
        CAST(:start AS timestamptz) + n * interval '30 seconds',
        CAST(CASE WHEN n % 2 = 0 THEN -1 ELSE 1 END * ((n % 1000000) * 0.01 + 0.05)
             AS numeric(18, 2)),
        'USD',
        CASE WHEN n % 3 = 0 THEN 'AAPL' END, CASE WHEN n % 3 = 0 THEN 'XNAS' END,
        CASE WHEN n % 3 = 0 THEN 'USD' END, CASE WHEN n % 3 = 0 THEN 'equity' END,
        CASE WHEN n % 3 = 0 THEN 1 END, CASE WHEN n % 3 = 0 THEN 0.01 END,
        CASE WHEN n % 3 = 0 THEN 1 + n % 50 END, CASE WHEN n % 3 = 0 THEN 187.25 END,
        CASE WHEN n % 3 = 0 THEN 'USD' END,
        'Bench row ' || n || ', "quoted" part', CAST(:start AS timestamptz),
        CAST(:start AS timestamptz), n, n
    FROM generate_series(1, :rows) AS n
    """
)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.child:
        return _child(args)
    return asyncio.run(_parent(args))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS, help="transactions to export")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DASHCORE_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL (a private schema is created and dropped)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    parser.add_argument("--child", nargs=3, metavar=("SCHEMA", "EXPORT_ID", "DIR"))
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    return args


# -- the parent: seed, run two children, judge ------------------------------------------------


async def _parent(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "exports",
        "started_at": started.isoformat(),
        "command": "python -m bench.exports " + " ".join(sys.argv[1:]),
        "machine": machine_facts(ensure_wrk()),  # records wrk's version; wrk is not run here
        "revision": source_revision(REPO),
        "target_peak_rss_mb": TARGET_MB,
        "rows": args.rows,
        "notes": (
            "CSV of raw rows through RunExport in a subprocess (SQL adapters, server-side "
            "cursor, local file store, default ExportPolicy); peak RSS from "
            "getrusage(RUSAGE_CHILDREN).ru_maxrss after the child exits"
        ),
    }
    schema = f"bench_exports_{uuid.uuid4().hex[:12]}"
    directory = Path(tempfile.mkdtemp(prefix="dashcore-bench-exports-"))
    admin = create_engine(args.database_url)
    try:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(args.database_url, schema=schema)
        try:
            seeding = time.perf_counter()
            empty, full = await _seed(engine, args.rows)
            report["seed_seconds"] = round(time.perf_counter() - seeding, 1)
        finally:
            await engine.dispose()
        print(f"bench.exports: seeded {args.rows} rows in {report['seed_seconds']} s")
        report["baseline"] = _run_child(args, schema, empty, directory)
        report["export"] = _run_child(args, schema, full, directory)
    finally:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()
        shutil.rmtree(directory, ignore_errors=True)
    report["loadavg_at_end"] = list(os.getloadavg())
    export = report["export"]
    complete = export["status"] == "succeeded" and export["file_lines"] == args.rows + 1
    passed = complete and export["peak_rss_mb"] <= TARGET_MB
    report["verdict"] = "pass" if passed else "fail"
    print(
        f"bench.exports: {args.rows} rows, {export['byte_size']} bytes in "
        f"{export['wall_seconds']} s; peak RSS {export['peak_rss_mb']} MB "
        f"(baseline {report['baseline']['peak_rss_mb']} MB, target {TARGET_MB} MB): "
        f"{report['verdict']}"
    )
    if not args.no_save:
        path = RESULTS / f"exports-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        content = json.dumps(report, indent=2) + "\n"
        path.write_text(content)
        (RESULTS / "exports-latest.json").write_text(content)
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0 if passed else 1


async def _seed(engine: AsyncEngine, rows: int) -> tuple[UUID, UUID]:
    """Migrate, seed the rows, and queue two exports: an empty one and one of every row."""
    await upgrade(engine)
    now = datetime.now(UTC)
    user = User(
        id=USER,
        email=Email("exports-bench@example.org"),
        password_hash="$argon2id$bench",  # noqa: S106 (no one logs in)
        created_at=now,
        updated_at=now,
        verified=True,
    )
    details = ManualAccountDetails("Bench", AccountType.CASH, Currency("USD"))
    empty = Export.queued(uuid.uuid4(), USER, NOTHING, now)
    full = Export.queued(uuid.uuid4(), USER, EVERYTHING, now)
    async with unit_of_work(engine) as uow:
        await SqlUserRepository(uow).add(user)
        await SqlStoredAccountRepository(uow).add(StoredAccount.manual(ACCOUNT, USER, details, now))
        await uow.execute(_SEED, {"account": ACCOUNT, "user": USER, "start": START, "rows": rows})
        exports = SqlExportRepository(uow)
        await exports.add(empty)
        await exports.add(full)
        await uow.commit()
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE transactions")
    return empty.id, full.id


def _run_child(
    args: argparse.Namespace, schema: str, export_id: UUID, directory: Path
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.exports", "--database-url", args.database_url,
               "--child", schema, str(export_id), str(directory)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    children_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"bench.exports: the export process failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    file = directory / f"{export_id}.csv"
    with file.open("rb") as handle:
        result["file_lines"] = sum(1 for _ in handle)
    file.unlink()
    result["wall_seconds"] = round(wall, 2)
    result["peak_rss_mb"] = round(children_peak_kb / 1024, 1)
    return result


# -- the child: one export, as the run_export job runs it --------------------------------------


def _child(args: argparse.Namespace) -> int:
    schema, export_id, directory = args.child
    print(json.dumps(asyncio.run(_export(args.database_url, schema, UUID(export_id), directory))))
    return 0


async def _export(url: str, schema: str, export_id: UUID, directory: str) -> dict[str, Any]:
    engine = create_engine(url, schema=schema)
    started = time.perf_counter()
    try:
        async with unit_of_work(engine) as uow:
            run = RunExport(
                SqlExportRepository(uow),
                SqlTransactionCounter(uow),
                SqlTransactionStream(engine),
                LocalExportFileStore(Path(directory)),
                uow,
                SystemClock(),
                ExportPolicy(),
            )
            ended = await run(export_id)
    finally:
        await engine.dispose()
    assert ended is not None
    return {
        "status": ended.status.value,
        "rows_read": ended.rows_read,
        "row_count": ended.row_count,
        "byte_size": ended.byte_size,
        "export_seconds": round(time.perf_counter() - started, 2),
        "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
