"""Shared set-up of the trade and portfolio journeys: the app on PostgreSQL + Redis (the
identity suites' ``served``), signed-up accounts, and trades posted through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import Trade, TradeSource, TradeType
from dashcore.ports.trades import TradeRepository
from dashcore.ports.uow import UnitOfWork
from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, Served, postgres_redis_backend
from tests.integration.identity.support import API, Account

__all__ = ["TRADES", "add_broker_fill", "backend", "post_trade", "trade_body"]

TRADES = f"{API}/trades"


@pytest.fixture
def backend(request: pytest.FixtureRequest, memory_settings: Settings) -> Backend:
    """PostgreSQL (a schema of the test's own) and Redis (a key prefix of its own)."""
    return postgres_redis_backend(request, memory_settings)


def trade_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "INFY",
        "exchange": "NSE",
        "side": "buy",
        "quantity": "10",
        "price": "1450.05",
        "currency": "INR",
        "executed_at": "2026-01-05T09:30:00+05:30",
        "brokerage_charge": "20.34",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


async def post_trade(client: httpx.AsyncClient, user: Account, **changes: Any) -> Any:
    """Record a trade of ``user`` (``changes`` replace fields of :func:`trade_body`)."""
    response = await client.post(TRADES, json=trade_body(**changes), headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_broker_fill(served: Served, user: Account, **changes: Any) -> Trade:
    """Store a broker's fill of ``user``'s as a sync or an order poll would (``changes``
    replace fields of a buy of 3 NSE:INFY at 1500.00 INR on a Kite account)."""
    me = await served.client.get(f"{API}/auth/me", headers=user.headers)
    fields: dict[str, Any] = {
        "id": UUID("01966f3c-0000-7000-8000-0000000000f1"),
        "user_id": UUID(me.json()["id"]),
        "account": "2f1c5a3e-6d2b-5e7a-9c41-0b8d7e6f5a4c",
        "instrument": InstrumentKey("INFY", "NSE"),
        "side": OrderSide.BUY,
        "quantity": Decimal(3),
        "price": Money.of("1500.00", "INR"),
        "charges": Money.of("0.45", "INR"),
        "type": TradeType.EQUITY,
        "executed_at": datetime(2026, 1, 2, 4, 0, tzinfo=UTC),
        "source": TradeSource.BROKER_FILL,
        "broker_trade_id": "KITE-T-1",
    }
    fill = Trade(**{**fields, **changes})
    async with served.core() as scope:
        await (await scope.get(TradeRepository)).add(fill)
        await (await scope.get(UnitOfWork)).commit()
    return fill
