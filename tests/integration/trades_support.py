"""Shared set-up of the trade and portfolio journeys: the app on PostgreSQL + Redis (the
identity suites' ``served``), signed-up accounts, and trades posted through HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, postgres_redis_backend
from tests.integration.identity.support import API, Account

__all__ = ["TRADES", "backend", "post_trade", "trade_body"]

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
