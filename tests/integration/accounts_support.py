"""Helpers of the account and transaction suites: the app on PostgreSQL + Redis, and the calls
the journeys repeat (syncing a sandbox connection, manual accounts and entries, reading every
page of a listing).

A sync is requested over HTTP (202 with a queued run) and then run through the app's container
with ``RunSync``, as the ``sync_connection`` job does in a worker: the test decides when it
runs, with no worker process and no waiting."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from dashcore.application.sync import RunSync
from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, Served, postgres_redis_backend
from tests.integration.identity.support import API, Account
from tests.integration.providers.support import connect_redirect

__all__ = [
    "backend",
    "connect_and_sync",
    "entry",
    "every_item",
    "manual_account",
    "problem",
    "request_sync",
    "run_sync",
]


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


async def request_sync(served: Served, account: Account, connection_id: str) -> dict[str, Any]:
    """``POST /providers/{id}/syncs``: 202 with the run."""
    response = await served.client.post(
        f"{API}/providers/{connection_id}/syncs", headers=account.headers
    )
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


async def run_sync(served: Served, account: Account, run_id: str) -> dict[str, Any]:
    """Run a queued sync as its job would, then read it back over HTTP."""
    async with served.core() as scope:
        await (await scope.get(RunSync))(UUID(run_id))
    response = await served.client.get(f"{API}/syncs/{run_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


async def connect_and_sync(
    served: Served, account: Account, provider: str = "schwab"
) -> tuple[str, dict[str, Any]]:
    """A connected, synced connection of a redirecting provider: its id and the finished run."""
    connection_id = await connect_redirect(served.client, account, provider)
    run = await request_sync(served, account, connection_id)
    finished = await run_sync(served, account, run["id"])
    assert finished["status"] == "succeeded", finished
    return connection_id, finished
