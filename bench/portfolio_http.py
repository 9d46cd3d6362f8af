"""``GET /api/v1/portfolio`` over 100,000 stored trades on 500 instruments, on PostgreSQL.

Part of ``bench.portfolio`` (issue 8): the same synthetic trades as the ledger measurement, but
stored in PostgreSQL and read back by the endpoint, which reads the user's trade book and
stored ledger, reads the trades it needs (all, some or none), builds or resumes the ledger and
stores it, prices the open positions (the user has no connection, so every price is the last
trade's: no broker is asked) and encodes the answer. Splits are not stored, so the figures are
the ledger's without them.

The app runs in this process (ASGI, lifespan on; PostgreSQL in a schema of its own, created and
dropped here; sessions in the process), signed in as one user whose trades are bulk-inserted
first, with the trade book the repository would have written for them. Per method, three
cases, each a run of requests (one request a round), before each of which (untimed):

- ``cold``: the user's stored ledger of the method is deleted: the request reads every trade,
  builds the ledger and stores it (what every request cost before ledgers were stored, and
  what one costs after a trade is dated back, edited or deleted);
- ``current``: nothing: the stored ledger is at the book's revision;
- ``after_append``: one new trade, executed after every other, is added through the trade
  repository (as a broker fill or ``POST /trades`` would): the request resumes the stored
  ledger with it and stores the result.

Each request is timed on the wall clock (the verdict: what a client waits; it includes
PostgreSQL's own work, in its own process) and on this process's CPU clock. Target: the median
at most 250 ms per method for ``current`` and ``after_append``; ``cold`` is reported beside.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.schema import engine_in_schema
from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import CallerContext
from dashcore.domain.ledger import CostMethod
from dashcore.domain.trades import Trade
from dashcore_app.settings import LogFormat, MailerKind, Settings
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing
from dashcore_sql import create_engine, unit_of_work, upgrade
from dashcore_sql.tables import ledger_snapshots, trade_books
from dashcore_sql.tables import trades as trades_table
from dashcore_sql.trades import SqlTradeRepository

__all__ = ["DEFAULT_DATABASE_URL", "measure_portfolio_endpoint"]

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
EMAIL = "portfolio-bench@example.org"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 (a throwaway account)
INSERT_CHUNK = 5_000
STEADY_CASES = ("current", "after_append")
"""The cases held to the target; ``cold`` is reported beside them."""


def measure_portfolio_endpoint(
    trades: Sequence[Trade], database_url: str, *, warmup: int, rounds: int, target_ms: float
) -> dict[str, Any]:
    """Per cost method: the endpoint's wall and CPU milliseconds, and the verdict."""
    return asyncio.run(_measure(trades, database_url, warmup, rounds, target_ms))


async def _measure(
    trades: Sequence[Trade], url: str, warmup: int, rounds: int, target_ms: float
) -> dict[str, Any]:
    schema = f"bench_portfolio_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(url, schema=schema)
    try:
        await upgrade(engine)
        return await _measure_in(engine, schema, url, trades, warmup, rounds, target_ms)
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()


async def _measure_in(
    engine: AsyncEngine,
    schema: str,
    url: str,
    trades: Sequence[Trade],
    warmup: int,
    rounds: int,
    target_ms: float,
) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        vault_keys=KeyRing.generate().to_env_value(),
        signing_keys=SigningKeyRing.generate().to_env_value(),
        hash_profile="test",
        mailer=MailerKind.MEMORY,
        rate_limits=False,
        log_format=LogFormat.JSON,
        log_level="WARNING",
    )
    app = create_app(settings, engine_in_schema(schema))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        container = app.state[CONTAINER_STATE_KEY]
        async with container() as scope:
            user = await (await scope.get(CreateAdmin))(EMAIL, PASSWORD, CallerContext())
        inserted = time.perf_counter()
        owned = [replace(trade, user_id=user.id) for trade in trades]
        await _store(owned, engine)
        insert_seconds = time.perf_counter() - inserted
        login = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        appender = _Appender(engine, owned[-1])
        methods: dict[str, Any] = {}
        for method in CostMethod:

            async def forget(method: CostMethod = method) -> None:
                await _forget(engine, user.id, method)

            cases: dict[str, Callable[[], Awaitable[None]] | None] = {
                "cold": forget,
                "current": None,
                "after_append": appender.append,
            }
            results = {
                case: await _rounds(client, headers, method, case, before, warmup, rounds)
                for case, before in cases.items()
            }
            steady = all(results[case]["wall_ms"]["median"] <= target_ms for case in STEADY_CASES)
            methods[method.value] = {**results, "passed": steady}
            _print_method(method, results, target_ms)
    return {
        "notes": (
            "in-process ASGI (lifespan on), PostgreSQL in a private schema, no connections: "
            "every open position valued at its last trade price; splits not stored; one request "
            "per round; per method: cold (stored ledger deleted before each request), current "
            "(stored ledger at the book's revision), after_append (one new trade added through "
            "the trade repository before each request); verdict on the wall clock medians of "
            "current and after_append"
        ),
        "database": url.rsplit("@", 1)[-1],
        "stored_trades": len(trades),
        "appended_trades": appender.count,
        "insert_seconds": round(insert_seconds, 1),
        "methods": methods,
        "passed": all(result["passed"] for result in methods.values()),
    }


async def _store(trades: Sequence[Trade], engine: AsyncEngine) -> None:
    """Bulk-insert ``trades`` (in execution order) and the user's trade book as the repository
    would have left it: one revision per trade, every one an append, the last trade's position
    the last."""
    for start in range(0, len(trades), INSERT_CHUNK):
        rows = [_row(trade) for trade in trades[start : start + INSERT_CHUNK]]
        async with unit_of_work(engine) as uow:
            await uow.execute(insert(trades_table), rows)
            await uow.commit()
    last = max(trades, key=lambda trade: (trade.executed_at, trade.id))
    async with unit_of_work(engine) as uow:
        await uow.execute(
            insert(trade_books).values(
                user_id=last.user_id,
                revision=len(trades),
                rewritten_at=0,
                last_executed_at=last.executed_at,
                last_trade_id=last.id,
            )
        )
        await uow.commit()


async def _forget(engine: AsyncEngine, user_id: uuid.UUID, method: CostMethod) -> None:
    """Delete the user's stored ledger of ``method``."""
    async with unit_of_work(engine) as uow:
        stored = ledger_snapshots.c
        await uow.execute(
            delete(ledger_snapshots).where(stored.user_id == user_id, stored.method == method.value)
        )
        await uow.commit()


class _Appender:
    """Adds a trade after every other through the trade repository: a buy of one unit of the
    last trade's instrument, a second after the trade before."""

    def __init__(self, engine: AsyncEngine, last: Trade) -> None:
        self._engine = engine
        self._last = last
        self.count = 0

    async def append(self) -> None:
        self.count += 1
        last = self._last
        trade = replace(
            last,
            id=uuid.UUID(int=(1 << 121) + self.count),
            quantity=Decimal(1),
            executed_at=last.executed_at + timedelta(seconds=self.count),
            mtf_charge=None,
        )
        async with unit_of_work(self._engine) as uow:
            await SqlTradeRepository(uow).add(trade)
            await uow.commit()


def _row(trade: Trade) -> dict[str, Any]:
    currency = trade.price.currency
    return {
        "id": trade.id,
        "user_id": trade.user_id,
        "account": trade.account,
        "symbol": trade.instrument.symbol,
        "exchange": trade.instrument.exchange,
        "side": trade.side.value,
        "quantity": trade.quantity,
        "currency": currency.code,
        "price": trade.price.amount,
        "charges": trade.charges.amount,
        "mtf_charge": None if trade.mtf_charge is None else trade.mtf_charge.amount,
        "capital_used": None if trade.capital_used is None else trade.capital_used.amount,
        "type": trade.type.value,
        "source": trade.source.value,
        "executed_at": trade.executed_at,
        "order_id": trade.order_id,
        "broker_trade_id": trade.broker_trade_id,
    }


async def _rounds(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    method: CostMethod,
    case: str,
    before: Callable[[], Awaitable[None]] | None,
    warmup: int,
    rounds: int,
) -> dict[str, Any]:
    wall_ms: list[float] = []
    cpu_ms: list[float] = []
    size = 0
    for index in range(warmup + rounds):
        if before is not None:
            await before()
        gc.collect()
        wall_0, cpu_0 = time.perf_counter(), time.process_time()
        response = await client.get(
            "/api/v1/portfolio", params={"method": method.value}, headers=headers
        )
        wall_1, cpu_1 = time.perf_counter(), time.process_time()
        response.raise_for_status()
        size = len(response.content)
        if index >= warmup:
            wall_ms.append((wall_1 - wall_0) * 1000)
            cpu_ms.append((cpu_1 - cpu_0) * 1000)
    return {"wall_ms": _summary(wall_ms), "cpu_ms": _summary(cpu_ms), "response_bytes": size}


def _print_method(method: CostMethod, results: dict[str, Any], target_ms: float) -> None:
    for case, result in results.items():
        median = result["wall_ms"]["median"]
        verdict = "(not held to it)"
        if case in STEADY_CASES:
            verdict = "ok" if median <= target_ms else "MISSED"
        print(
            f"portfolio-http/{method.value:8} {case:12} {median:7.1f} ms wall median "
            f"(CPU median {result['cpu_ms']['median']:7.1f})  target {target_ms:.0f} ms"
            f"  {verdict}"
        )


def _summary(samples: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(samples), 1),
        "median": round(statistics.median(samples), 1),
        "max": round(max(samples), 1),
        "rounds": [round(sample, 1) for sample in samples],
    }
