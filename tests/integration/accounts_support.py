"""Helpers of the account and transaction suites: the app on PostgreSQL + Redis, and the calls
the journeys repeat (manual accounts and entries, reading every page of a listing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, postgres_redis_backend
from tests.integration.identity.support import API, Account

__all__ = ["backend", "entry", "every_item", "manual_account", "problem"]


@pytest.fixture
def backend(request: pytest.FixtureRequest, memory_settings: Settings) -> Backend:
    """These suites run on PostgreSQL and Redis (a schema and a key prefix per test)."""
    return postgres_redis_backend(request, memory_settings)


async def manual_account(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Cash box", "currency": "USD", **fields}
    response = await client.post(f"{API}/accounts", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def entry(
    client: httpx.AsyncClient, account: Account, account_id: str, amount: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "account_id": account_id,
        "type": "deposit",
        "occurred_at": "2026-03-10T09:00:00Z",
        "amount": amount,
        **fields,
    }
    response = await client.post(f"{API}/transactions", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def every_item(
    client: httpx.AsyncClient, account: Account, path: str, *, limit: int = 2, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a listing, following ``next_cursor``; each cursor is used once."""
    items: list[dict[str, Any]] = []
    cursors: set[str] = set()
    cursor = None
    while True:
        query = {**params, "limit": limit, **({} if cursor is None else {"cursor": cursor})}
        response = await client.get(f"{API}{path}", params=query, headers=account.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert cursor not in cursors, "a cursor came back"
        cursors.add(cursor)


def problem(response: httpx.Response, status: int) -> tuple[str, list[str]]:
    """The problem's code and the fields it names, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    return body["code"], [error["field"] for error in body.get("errors", ())]
