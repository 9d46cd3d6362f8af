"""Transactions through HTTP on PostgreSQL + Redis: a synced sandbox ledger listed newest first
with filters and keyset pages (each row once), the change feed following the broker's own
changes (a new, a modified and a removed ledger line), synced rows read-only, and bad queries
answering 400/422 naming the parameter."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.domain.aggregation import encode_key_cursor
from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox.exchange import US_ACCOUNT_ID, many_rows
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
from tests.integration.identity.support import API, Mailbox
from tests.integration.providers.conftest import sandboxes
from tests.integration.providers.support import signed_up

__all__ = ["backend", "mailbox", "sandboxes", "served"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _order(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["occurred_at"], row["id"]) for row in rows]


async def test_every_page_of_a_synced_ledger_holds_each_row_once_newest_first(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    many_rows(sandboxes.apps["schwab"].exchange, US_ACCOUNT_ID, transactions=23)
    ada = await signed_up(served, mailbox, "ada@example.com")
    _, run = await connect_and_sync(served, ada, "schwab")

    for limit in (1, 7, 500):
        rows = await every_item(served.client, ada, "/transactions", limit=limit)
        assert len(rows) == len({row["id"] for row in rows}) == 25, limit
        assert _order(rows) == sorted(_order(rows), reverse=True)
    assert run["counts"]["transactions_added"] == 25
    assert {row["source"] for row in rows} == {"synced"}


async def test_filters_narrow_the_listing(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    box = await manual_account(client, ada)
    await client.post(
        f"{API}/transactions",
        json={
            "account_id": box["id"],
            "type": "fee",
            "occurred_at": "2020-01-02T00:00:00Z",
            "amount": "-3.00",
        },
        headers=ada.headers,
    )
    everything = await every_item(client, ada, "/transactions")

    async def listed(**params: Any) -> list[str]:
        return [row["type"] for row in await every_item(client, ada, "/transactions", **params)]

    assert sorted(row["type"] for row in everything) == ["deposit", "dividend", "fee"]
    assert await listed(type="dividend") == ["dividend"]
    assert sorted(await listed(type=["dividend", "fee"])) == ["dividend", "fee"]
    assert await listed(symbol="AAPL") == ["dividend"]
    assert await listed(account_id=box["id"]) == ["fee"]
    assert await listed(until="2021-01-01T00:00:00+00:00") == ["fee"]
    assert sorted(await listed(since="2021-01-01T00:00:00Z")) == ["deposit", "dividend"]
    assert await listed(min_amount="-10", max_amount="100") == ["dividend", "fee"]
    assert await listed(min_amount="1000") == ["deposit"]


async def test_the_change_feed_follows_the_brokers_changes(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    connection_id, _ = await connect_and_sync(served, ada, "schwab")
    start = (await client.get(f"{API}/transactions/changes", headers=ada.headers)).json()
    ledger = sandboxes.apps["schwab"].exchange.account(US_ACCOUNT_ID).transactions
    deposit, dividend = sorted(ledger, key=lambda line: line.kind)
    by_amount = {Decimal(row["amount"]["amount"]): row for row in start["added"]}
    corrected = replace(dividend, amount=dividend.amount + Decimal("0.10"))
    ledger[ledger.index(dividend)] = corrected
    ledger.remove(deposit)
    sandboxes.apps["schwab"].exchange.deposit(US_ACCOUNT_ID, Decimal("42.00"))

    run = await run_sync(served, ada, (await request_sync(served, ada, connection_id))["id"])
    changes = (
        await client.get(
            f"{API}/transactions/changes",
            params={"cursor": start["next_cursor"]},
            headers=ada.headers,
        )
    ).json()

    assert (len(start["added"]), start["has_more"]) == (2, False)
    counts = run["counts"]
    assert (
        counts["transactions_added"],
        counts["transactions_modified"],
        counts["transactions_removed"],
    ) == (1, 1, 1)
    assert [Decimal(t["amount"]["amount"]) for t in changes["added"]] == [Decimal("42.00")]
    assert [t["id"] for t in changes["modified"]] == [by_amount[dividend.amount]["id"]]
    assert Decimal(changes["modified"][0]["amount"]["amount"]) == corrected.amount
    assert [t["id"] for t in changes["removed"]] == [by_amount[deposit.amount]["id"]]
    listed = await every_item(client, ada, "/transactions")
    assert by_amount[deposit.amount]["id"] not in {row["id"] for row in listed}


async def test_synced_transactions_and_accounts_are_read_only(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    synced = (await every_item(client, ada, "/transactions"))[0]
    account_id = synced["account_id"]

    edit = await client.patch(
        f"{API}/transactions/{synced['id']}", json={"amount": "1.00"}, headers=ada.headers
    )
    drop = await client.delete(f"{API}/transactions/{synced['id']}", headers=ada.headers)
    add = await client.post(
        f"{API}/transactions",
        json={
            "account_id": account_id,
            "type": "deposit",
            "occurred_at": "2026-03-10T09:00:00Z",
            "amount": "1.00",
        },
        headers=ada.headers,
    )
    rename = await client.patch(
        f"{API}/accounts/{account_id}", json={"name": "Mine"}, headers=ada.headers
    )
    remove = await client.delete(f"{API}/accounts/{account_id}", headers=ada.headers)

    assert problem(edit, 409)[0] == problem(drop, 409)[0] == "synced_transaction_read_only"
    assert problem(add, 409)[0] == "synced_account_read_only"
    assert problem(rename, 409)[0] == problem(remove, 409)[0] == "synced_account_read_only"
    assert (await every_item(client, ada, "/transactions"))[0] == synced


async def test_another_users_ledger_is_invisible(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    eve = await signed_up(served, mailbox, "eve@example.com")
    await connect_and_sync(served, ada, "schwab")
    synced = (await every_item(client, ada, "/transactions"))[0]

    filtered = await client.get(
        f"{API}/transactions", params={"account_id": synced["account_id"]}, headers=eve.headers
    )
    edit = await client.patch(
        f"{API}/transactions/{synced['id']}", json={"amount": "1.00"}, headers=eve.headers
    )

    assert problem(filtered, 404)[0] == "account_not_found"
    assert problem(edit, 404)[0] == "transaction_not_found"
    assert await every_item(client, eve, "/transactions") == []
    feed = (await client.get(f"{API}/transactions/changes", headers=eve.headers)).json()
    assert (feed["added"], feed["has_more"]) == ([], False)


@pytest.mark.parametrize(
    ("path", "query", "status", "code", "field"),
    [
        ("/transactions", {"since": "2026-01-01T00:00:00"}, 422, "invalid_input", "since"),
        ("/transactions", {"until": "last week"}, 422, "invalid_input", "until"),
        ("/transactions", {"type": "gift"}, 422, "invalid_input", "type"),
        ("/transactions", {"min_amount": "abc"}, 422, "invalid_input", "min_amount"),
        (
            "/transactions",
            {"min_amount": "5", "max_amount": "1"},
            422,
            "invalid_input",
            "max_amount",
        ),
        (
            "/transactions",
            {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            422,
            "invalid_input",
            "until",
        ),
        ("/transactions", {"account_id": "nope"}, 422, "invalid_input", "account_id"),
        ("/transactions", {"limit": "501"}, 422, "invalid_input", "limit"),
        ("/transactions", {"cursor": "%%%"}, 400, "invalid_cursor", "cursor"),
        (
            "/transactions",
            {"cursor": encode_key_cursor("accounts", UUID(int=1), "x")},
            400,
            "invalid_cursor",
            "cursor",
        ),
        ("/transactions/changes", {"cursor": "Y2hhbmdlcx94"}, 400, "invalid_cursor", "cursor"),
        ("/transactions/changes", {"limit": "0"}, 422, "invalid_input", "limit"),
    ],
)
async def test_bad_queries_are_refused_naming_the_parameter(
    served: Served,
    mailbox: Mailbox,
    path: str,
    query: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")

    response = await served.client.get(f"{API}{path}", params=query, headers=ada.headers)

    found, fields = problem(response, status)
    assert found == code and field in fields
