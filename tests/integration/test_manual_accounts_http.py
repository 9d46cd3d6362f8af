"""Manual accounts and their entries through HTTP on PostgreSQL + Redis: created, edited and
deleted by their owner only, validated field by field (a JSON number for an amount is a 400
naming it), audited, and the balance always the sum of the entries that stand — also when
entries arrive concurrently."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.integration.accounts_support import (
    backend,
    entry,
    every_item,
    manual_account,
    problem,
)
from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import API, Mailbox, audit_actions
from tests.integration.providers.support import signed_up

__all__ = ["backend", "mailbox", "served"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_manual_account_keeps_its_entries_and_their_sum(
    served: Served, mailbox: Mailbox
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")

    box = await manual_account(client, ada, name="Piggy bank", type="cash", last4="0042")
    salary = await entry(client, ada, box["id"], "1250.40", description="Salary")
    rent = await entry(client, ada, box["id"], "-700.00", type="withdrawal")
    fee = await entry(client, ada, box["id"], "-4.99", type="fee")
    edited = await client.patch(
        f"{API}/transactions/{rent['id']}", json={"amount": "-725.00"}, headers=ada.headers
    )
    dropped = await client.delete(f"{API}/transactions/{fee['id']}", headers=ada.headers)

    assert box["source"] == "manual" and box["masked_number"] == "****0042"
    assert (box["provider"], box["provider_account_id"]) == (None, None)
    assert (box["sync_status"], box["last_synced_at"]) == ("never", None)
    assert salary["amount"] == {"amount": "1250.40", "currency": "USD"}
    assert edited.status_code == 200 and edited.json()["amount"]["amount"] == "-725.00"
    assert dropped.status_code == 204
    balance = await client.get(f"{API}/accounts/{box['id']}/balances", headers=ada.headers)
    assert balance.status_code == 200, balance.text
    assert balance.json()["cash"] == "525.40"
    listed = await every_item(client, ada, "/transactions", account_id=box["id"])
    assert [t["id"] for t in listed] == [rent["id"], salary["id"]]  # same time: newer id first
    totals = (await client.get(f"{API}/balances", headers=ada.headers)).json()["totals"]
    assert [(t["currency"], t["cash"]) for t in totals] == [("USD", "525.40")]
    assert [a["id"] for a in totals[0]["accounts"]] == [box["id"]]
    actions = await audit_actions(served.core)
    assert [a for a in actions if a.startswith("manual_")] == [
        "manual_account_created",
        *["manual_transaction_created"] * 3,
        "manual_transaction_updated",
        "manual_transaction_deleted",
    ]


async def test_the_balance_stays_the_exact_sum_of_the_widest_entries(
    served: Served, mailbox: Mailbox
) -> None:
    """18 digits on each side of the point: the sum needs 36, more than Python's default 28."""
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    box = await manual_account(client, ada, currency="CHF")
    big = await entry(client, ada, box["id"], "100000000000000000")
    await entry(client, ada, box["id"], "0.000000000000000001")
    path = f"{API}/accounts/{box['id']}/balances"

    assert (await client.get(path, headers=ada.headers)).json()["cash"] == (
        "100000000000000000.000000000000000001"
    )
    edited = await client.patch(
        f"{API}/transactions/{big['id']}", json={"amount": "-1"}, headers=ada.headers
    )
    assert edited.status_code == 200, edited.text
    assert (await client.get(path, headers=ada.headers)).json()["cash"] == ("-0.999999999999999999")
    await client.delete(f"{API}/transactions/{big['id']}", headers=ada.headers)
    assert (await client.get(path, headers=ada.headers)).json()["cash"] == "0.000000000000000001"


async def test_editing_a_manual_account(served: Served, mailbox: Mailbox) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    empty = await manual_account(client, ada, name="Empty")
    used = await manual_account(client, ada, name="Used")
    await entry(client, ada, used["id"], "5")

    renamed = await client.patch(
        f"{API}/accounts/{empty['id']}",
        json={"name": "Travel fund", "currency": "EUR", "type": "other"},
        headers=ada.headers,
    )
    refused = await client.patch(
        f"{API}/accounts/{used['id']}", json={"currency": "EUR"}, headers=ada.headers
    )

    assert renamed.status_code == 200, renamed.text
    view = renamed.json()
    assert (view["name"], view["currency"], view["type"]) == ("Travel fund", "EUR", "other")
    assert problem(refused, 409)[0] == "account_currency_in_use"
    kept = await client.get(f"{API}/accounts/{used['id']}", headers=ada.headers)
    assert kept.json()["currency"] == "USD"


async def test_deleting_a_manual_account_removes_its_entries(
    served: Served, mailbox: Mailbox
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    box = await manual_account(client, ada)
    first = await entry(client, ada, box["id"], "10")
    second = await entry(client, ada, box["id"], "20")
    feed = (await client.get(f"{API}/transactions/changes", headers=ada.headers)).json()

    deleted = await client.delete(f"{API}/accounts/{box['id']}", headers=ada.headers)

    assert deleted.status_code == 204
    assert problem(await client.get(f"{API}/accounts/{box['id']}", headers=ada.headers), 404)[
        0
    ] == ("account_not_found")
    assert await every_item(client, ada, "/accounts") == []
    assert await every_item(client, ada, "/transactions") == []
    after = await client.get(
        f"{API}/transactions/changes",
        params={"cursor": feed["next_cursor"]},
        headers=ada.headers,
    )
    assert {t["id"] for t in after.json()["removed"]} == {first["id"], second["id"]}
    assert (await client.get(f"{API}/balances", headers=ada.headers)).json() == {"totals": []}
    again = await client.patch(
        f"{API}/transactions/{first['id']}", json={"amount": "1"}, headers=ada.headers
    )
    assert problem(again, 404)[0] == "transaction_not_found"


async def test_another_user_gets_404_and_changes_nothing(served: Served, mailbox: Mailbox) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    eve = await signed_up(served, mailbox, "eve@example.com")
    box = await manual_account(client, ada)
    kept = await entry(client, ada, box["id"], "42")
    account_path, entry_path = f"{API}/accounts/{box['id']}", f"{API}/transactions/{kept['id']}"

    for method, path, body, code in [
        ("GET", account_path, None, "account_not_found"),
        ("GET", f"{account_path}/balances", None, "account_not_found"),
        ("GET", f"{account_path}/holdings", None, "account_not_found"),
        ("GET", f"{account_path}/positions", None, "account_not_found"),
        ("PATCH", account_path, {"name": "Mine now"}, "account_not_found"),
        ("DELETE", account_path, None, "account_not_found"),
        ("GET", f"{API}/transactions?account_id={box['id']}", None, "account_not_found"),
        ("PATCH", entry_path, {"amount": "0.01"}, "transaction_not_found"),
        ("DELETE", entry_path, None, "transaction_not_found"),
    ]:
        response = await client.request(method, path, json=body, headers=eve.headers)
        assert problem(response, 404)[0] == code, (method, path)
    stolen = await client.post(
        f"{API}/transactions",
        json={
            "account_id": box["id"],
            "type": "withdrawal",
            "occurred_at": "2026-03-10T09:00:00Z",
            "amount": "-42",
        },
        headers=eve.headers,
    )

    assert problem(stolen, 404)[0] == "account_not_found"
    assert await every_item(client, eve, "/accounts") == []
    assert await every_item(client, eve, "/transactions") == []
    assert (await client.get(f"{API}/transactions/changes", headers=eve.headers)).json()[
        "added"
    ] == []
    mine = await client.get(f"{account_path}/balances", headers=ada.headers)
    assert mine.json()["cash"] == "42"
    assert (await client.get(account_path, headers=ada.headers)).json()["name"] == "Cash box"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"amount": 12.5}, 400, "amount_not_string", "amount"),
        ({"amount": 12}, 400, "amount_not_string", "amount"),
        (
            {"amount": "12.5", "quantity": 1.5, "symbol": "AAPL", "exchange": "XNAS"},
            400,
            "amount_not_string",
            "quantity",
        ),
        ({"amount": "twelve"}, 422, "invalid_input", "amount"),
        ({"amount": "NaN"}, 422, "invalid_input", "amount"),
        ({"amount": "1e999999999"}, 422, "invalid_input", "amount"),
        ({"occurred_at": "2026-03-10T09:00:00"}, 422, "invalid_input", "occurred_at"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, 422, "implausible_date", "occurred_at"),
        ({"occurred_at": "yesterday"}, 422, "invalid_input", "occurred_at"),
        ({"occurred_at": 1773133200}, 422, "invalid_input", "occurred_at"),
        ({"occurred_at": "1773133200"}, 422, "invalid_input", "occurred_at"),
        ({"currency": "usd"}, 422, "invalid_input", "currency"),
        ({"currency": "EUR"}, 422, "currency_mismatch", "amount.currency"),
        ({"type": "gift"}, 422, "invalid_input", "type"),
        ({"symbol": "AAPL"}, 422, "invalid_input", "exchange"),
        ({"colour": "red"}, 422, "invalid_input", "colour"),
        ({"account_id": "not-a-uuid"}, 422, "invalid_input", "account_id"),
    ],
)
async def test_bad_entries_are_refused_naming_the_field(
    served: Served,
    mailbox: Mailbox,
    body: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    box = await manual_account(client, ada)
    sent = {
        "account_id": box["id"],
        "type": "deposit",
        "occurred_at": "2026-03-10T09:00:00Z",
        "amount": "1.00",
        **body,
    }

    response = await client.post(f"{API}/transactions", json=sent, headers=ada.headers)

    found_code, fields = problem(response, status)
    assert found_code == code
    assert field in fields
    assert await every_item(client, ada, "/transactions") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Box", "currency": "DOLLARS"}, "currency"),
        ({"name": "Box", "currency": "QQQ"}, "currency"),
        ({"name": "Box", "currency": "USD", "type": "crypto"}, "type"),
        ({"name": "Box", "currency": "USD", "last4": "123456"}, "last4"),
        ({"name": "Box", "currency": "USD", "number": "12345678"}, "number"),
        ({"currency": "USD"}, "name"),
    ],
)
async def test_bad_manual_accounts_are_refused_naming_the_field(
    served: Served, mailbox: Mailbox, body: dict[str, object], field: str
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")

    response = await served.client.post(f"{API}/accounts", json=body, headers=ada.headers)

    found_code, fields = problem(response, 422)
    assert found_code == "invalid_input"
    assert field in fields


async def test_a_float_in_a_patch_is_refused_and_changes_nothing(
    served: Served, mailbox: Mailbox
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    box = await manual_account(client, ada)
    kept = await entry(client, ada, box["id"], "10.10")

    response = await client.patch(
        f"{API}/transactions/{kept['id']}", json={"amount": 10.2}, headers=ada.headers
    )

    assert problem(response, 400) == ("amount_not_string", ["amount"])
    balance = await client.get(f"{API}/accounts/{box['id']}/balances", headers=ada.headers)
    assert balance.json()["cash"] == "10.10"


async def test_concurrent_entries_all_count_in_the_balance(
    served: Served, mailbox: Mailbox
) -> None:
    client = served.client
    ada = await signed_up(served, mailbox, "ada@example.com")
    box = await manual_account(client, ada)
    amounts = [f"{n}.{n:02d}" for n in range(1, 13)]

    await asyncio.gather(*(entry(client, ada, box["id"], amount) for amount in amounts))

    balance = await client.get(f"{API}/accounts/{box['id']}/balances", headers=ada.headers)
    assert Decimal(balance.json()["cash"]) == sum(Decimal(a) for a in amounts)
    assert len(await every_item(client, ada, "/transactions", limit=5)) == len(amounts)
