"""``/api/v1/trades`` over HTTP on PostgreSQL + Redis: manual trade records end to end, exact
amounts as strings, validation naming fields, owner isolation (another user's trade is a 404),
read-only broker fills, keyset pages and filters, and the audit trail."""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import Account, Mailbox, audit_actions
from tests.integration.providers.support import problem_code, signed_up
from tests.integration.trades_support import (
    TRADES,
    add_broker_fill,
    backend,
    post_trade,
    trade_body,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
__all__ = ["backend", "mailbox", "served"]


@pytest.fixture
async def owner(served: Served, mailbox: Mailbox) -> Account:
    return await signed_up(served, mailbox, "trader@example.com")


@pytest.fixture
async def stranger(served: Served, mailbox: Mailbox) -> Account:
    return await signed_up(served, mailbox, "stranger@example.com")


async def test_a_trade_is_recorded_read_changed_and_deleted(served: Served, owner: Account) -> None:
    client = served.client
    created = await post_trade(
        client, owner, mtf_charge="3.50", capital_used="7250.25", type="options", symbol="infy"
    )
    trade_id = created["id"]
    assert created == {
        "id": trade_id,
        "account": "manual",
        "symbol": "INFY",
        "exchange": "NSE",
        "side": "buy",
        "type": "options",
        "quantity": "10",
        "price": "1450.05",
        "currency": "INR",
        "brokerage_charge": "20.34",
        "mtf_charge": "3.50",
        "capital_used": "7250.25",
        "executed_at": "2026-01-05T04:00:00Z",
        "order_id": None,
        "source": "manual",
        "broker_trade_id": None,
        "read_only": False,
    }
    fetched = await client.get(f"{TRADES}/{trade_id}", headers=owner.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    unknown_order = "01966f3c-0000-7000-8000-0000000000aa"
    refused = await client.put(
        f"{TRADES}/{trade_id}",
        json=trade_body(side="sell", quantity="0.5", order_id=unknown_order),
        headers=owner.headers,
    )
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["order_id"]
    replaced = await client.put(
        f"{TRADES}/{trade_id}",
        json=trade_body(side="sell", quantity="0.5"),
        headers=owner.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["side"], replaced.json()["quantity"]) == ("sell", "0.5")
    assert (replaced.json()["mtf_charge"], replaced.json()["order_id"]) == (None, None)

    patched = await client.patch(
        f"{TRADES}/{trade_id}", json={"price": "0.1", "order_id": None}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["price"], body["side"], body["order_id"]) == ("0.1", "sell", None)

    deleted = await client.delete(f"{TRADES}/{trade_id}", headers=owner.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{TRADES}/{trade_id}", headers=owner.headers)
    assert gone.status_code == 404
    assert problem_code(gone) == "trade_not_found"
    actions = await audit_actions(served.core)
    assert [a for a in actions if a.startswith("trade_")] == [
        "trade_recorded",
        "trade_updated",
        "trade_updated",
        "trade_deleted",
    ]


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"quantity": 10}, 400, "amount_not_string", "quantity"),
        ({"price": 0.1}, 400, "amount_not_string", "price"),
        ({"quantity": "0"}, 422, "invalid_input", "quantity"),
        ({"quantity": "ten"}, 422, "invalid_input", "quantity"),
        ({"price": "-1"}, 422, "invalid_input", "price"),
        ({"quantity": "1e999999999"}, 422, "invalid_input", "quantity"),
        ({"brokerage_charge": "-0.01"}, 422, "invalid_input", "brokerage_charge"),
        ({"currency": "inr"}, 422, "invalid_input", "currency"),
        ({"currency": "XX1"}, 422, "invalid_input", "currency"),
        ({"currency": "QQQ"}, 422, "invalid_input", "currency"),
        ({"executed_at": "2999-01-01T00:00:00Z"}, 422, "invalid_input", "executed_at"),
        ({"executed_at": "2026-01-05T09:30:00"}, 422, "invalid_input", "executed_at"),
        ({"side": "short"}, 422, "invalid_input", "side"),
        ({"type": "crypto"}, 422, "invalid_input", "type"),
        ({"symbol": "IN FY"}, 422, "invalid_input", "symbol"),
        ({"symbol": "A:B"}, 422, "invalid_input", "symbol"),
        ({"exchange": "N:SE"}, 422, "invalid_input", "exchange"),
        ({"account": "x" * 65}, 422, "invalid_input", "account"),
        ({"leverage": "2"}, 422, "invalid_input", "leverage"),
        ({"symbol": None}, 422, "invalid_input", "symbol"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    served: Served,
    owner: Account,
    changes: dict[str, object],
    status: int,
    code: str,
    field: str,
) -> None:
    response = await served.client.post(TRADES, json=trade_body(**changes), headers=owner.headers)
    assert response.status_code == status, response.text
    assert problem_code(response) == code
    assert field in [error["field"] for error in response.json()["errors"]], response.text
    listed = await served.client.get(TRADES, headers=owner.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("changes", "status", "fields"),
    [
        ({"quantity": 10, "price": 10.5}, 400, ["quantity", "price"]),
        ({"quantity": "1" * 19, "price": "1.0000000000000000001"}, 422, ["quantity", "price"]),
    ],
)
async def test_every_bad_number_of_a_trade_is_named_at_once(
    served: Served, owner: Account, changes: dict[str, object], status: int, fields: list[str]
) -> None:
    for send in (
        lambda: served.client.post(TRADES, json=trade_body(**changes), headers=owner.headers),
        lambda: served.client.patch(f"{TRADES}/{UUID(int=1)}", json=changes, headers=owner.headers),
    ):
        response = await send()
        assert response.status_code == status, response.text
        assert [error["field"] for error in response.json()["errors"]] == fields


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": True}, 'Expected a decimal string ("12.50"), got `bool`'),
        ({"mtf_charge": [1]}, 'Expected a decimal string ("12.50") or null, got `array`'),
    ],
)
async def test_a_decimal_field_of_another_type_asks_for_a_decimal_string(
    served: Served, owner: Account, changes: dict[str, object], message: str
) -> None:
    """Never "Expected `float | str`": a float is the one thing the API refuses for an amount."""
    response = await served.client.post(TRADES, json=trade_body(**changes), headers=owner.headers)
    assert response.status_code == 422, response.text
    assert [error["message"] for error in response.json()["errors"]] == [message]


async def test_a_trade_in_another_currency_than_its_instruments_trades_is_refused(
    served: Served, owner: Account
) -> None:
    recorded = await post_trade(served.client, owner)
    refused = await served.client.post(
        TRADES, json=trade_body(currency="USD", price="17.40"), headers=owner.headers
    )
    assert refused.status_code == 422, refused.text
    assert problem_code(refused) == "currency_mismatch"
    assert [error["field"] for error in refused.json()["errors"]] == ["currency"]
    listed = await served.client.get(TRADES, headers=owner.headers)
    assert [item["id"] for item in listed.json()["items"]] == [recorded["id"]]
    # The portfolio stays valued; alone, the trade may still change its currency.
    assert (await served.client.get("/api/v1/portfolio", headers=owner.headers)).status_code == 200
    changed = await served.client.patch(
        f"{TRADES}/{recorded['id']}", json={"currency": "USD"}, headers=owner.headers
    )
    assert changed.status_code == 200, changed.text


async def test_a_body_that_is_not_json_is_a_bad_request(served: Served, owner: Account) -> None:
    response = await served.client.post(
        TRADES,
        content=b"{not json",
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert problem_code(response) == "malformed_body"


async def test_another_users_trade_is_404_on_every_route(
    served: Served, owner: Account, stranger: Account
) -> None:
    client = served.client
    created = await post_trade(client, owner)
    url = f"{TRADES}/{created['id']}"
    for method, body in (
        ("GET", None),
        ("PUT", trade_body()),
        ("PATCH", {"quantity": "1"}),
        ("DELETE", None),
    ):
        response = await client.request(method, url, json=body, headers=stranger.headers)
        assert response.status_code == 404, (method, response.text)
        assert problem_code(response) == "trade_not_found"
    assert (await client.get(TRADES, headers=stranger.headers)).json()["items"] == []
    assert (await client.get(url, headers=owner.headers)).json() == created


async def test_trades_need_a_signed_in_user(served: Served) -> None:
    response = await served.client.get(TRADES)
    assert response.status_code == 401
    assert problem_code(response) == "invalid_token"


async def test_a_broker_fill_reads_as_read_only_and_cannot_be_changed(
    served: Served, owner: Account
) -> None:
    fill = await add_broker_fill(served, owner)
    url = f"{TRADES}/{fill.id}"

    shown = await served.client.get(url, headers=owner.headers)
    assert shown.json()["read_only"] is True
    assert shown.json()["source"] == "broker_fill"
    assert shown.json()["broker_trade_id"] == "KITE-T-1"
    for method, body in (("PUT", trade_body()), ("PATCH", {"quantity": "1"}), ("DELETE", None)):
        response = await served.client.request(method, url, json=body, headers=owner.headers)
        assert response.status_code == 409, (method, response.text)
        assert problem_code(response) == "broker_trade_read_only"
    assert (await served.client.get(url, headers=owner.headers)).json() == shown.json()


async def test_pages_and_filters(served: Served, owner: Account) -> None:
    client = served.client
    made = [
        await post_trade(client, owner, executed_at=f"2026-01-0{day}T10:00:00Z", side=side)
        for day, side in ((1, "buy"), (2, "sell"), (3, "buy"), (4, "buy"))
    ]
    apple = await post_trade(
        client,
        owner,
        symbol="AAPL",
        exchange="US",
        currency="USD",
        executed_at="2026-01-05T10:00:00Z",
    )
    newest_first = [apple, *made[::-1]]

    walked, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(TRADES, params=params, headers=owner.headers)).json()
        walked.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == newest_first

    async def ids(**params: str) -> list[str]:
        response = await client.get(TRADES, params=params, headers=owner.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(symbol="aapl", exchange="us") == [apple["id"]]
    assert await ids(side="sell") == [made[1]["id"]]
    assert await ids(**{"from": "2026-01-02T10:00:00Z", "before": "2026-01-04T10:00:00Z"}) == [
        made[2]["id"],
        made[1]["id"],
    ]
    assert await ids(account="manual", limit="1") == [apple["id"]]
    for params, field in (
        ({"symbol": "AAPL"}, "symbol"),
        ({"side": "short"}, "side"),
        ({"from": "yesterday"}, "from"),
        ({"cursor": "bogus"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"account": ""}, "account"),
        ({"symbol": "AAPL", "exchange": " "}, "exchange"),
        ({"symbol": "", "exchange": "US"}, "symbol"),
    ):
        response = await client.get(TRADES, params=params, headers=owner.headers)
        assert response.status_code in (400, 422), (params, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.text
