"""Broker adapters: decoding and normalizing 5,000 rows of each broker's wire format (issue 6).

Target: every (broker, listing) normalizes at least 100,000 rows a second (median of the
rounds). The bodies are real wire: each broker's sandbox is seeded through its exchange engine
(``many_rows`` holdings and ledger lines, market orders for brokers whose transactions are
trades), then the route the adapter reads is fetched in-process over httpx with a token that
the adapter's own login obtained, and the response bytes are kept.

What the rows look like: every holding is on its own instrument (as in any holdings answer);
trades are a second apart and spread over ``TRADED_INSTRUMENTS`` held instruments (50 trades
each in a 5,000-row page); ledger lines come three a second. So no time string repeats between
trades, and the adapters' per-call instrument caches cannot hide the cost of building 5,000
instruments for holdings.

- Schwab: ``GET /trader/v1/accounts/{hash}?fields=positions`` (holdings) and
  ``/accounts/{hash}/transactions`` (half trades, half deposits, interest and fees). Schwab
  answers at most 3,000 transactions a call, so the 5,000-row body joins the answers of one
  call per transaction type into one JSON array.
- Kite: ``GET /portfolio/holdings`` and ``GET /trades`` (the day's trades).
- Upstox: ``GET /v2/portfolio/long-term-holdings`` and one 5,000-row page of
  ``GET /v2/charges/historical-trades``.
- Groww: ``GET /v1/holdings/user``; Groww publishes no ledger, so its transactions are not
  applicable (``AccountReader.transactions`` refuses before any call).

Each round times ``normalize_*(body, account_id)`` (typed msgspec decode + mapping to domain
objects) and, right after on the same body, the untyped ``msgspec.json.decode(body)`` as the
same-run baseline, on this thread's CPU clock (what the verdict uses: other processes on a
shared machine do not add to it, though on a VM they still slow it) and on the wall clock.
Exit status: 0 when every median meets the target, 1 otherwise; a listing
that misses is profiled (cProfile) into the report. Results: ``bench/results/brokers-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from bench.machine import machine_facts, source_revision
from bench.wrk import ensure_wrk
from dashcore.domain.connections import IST, KeyCredentials, ProviderCredentials
from dashcore.testing.clock import FakeClock
from dashcore_brokers.groww import PLUGIN as GROWW
from dashcore_brokers.groww import mapping as groww_mapping
from dashcore_brokers.groww.gateway import HOLDINGS_PATH as GROWW_HOLDINGS_PATH
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin
from dashcore_brokers.sandbox import BrokerSandbox, SandboxTransport
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    SCHWAB_REDIRECT_URI,
    UPSTOX_REDIRECT_URI,
)
from dashcore_brokers.sandbox.exchange import (
    INDIA_ACCOUNT_ID,
    US_ACCOUNT_ID,
    Exchange,
    OrderKind,
    Side,
    SimStatus,
    many_rows,
)
from dashcore_brokers.sandbox.groww import GrowwSandbox
from dashcore_brokers.sandbox.schwab import SchwabSandbox
from dashcore_brokers.sandbox.schwab.accounts import MAX_TRANSACTIONS
from dashcore_brokers.sandbox.upstox import UpstoxSandbox
from dashcore_brokers.sandbox.zerodha import KiteSandbox
from dashcore_brokers.schwab import PLUGIN as SCHWAB
from dashcore_brokers.schwab import mapping as schwab_mapping
from dashcore_brokers.schwab.gateway import TRANSACTION_TYPES
from dashcore_brokers.upstox import PLUGIN as UPSTOX
from dashcore_brokers.upstox import mapping as upstox_mapping
from dashcore_brokers.upstox.accounts import TRADE_HISTORY_PATH
from dashcore_brokers.zerodha import PLUGIN as KITE
from dashcore_brokers.zerodha import mapping as kite_mapping

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
ROWS = 5_000
TARGET_ROWS_PER_SECOND = 100_000
SANDBOX_URL = "http://sandbox.bench.test"
STATE = "bench-brokers"
# 2026-01-05 10:00 IST, a Monday morning in India; the US market is seeded on the same clock.
START = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
CASH = Decimal(10_000_000)  # enough for every benchmark buy
TRADED_INSTRUMENTS = 100
PROFILE_ROUNDS = 5
PROFILE_TOP = 12

Normalize = Callable[[bytes, str], Sequence[object]]


@dataclass(frozen=True, slots=True)
class Listing:
    """One wire body and the adapter function that decodes and normalizes it."""

    broker: str
    listing: str
    route: str
    body: bytes
    account_id: str
    normalize: Normalize

    @property
    def key(self) -> str:
        return f"{self.broker}/{self.listing}"


NOT_APPLICABLE = {
    "groww/transactions": (
        "Groww publishes no ledger or trade-history API: GrowwAccounts.transactions raises "
        "NotSupported before any call, so there is no wire body to normalize."
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "brokers",
        "started_at": started.isoformat(),
        "command": "python -m bench.brokers " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(ensure_wrk()),  # records wrk's version; wrk is not run here
        "revision": source_revision(REPO),
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "rows": ROWS,
        "warmup_rounds": args.warmup,
        "rounds": args.rounds,
        "notes": (
            "in-process; rows/s = rows / CPU seconds of one call (this thread's CPU clock; "
            "wall-clock figures alongside); normalize = typed decode + "
            "mapping to domain objects; baseline = untyped msgspec.json.decode of the same body "
            "in the same round"
        ),
        "seed": {
            "holdings": "one instrument per row",
            "trades": f"a second apart, over {TRADED_INSTRUMENTS} instruments",
            "schwab_ledger": f"{ROWS // 2} trades, then deposits, interest and fees, 3 a second",
        },
    }
    build_started = time.perf_counter()
    listings = asyncio.run(_wire_bodies())
    report["build_seconds"] = round(time.perf_counter() - build_started, 2)
    measured: dict[str, Any] = {}
    for listing in listings:
        result = _measure(listing, args.warmup, args.rounds)
        if args.profile or not result["passed"]:
            result["profile"] = _profile(listing)
        measured[listing.key] = result
        _print_line(listing.key, result)
    report["listings"] = measured
    report["loadavg_at_end"] = list(os.getloadavg())
    report["not_applicable"] = NOT_APPLICABLE
    for key, reason in NOT_APPLICABLE.items():
        print(f"{key:22} not applicable: {reason}")
    passed = all(result["passed"] for result in measured.values())
    report["verdict"] = "pass" if passed else "fail"
    print(f"bench.brokers: {report['verdict']}")
    if not args.no_save:
        path = RESULTS / f"brokers-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        text = json.dumps(report, indent=2) + "\n"
        path.write_text(text)
        (RESULTS / "brokers-latest.json").write_text(text)
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0 if passed else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.brokers", description=__doc__)
    parser.add_argument("--warmup", type=int, default=3, help="discarded rounds per listing")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds per listing")
    parser.add_argument("--profile", action="store_true", help="profile every listing")
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.rounds < 1:
        parser.error("--warmup must be at least 0 and --rounds at least 1")
    return args


# -- timing ---------------------------------------------------------------------------------
def _measure(listing: Listing, warmup: int, rounds: int) -> dict[str, Any]:
    """Alternate the adapter and the untyped decode on the same body, round by round.

    Each call is timed by this thread's CPU clock (the verdict: the adapter's own cost, which
    other processes on a shared machine do not inflate) and by the wall clock.
    """
    produced = len(listing.normalize(listing.body, listing.account_id))
    if produced != ROWS:
        raise RuntimeError(f"{listing.key}: {produced} rows normalized, expected {ROWS}")
    rates: dict[str, list[float]] = {
        "normalize_cpu": [],
        "baseline_cpu": [],
        "normalize_wall": [],
        "baseline_wall": [],
    }
    for index in range(warmup + rounds):
        gc.collect()
        wall_0, cpu_0 = time.perf_counter(), time.thread_time()
        listing.normalize(listing.body, listing.account_id)
        wall_1, cpu_1 = time.perf_counter(), time.thread_time()
        msgspec.json.decode(listing.body)
        wall_2, cpu_2 = time.perf_counter(), time.thread_time()
        if index >= warmup:
            rates["normalize_cpu"].append(ROWS / (cpu_1 - cpu_0))
            rates["baseline_cpu"].append(ROWS / (cpu_2 - cpu_1))
            rates["normalize_wall"].append(ROWS / (wall_1 - wall_0))
            rates["baseline_wall"].append(ROWS / (wall_2 - wall_1))
    normalize, baseline = rates["normalize_cpu"], rates["baseline_cpu"]
    median = statistics.median(normalize)
    return {
        "route": listing.route,
        "rows": ROWS,
        "body_bytes": len(listing.body),
        "normalize_rows_per_cpu_second": _summary(normalize),
        "baseline_rows_per_cpu_second": _summary(baseline),
        "ratio_of_medians": round(median / statistics.median(baseline), 4),
        "per_round_ratios": [round(n / b, 4) for n, b in zip(normalize, baseline, strict=True)],
        "normalize_rows_per_second_wall": _summary(rates["normalize_wall"]),
        "baseline_rows_per_second_wall": _summary(rates["baseline_wall"]),
        "passed": median >= TARGET_ROWS_PER_SECOND,
    }


def _summary(rates: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(rates)),
        "median": round(statistics.median(rates)),
        "max": round(max(rates)),
        "rounds": [round(rate) for rate in rates],
    }


def _profile(listing: Listing) -> dict[str, Any]:
    """Where the adapter's time goes: the functions with the most own time, as shares."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(PROFILE_ROUNDS):
        listing.normalize(listing.body, listing.account_id)
    profiler.disable()
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(entry[3] for entry in raw.values())  # the normalize calls, all included
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:PROFILE_TOP]
    return {
        "rounds": PROFILE_ROUNDS,
        "total_seconds": round(total, 4),
        "by_own_time": [
            {
                "function": f"{_short(file)}:{line}({name})",
                "calls": calls,
                "own_share": round(own / total, 4),
                "cumulative_share": round(cumulative / total, 4),
            }
            for (file, line, name), (_, calls, own, cumulative, _) in ranked
        ],
    }


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/src/adapters/", "/src/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _print_line(key: str, result: dict[str, Any]) -> None:
    normalize = result["normalize_rows_per_cpu_second"]
    baseline = result["baseline_rows_per_cpu_second"]
    wall = result["normalize_rows_per_second_wall"]
    print(
        f"{key:22} normalize {normalize['median']:>8,} rows/s (min {normalize['min']:>8,},"
        f" wall {wall['median']:>8,})  untyped decode {baseline['median']:>9,}"
        f"  ratio {result['ratio_of_medians']:.3f}  {'ok' if result['passed'] else 'MISSED'}"
    )


# -- wire bodies ----------------------------------------------------------------------------
async def _wire_bodies() -> list[Listing]:
    return [
        *await _schwab(),
        *await _kite(),
        *await _upstox(),
        *await _groww(),
    ]


async def _schwab() -> list[Listing]:
    clock = FakeClock(START)
    sandbox = SchwabSandbox(clock)
    exchange = sandbox.exchange
    account = exchange.account(US_ACCOUNT_ID)
    _seed_holdings(exchange, US_ACCOUNT_ID)
    exchange.deposit(US_ACCOUNT_ID, CASH)
    _trade(exchange, US_ACCOUNT_ID, clock, ROWS // 2)
    _seed_ledger(exchange, US_ACCOUNT_ID, clock, ROWS - len(account.transactions))
    async with _session(SCHWAB, sandbox, clock) as (auth, client):
        token = (await _oauth_login(auth, client, SCHWAB_REDIRECT_URI)).access_token
        headers = {"Authorization": f"Bearer {token}"}
        numbers = await _get(client, "/trader/v1/accounts/accountNumbers", headers)
        account_hash = next(
            row["hashValue"]
            for row in msgspec.json.decode(numbers)
            if row["accountNumber"] == account.number
        )
        path = f"/trader/v1/accounts/{account_hash}"
        holdings = await _get(client, path, headers, {"fields": "positions"})
        now = clock.now()
        window = {
            "startDate": _schwab_time(now - timedelta(days=365)),
            "endDate": _schwab_time(now),
        }
        answers = [
            await _get(client, f"{path}/transactions", headers, {**window, "types": kind})
            for kind in TRANSACTION_TYPES.split(",")
        ]
    return [
        Listing(
            "schwab",
            "holdings",
            "GET /trader/v1/accounts/{hash}?fields=positions",
            holdings,
            US_ACCOUNT_ID,
            schwab_mapping.normalize_holdings,
        ),
        Listing(
            "schwab",
            "transactions",
            "GET /trader/v1/accounts/{hash}/transactions, one call per type, joined",
            _joined_arrays(answers),
            US_ACCOUNT_ID,
            schwab_mapping.normalize_transactions,
        ),
    ]


async def _kite() -> list[Listing]:
    clock = FakeClock(START)
    sandbox = KiteSandbox(clock)
    _seed_trading_day(sandbox.exchange, clock)
    async with _session(KITE, sandbox, clock) as (auth, client):
        assert auth.request_token is not None
        url = auth.request_token.login_url(redirect_params=f"state={STATE}")
        request_token = _redirect_query(await client.get(url))["request_token"]
        credentials = await auth.request_token.exchange_request_token(request_token)
        config = KITE.default_config(sandbox_url=SANDBOX_URL)
        headers = {
            "Authorization": f"token {config.client_id}:{credentials.access_token}",
            "X-Kite-Version": "3",
        }
        holdings = await _get(client, "/portfolio/holdings", headers)
        trades = await _get(client, "/trades", headers)
    account = credentials.account_ref or INDIA_ACCOUNT_ID
    return [
        Listing(
            "zerodha",
            "holdings",
            "GET /portfolio/holdings",
            holdings,
            account,
            kite_mapping.normalize_holdings,
        ),
        Listing(
            "zerodha",
            "transactions",
            "GET /trades (the day's trades)",
            trades,
            account,
            kite_mapping.normalize_transactions,
        ),
    ]


async def _upstox() -> list[Listing]:
    clock = FakeClock(START)
    sandbox = UpstoxSandbox(clock)
    _seed_trading_day(sandbox.exchange, clock)
    async with _session(UPSTOX, sandbox, clock) as (auth, client):
        credentials = await _oauth_login(auth, client, UPSTOX_REDIRECT_URI)
        headers = {"Authorization": f"Bearer {credentials.access_token}"}
        holdings = await _get(client, "/v2/portfolio/long-term-holdings", headers)
        day = clock.now().astimezone(IST).date().isoformat()
        page = {"start_date": day, "end_date": day, "page_number": "1", "page_size": str(ROWS)}
        trades = await _get(client, TRADE_HISTORY_PATH, headers, page)
    account = credentials.account_ref or INDIA_ACCOUNT_ID
    return [
        Listing(
            "upstox",
            "holdings",
            "GET /v2/portfolio/long-term-holdings",
            holdings,
            account,
            upstox_mapping.normalize_holdings,
        ),
        Listing(
            "upstox",
            "transactions",
            f"GET {TRADE_HISTORY_PATH} (one page of {ROWS:,})",
            trades,
            account,
            upstox_mapping.normalize_transactions,
        ),
    ]


async def _groww() -> list[Listing]:
    clock = FakeClock(START)
    sandbox = GrowwSandbox(clock)
    _seed_holdings(sandbox.exchange, INDIA_ACCOUNT_ID)
    async with _session(GROWW, sandbox, clock) as (auth, client):
        assert auth.key_login is not None
        key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
        credentials = await auth.key_login.mint(key)
        headers = {"Authorization": f"Bearer {credentials.access_token}", "X-API-VERSION": "1.0"}
        holdings = await _get(client, GROWW_HOLDINGS_PATH, headers)
    return [
        Listing(
            "groww",
            "holdings",
            f"GET {GROWW_HOLDINGS_PATH}",
            holdings,
            INDIA_ACCOUNT_ID,
            groww_mapping.normalize_holdings,
        ),
    ]


# -- seeding --------------------------------------------------------------------------------
def _seed_holdings(exchange: Exchange, account_id: str) -> None:
    """Top the account up to exactly ``ROWS`` holdings, each on a new instrument."""
    many_rows(exchange, account_id, holdings=ROWS - len(exchange.account(account_id).holdings))


def _seed_trading_day(exchange: Exchange, clock: FakeClock) -> None:
    """``ROWS`` holdings and ``ROWS`` trades today (Kite and Upstox read trades as their
    transactions)."""
    _seed_holdings(exchange, INDIA_ACCOUNT_ID)
    exchange.deposit(INDIA_ACCOUNT_ID, CASH)
    _trade(exchange, INDIA_ACCOUNT_ID, clock, ROWS)


def _trade(exchange: Exchange, account_id: str, clock: FakeClock, count: int) -> None:
    """``count`` market buys of one share, a second apart, cycling over the first
    ``TRADED_INSTRUMENTS`` held instruments."""
    symbols = sorted(exchange.account(account_id).holdings)[:TRADED_INSTRUMENTS]
    for index in range(count):
        clock.advance(seconds=1)
        symbol = symbols[index % len(symbols)]
        order = exchange.place(
            account_id, symbol=symbol, side=Side.BUY, quantity=Decimal(1), kind=OrderKind.MARKET
        )
        if order.status is not SimStatus.FILLED:
            raise RuntimeError(f"benchmark buy of {symbol}: {order.status} {order.status_message}")


def _seed_ledger(exchange: Exchange, account_id: str, clock: FakeClock, count: int) -> None:
    """``count`` more ledger lines (deposits, interest and fees in turn), three a second."""
    for start in range(0, count, 3):
        clock.advance(seconds=1)
        many_rows(exchange, account_id, transactions=min(3, count - start))


# -- HTTP -----------------------------------------------------------------------------------
@asynccontextmanager
async def _session(
    plugin: BrokerPlugin, sandbox: BrokerSandbox, clock: FakeClock
) -> AsyncIterator[tuple[BrokerAuth, httpx.AsyncClient]]:
    """The adapter's ports on the sandbox, and a plain client on the same sandbox."""
    config = plugin.default_config(sandbox_url=SANDBOX_URL)
    auth = plugin.create(config, clock, transport=SandboxTransport(sandbox))
    client = httpx.AsyncClient(transport=SandboxTransport(sandbox), base_url=SANDBOX_URL)
    async with auth, client:
        yield auth, client


async def _oauth_login(
    auth: BrokerAuth, client: httpx.AsyncClient, redirect_uri: str
) -> ProviderCredentials:
    """The adapter's code login, with the sandbox's consent granted at once."""
    assert auth.oauth is not None
    url = auth.oauth.authorization_url(state=STATE, redirect_uri=redirect_uri)
    code = _redirect_query(await client.get(url))["code"]
    return await auth.oauth.exchange_code(code=code, redirect_uri=redirect_uri)


def _redirect_query(response: httpx.Response) -> dict[str, str]:
    if response.status_code != 302:
        raise RuntimeError(f"login: expected a redirect, got {response.status_code}")
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


async def _get(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
) -> bytes:
    response = await client.get(path, headers=headers, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
    return response.content


def _schwab_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _joined_arrays(answers: list[bytes]) -> bytes:
    """One JSON array of every answer's rows (each answer must be below Schwab's cap)."""
    parts = []
    for answer in answers:
        rows = len(msgspec.json.decode(answer))
        if rows >= MAX_TRANSACTIONS:
            raise RuntimeError(f"an answer of {rows} rows may have been cut at Schwab's cap")
        if rows:
            parts.append(answer.strip()[1:-1])
    return b"[" + b",".join(parts) + b"]"


if __name__ == "__main__":
    raise SystemExit(main())
