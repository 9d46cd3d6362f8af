"""Each broker connects end to end through HTTP against its sandbox: create → authorize →
callback (or key credentials) → connected → status → refresh → disconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from dashcore_app.brokers import BrokerSandboxes
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, Account, Mailbox, signed_up


async def _create(client: httpx.AsyncClient, account: Account, provider: str) -> str:
    response = await client.post(
        f"{API}/providers", json={"provider": provider}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    return str(response.json()["id"])


async def _consent(client: httpx.AsyncClient, account: Account, connection_id: str) -> str:
    """Start the authorization, let the sandbox approve, and return the callback URL."""
    response = await client.post(
        f"{API}/providers/{connection_id}/authorization", json={}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    consent = await client.get(response.json()["authorization_url"])
    assert consent.status_code in (302, 303), consent.text
    return consent.headers["location"]


async def test_schwab_connects_refreshes_and_disconnects(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(client, mailbox, "ada@example.com")
    connection_id = await _create(client, account, "schwab")
    callback = await _consent(client, account, connection_id)
    query = parse_qs(urlsplit(callback).query)
    assert "code" in query and "state" in query

    landed = await client.get(callback, headers={**account.headers, "Accept": "application/json"})
    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True

    status = await client.get(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )
    assert status.json()["status"] == "connected"
    refreshed = await client.post(
        f"{API}/providers/{connection_id}/authorization/refresh", headers=account.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["last_refreshed_at"] is not None
    gone = await client.delete(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )
    assert gone.status_code == 204
    status = await client.get(f"{API}/providers/{connection_id}", headers=account.headers)
    assert status.json()["status"] == "disconnected"
