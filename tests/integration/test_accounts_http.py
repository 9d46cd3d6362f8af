"""Accounts through HTTP on PostgreSQL + Redis: connect a sandbox broker, sync it (202 and a run
to follow), then read its accounts, balances, holdings and positions; syncing again changes
nothing; totals per currency across brokers and manual accounts; owner isolation; bad cursors
and limits answer 400/422 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.domain.aggregation import encode_key_cursor
from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox.schwab.render import account_hash
from tests.integration.accounts_support import (
    backend,
    connect_and_sync,
    every_item,
    manual_account,
    problem,
    request_sync,
    run_sync,
)
from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.conftest import sandboxes
from tests.integration.providers.support import connect_redirect, create, signed_up

__all__ = ["backend", "mailbox", "sandboxes", "served"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def _accounts(served: Served, account: Account) -> list[dict[str, Any]]:
    return await every_item(served.client, account, "/accounts")


async def test_a_synced_broker_shows_its_accounts_balances_holdings_and_positions(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id = await connect_redirect(client, ada, "schwab")

    queued = await request_sync(served, ada, connection_id)
    finished = await run_sync(served, ada, queued["id"])

    assert (queued["status"], queued["connection_id"], queued["trigger"]) == (
        "queued",
        connection_id,
        "manual",
    )
    assert finished["status"] == "succeeded" and finished["error"] is None
    assert finished["counts"]["accounts"] == 1 and finished["counts"]["holdings"] == 2
    (account,) = await _accounts(served, ada)
    assert (account["source"], account["provider"], account["connection_id"]) == (
        "synced",
        "schwab",
        connection_id,
    )
    assert account["masked_number"] == "****5678" and account["currency"] == "USD"
    assert account["provider_account_id"] == account_hash("12345678")  # never the number
    assert account["sync_status"] == "ok" and account["last_synced_at"] is not None
    one = await client.get(f"{API}/accounts/{account['id']}", headers=ada.headers)
    assert one.json() == account
    balance = (
        await client.get(f"{API}/accounts/{account['id']}/balances", headers=ada.headers)
    ).json()
    assert (balance["currency"], Decimal(balance["cash"])) == ("USD", Decimal("100000.00"))
    assert balance["last_synced_at"] == account["last_synced_at"]
    holdings = await every_item(client, ada, f"/accounts/{account['id']}/holdings", limit=1)
    assert [(h["instrument"]["symbol"], Decimal(h["quantity"])) for h in holdings] == [
        ("AAPL", Decimal(10)),
        ("MSFT", Decimal(5)),
    ]
    assert holdings[1]["average_cost"] == {"amount": "300", "currency": "USD"}
    assert holdings[1]["market_value"] == {"amount": "2050.00", "currency": "USD"}
    positions = await every_item(client, ada, f"/accounts/{account['id']}/positions", limit=1)
    assert [(p["instrument"]["symbol"], p["product"]) for p in positions] == [
        ("AAPL", "margin"),
        ("MSFT", "margin"),
    ]


async def test_syncing_twice_changes_nothing(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id, first = await connect_and_sync(served, ada, "zerodha")
    accounts = await _accounts(served, ada)
    transactions = await every_item(client, ada, "/transactions")
    holdings = await every_item(client, ada, f"/accounts/{accounts[0]['id']}/holdings")
    feed = (await client.get(f"{API}/transactions/changes", headers=ada.headers)).json()

    again = await run_sync(served, ada, (await request_sync(served, ada, connection_id))["id"])

    assert again["id"] != first["id"] and again["status"] == "succeeded"
    counts = again["counts"]
    assert (counts["transactions_added"], counts["transactions_modified"]) == (0, 0)
    assert counts["transactions_removed"] == 0
    after = await _accounts(served, ada)
    assert [a["id"] for a in after] == [a["id"] for a in accounts]
    assert [t["id"] for t in await every_item(client, ada, "/transactions")] == [
        t["id"] for t in transactions
    ]
    assert [
        h["instrument"]
        for h in await every_item(client, ada, f"/accounts/{accounts[0]['id']}/holdings")
    ] == [h["instrument"] for h in holdings]
    quiet = await client.get(
        f"{API}/transactions/changes", params={"cursor": feed["next_cursor"]}, headers=ada.headers
    )
    assert quiet.json()["added"] == quiet.json()["modified"] == quiet.json()["removed"] == []


async def test_a_second_request_while_a_sync_is_queued_gets_the_same_run(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id = await connect_redirect(served.client, ada, "upstox")

    first = await request_sync(served, ada, connection_id)
    second = await request_sync(served, ada, connection_id)

    assert second["id"] == first["id"]


async def test_a_connection_that_is_not_connected_cannot_sync(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    pending = await create(served.client, ada, "schwab")

    response = await served.client.post(f"{API}/providers/{pending}/syncs", headers=ada.headers)

    assert problem(response, 409)[0] == "connection_not_usable"
    assert await _accounts(served, ada) == []


async def test_totals_are_per_currency_across_brokers_and_manual_accounts(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    await connect_and_sync(served, ada, "zerodha")
    box = await manual_account(client, ada)
    await client.post(
        f"{API}/transactions",
        json={
            "account_id": box["id"],
            "type": "deposit",
            "occurred_at": "2026-03-10T09:00:00Z",
            "amount": "25.50",
        },
        headers=ada.headers,
    )
    by_id = {a["id"]: a for a in await _accounts(served, ada)}

    totals = (await client.get(f"{API}/balances", headers=ada.headers)).json()["totals"]

    assert [t["currency"] for t in totals] == ["INR", "USD"]
    inr, usd = totals
    assert Decimal(usd["cash"]) == Decimal("100000.00") + Decimal("25.50")
    summed = {a["id"] for a in usd["accounts"]}
    assert box["id"] in summed and len(summed) == 2
    (schwab,) = summed - {box["id"]}
    assert usd["oldest_synced_at"] == by_id[schwab]["last_synced_at"]
    assert [a["sync_status"] for a in inr["accounts"]] == ["ok"]
    assert Decimal(inr["cash"]) > 0


async def test_another_user_cannot_sync_or_read_a_connections_data(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    eve = await signed_up(served, mailbox, "eve@example.com")
    connection_id, run = await connect_and_sync(served, ada, "schwab")
    (account,) = await _accounts(served, ada)

    refused_sync = await client.post(f"{API}/providers/{connection_id}/syncs", headers=eve.headers)
    refused_run = await client.get(f"{API}/syncs/{run['id']}", headers=eve.headers)

    assert problem(refused_sync, 404)[0] == "connection_not_found"
    assert problem(refused_run, 404)[0] == "sync_run_not_found"
    for suffix in ("", "/balances", "/holdings", "/positions"):
        response = await client.get(f"{API}/accounts/{account['id']}{suffix}", headers=eve.headers)
        assert problem(response, 404)[0] == "account_not_found", suffix
    assert await _accounts(served, eve) == []
    assert (await client.get(f"{API}/balances", headers=eve.headers)).json() == {"totals": []}


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ({"cursor": "not a cursor"}, 400, "invalid_cursor", "cursor"),
        (
            {"cursor": encode_key_cursor("holdings", UUID(int=1), "NASDAQ:AAPL")},
            400,
            "invalid_cursor",
            "cursor",
        ),
        ({"limit": "0"}, 422, "invalid_input", "limit"),
        ({"limit": "501"}, 422, "invalid_input", "limit"),
        ({"limit": "ten"}, 422, "invalid_input", "limit"),
    ],
)
async def test_bad_paging_is_refused_naming_the_field(
    served: Served, mailbox: Mailbox, query: dict[str, str], status: int, code: str, field: str
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")

    response = await served.client.get(f"{API}/accounts", params=query, headers=ada.headers)

    found, fields = problem(response, status)
    assert found == code and field in fields


async def test_a_holdings_cursor_does_not_page_positions(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    (account,) = await _accounts(served, ada)
    first = await client.get(
        f"{API}/accounts/{account['id']}/holdings", params={"limit": 1}, headers=ada.headers
    )
    cursor = first.json()["next_cursor"]

    response = await client.get(
        f"{API}/accounts/{account['id']}/positions", params={"cursor": cursor}, headers=ada.headers
    )

    assert cursor is not None
    assert problem(response, 400) == ("invalid_cursor", ["cursor"])


async def test_a_holdings_cursor_of_one_account_does_not_page_another(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    """A cursor names the account it was made for: on another account it would page from the
    wrong place (or past the end) and the client would miss holdings without knowing."""
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    await connect_and_sync(served, ada, "zerodha")
    schwab, zerodha = sorted(await _accounts(served, ada), key=lambda a: a["provider"] != "schwab")
    first = await client.get(
        f"{API}/accounts/{schwab['id']}/holdings", params={"limit": 1}, headers=ada.headers
    )
    cursor = first.json()["next_cursor"]

    response = await client.get(
        f"{API}/accounts/{zerodha['id']}/holdings", params={"cursor": cursor}, headers=ada.headers
    )

    assert cursor is not None
    assert problem(response, 400) == ("invalid_cursor", ["cursor"])
