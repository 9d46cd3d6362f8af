"""Portfolio P&L: the lot ledger over 100,000 trades on 500 instruments (issue 8).

Target: for each cost method (fifo, lifo, average), the portfolio in its steady state takes at
most 250 ms (median of the rounds). ``GET /api/v1/portfolio`` keeps each user's ledger stored
(docs/portfolio.md, "Stored ledgers"), so three cases are measured per method:

- ``cold``: no stored ledger, the ledger built from every trade's entry and valued at the last
  prices (``LotLedger.from_entries(...).valued_at(prices)``): what a request pays once after
  a trade is dated back, edited or deleted (and what every request paid before). Reported
  beside the target, not held to it;
- ``current``: the ledger restored from its snapshot (``LotLedger.from_snapshot``) and valued;
- ``after_append``: the snapshot of every trade but the last, restored, extended with the last
  trade and valued: the request after one new fill.

The verdict holds ``current`` and ``after_append`` to the target.

The trades are synthetic and deterministic (seeded): 400 NSE instruments in INR and 100 NASDAQ
ones in USD, three accounts, a trade every few seconds over about a year with one in ten
sharing the previous trade's instant (partial fills), one in five carrying an MTF charge.
Sells are mostly smaller than the position; one in twenty sells more than is held (a short, or
a flip through zero). Five instruments split during the year. 450 of the 500 instruments have
a last price (the rest exercise the "unknown" path). The trades arrive in execution order, as
the trade repository returns them.

Each round is timed on this thread's CPU clock (the verdict, as in ``bench.brokers``: other
processes on a shared machine do not add to it) and on the wall clock, after a
``gc.collect()``; the garbage collector stays on, as in the server. Exit status: 0 when every
method's steady-state medians meet the target, 1 otherwise. Results:
``bench/results/portfolio-*.json``.

Then the same trades are stored in PostgreSQL and ``GET /api/v1/portfolio`` is measured end to
end for each method and the same three cases (``bench.portfolio_http``; ``--no-http`` skips
it, ``--database-url`` or ``DASHCORE_BENCH_DATABASE_URL`` says where); its steady-state
medians are held to the same target.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from random import Random
from typing import Any
from uuid import UUID

from bench.machine import machine_facts, source_revision
from bench.portfolio_http import DEFAULT_DATABASE_URL, measure_portfolio_endpoint
from bench.wrk import ensure_wrk
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import CostMethod, LedgerEntry, LotLedger, Portfolio, ledger_entry
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import MANUAL_ACCOUNT, Split, Trade, TradeSource, TradeType

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TARGET_MS = 250.0
TRADES = 100_000
INSTRUMENTS = 500
INDIAN_INSTRUMENTS = 400
PRICED_INSTRUMENTS = 450
SPLITS = 5
SEED = 20260105
START = datetime(2025, 4, 1, 3, 45, tzinfo=UTC)
ACCOUNTS = (
    "0190f0a4-1b2c-7d3e-8f40-000000000001",
    "0190f0a4-1b2c-7d3e-8f40-000000000002",
    MANUAL_ACCOUNT,
)
USER = UUID("0190f0a4-1b2c-7d3e-8f40-0000000000aa")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "portfolio",
        "started_at": started.isoformat(),
        "command": "python -m bench.portfolio " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(ensure_wrk()),  # records wrk's version; wrk is not run here
        "revision": source_revision(REPO),
        "target_ms": TARGET_MS,
        "trades": TRADES,
        "instruments": INSTRUMENTS,
        "warmup_rounds": args.warmup,
        "rounds": args.rounds,
        "notes": (
            "in-process; per method: cold = LotLedger.from_entries(entries, method, splits)"
            ".valued_at(prices), current = LotLedger.from_snapshot(snapshot).valued_at(prices), "
            "after_append = LotLedger.from_snapshot(snapshot of all but the last entry)"
            ".extend([last entry]).valued_at(prices); ms on this thread's CPU clock (the "
            "verdict, on current and after_append), wall clock alongside; gc on, gc.collect() "
            "before each round"
        ),
        "seed": {
            "random_seed": SEED,
            "accounts": len(ACCOUNTS),
            "instruments": f"{INDIAN_INSTRUMENTS} NSE (INR), "
            f"{INSTRUMENTS - INDIAN_INSTRUMENTS} XNAS (USD)",
            "priced_instruments": PRICED_INSTRUMENTS,
            "splits": SPLITS,
            "order": "execution order, as the trade repository returns them",
        },
    }
    build_started = time.perf_counter()
    trades, splits, prices = synthetic_history(Random(SEED))
    report["build_seconds"] = round(time.perf_counter() - build_started, 2)
    report["seed"]["equal_instants"] = sum(
        1 for a, b in pairwise(trades) if a.executed_at == b.executed_at
    )
    methods: dict[str, Any] = {}
    entries = [ledger_entry(trade) for trade in trades]
    for method in CostMethod:
        result = _measure(entries, splits, prices, method, args.warmup, args.rounds)
        methods[method.value] = result
        _print_line(method, result)
    report["methods"] = methods
    if not args.no_http:
        report["http"] = measure_portfolio_endpoint(
            trades,
            args.database_url,
            warmup=args.http_warmup,
            rounds=args.http_rounds,
            target_ms=TARGET_MS,
        )
    report["loadavg_at_end"] = list(os.getloadavg())
    passed = all(result["passed"] for result in methods.values())
    passed = passed and report.get("http", {}).get("passed", True)
    report["verdict"] = "pass" if passed else "fail"
    print(f"bench.portfolio: {report['verdict']}")
    if not args.no_save:
        path = RESULTS / f"portfolio-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        text = json.dumps(report, indent=2) + "\n"
        path.write_text(text)
        (RESULTS / "portfolio-latest.json").write_text(text)
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0 if passed else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.portfolio", description=__doc__)
    parser.add_argument("--warmup", type=int, default=2, help="discarded rounds per method")
    parser.add_argument("--rounds", type=int, default=21, help="timed rounds per method")
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    parser.add_argument("--no-http", action="store_true", help="skip GET /portfolio on PostgreSQL")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DASHCORE_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL for the endpoint (a private schema is created and dropped)",
    )
    parser.add_argument("--http-warmup", type=int, default=1, help="discarded requests per method")
    parser.add_argument("--http-rounds", type=int, default=7, help="timed requests per method")
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.rounds < 2:
        parser.error("--warmup must be at least 0 and --rounds at least 2")
    return args


# -- the history ----------------------------------------------------------------------------
def synthetic_history(
    rng: Random,
) -> tuple[list[Trade], list[Split], dict[InstrumentKey, Money]]:
    """100,000 trades in execution order, the splits among them and the last prices."""
    inr, usd = Currency("INR"), Currency("USD")
    instruments = [
        (InstrumentKey(f"NSE{n:03d}", "NSE"), inr) if n < INDIAN_INSTRUMENTS
        else (InstrumentKey(f"US{n:03d}", "XNAS"), usd)
        for n in range(INSTRUMENTS)
    ]  # fmt: skip
    price_of = {key: Decimal(rng.randint(500, 500_000)).scaleb(-2) for key, _ in instruments}
    held: dict[tuple[str, InstrumentKey], int] = {}
    trades: list[Trade] = []
    at = START
    for number in range(TRADES):
        if rng.random() >= 0.1:  # else: a partial fill at the same instant
            at += timedelta(seconds=rng.randint(1, 600))
        key, currency = rng.choice(instruments)
        account = rng.choice(ACCOUNTS)
        position = held.get((account, key), 0)
        quantity = rng.randint(1, 200)
        side = OrderSide.BUY
        if position > 0 and rng.random() < 0.45:
            side = OrderSide.SELL
            if rng.random() >= 0.05:  # else: sell through zero
                quantity = rng.randint(1, position)
        elif position < 0:
            side = OrderSide.BUY if rng.random() < 0.7 else OrderSide.SELL
        held[(account, key)] = position + (quantity if side is OrderSide.BUY else -quantity)
        drift = Decimal(rng.randint(-200, 200)).scaleb(-4)  # ±2 %, on the tick
        price = max(Decimal("1.00"), (price_of[key] * (1 + drift)).quantize(Decimal("0.01")))
        price_of[key] = price
        charges = (price * quantity * Decimal("0.0011")).quantize(Decimal("0.01"))
        trades.append(
            Trade(
                id=UUID(int=(1 << 120) + number),
                user_id=USER,
                account=account,
                instrument=key,
                side=side,
                quantity=Decimal(quantity),
                price=Money(price, currency),
                charges=Money(charges, currency),
                type=TradeType.EQUITY,
                executed_at=at,
                source=TradeSource.MANUAL,
                mtf_charge=Money(Decimal("12.50"), currency) if rng.random() < 0.2 else None,
            )
        )
    span = (at - START).total_seconds()
    splits = []
    for key, _ in rng.sample(instruments, SPLITS):
        numerator, denominator = rng.choice([(2, 1), (5, 1), (1, 2), (3, 2), (1, 10)])
        effective_at = START + timedelta(seconds=rng.randint(0, int(span)))
        splits.append(Split(key, numerator, denominator, effective_at))
    prices = {
        key: Money(price_of[key], currency)
        for key, currency in rng.sample(instruments, PRICED_INSTRUMENTS)
    }
    return trades, splits, prices


# -- timing ---------------------------------------------------------------------------------
STEADY_CASES = ("current", "after_append")
"""The cases held to the target; ``cold`` is reported beside them."""


def _measure(
    entries: list[LedgerEntry],
    splits: list[Split],
    prices: dict[InstrumentKey, Money],
    method: CostMethod,
    warmup: int,
    rounds: int,
) -> dict[str, Any]:
    whole = LotLedger.from_entries(entries, method, splits).snapshot()
    head = LotLedger.from_entries(entries[:-1], method, splits).snapshot()
    cases: dict[str, Callable[[], Portfolio]] = {
        "cold": lambda: LotLedger.from_entries(entries, method, splits).valued_at(prices),
        "current": lambda: LotLedger.from_snapshot(whole).valued_at(prices),
        "after_append": lambda: (
            LotLedger.from_snapshot(head).extend(entries[-1:]).valued_at(prices)
        ),
    }
    result: dict[str, Any] = {}
    portfolios = []
    for case, compute in cases.items():
        cpu_ms: list[float] = []
        wall_ms: list[float] = []
        for index in range(warmup + rounds):
            gc.collect()
            wall_0, cpu_0 = time.perf_counter(), time.thread_time()
            portfolio = compute()
            wall_1, cpu_1 = time.perf_counter(), time.thread_time()
            if index >= warmup:
                cpu_ms.append((cpu_1 - cpu_0) * 1000)
                wall_ms.append((wall_1 - wall_0) * 1000)
        portfolios.append(portfolio)
        result[case] = {"cpu_ms": _summary(cpu_ms), "wall_ms": _summary(wall_ms)}
    assert all(other == portfolios[0] for other in portfolios), "the cases disagree"
    portfolio = portfolios[0]
    result.update(
        positions=len(portfolio.positions),
        open_positions=sum(1 for line in portfolio.positions if line.quantity),
        short_positions=sum(1 for line in portfolio.positions if line.quantity < 0),
        totals={
            total.currency.code: {
                "realized_pnl": str(total.realized_pnl.rounded(2).amount),
                "unrealized_pnl": None
                if total.unrealized_pnl is None
                else str(total.unrealized_pnl.rounded(2).amount),
                "unpriced_instruments": len(total.unpriced),
            }
            for total in portfolio.totals
        },
        passed=all(result[case]["cpu_ms"]["median"] <= TARGET_MS for case in STEADY_CASES),
    )
    return result


def _summary(samples: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(samples), 1),
        "median": round(statistics.median(samples), 1),
        "p95": round(statistics.quantiles(samples, n=20, method="inclusive")[-1], 1),
        "max": round(max(samples), 1),
        "rounds": [round(sample, 1) for sample in samples],
    }


def _print_line(method: CostMethod, result: dict[str, Any]) -> None:
    for case in ("cold", *STEADY_CASES):
        cpu, wall = result[case]["cpu_ms"], result[case]["wall_ms"]
        verdict = "(not held to it)"
        if case in STEADY_CASES:
            verdict = "ok" if cpu["median"] <= TARGET_MS else "MISSED"
        print(
            f"portfolio/{method.value:8} {case:12} {cpu['median']:7.1f} ms CPU median"
            f" (p95 {cpu['p95']:7.1f}, wall median {wall['median']:7.1f})"
            f"  target {TARGET_MS:.0f} ms  {verdict}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
