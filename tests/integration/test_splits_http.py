"""``/api/v1/splits`` over HTTP on PostgreSQL + Redis: a recorded split changes the portfolio
of every cost method at once (stored ledgers are rebuilt), deleting it restores the portfolio,
validation names fields, duplicates are a 409, another user's split is a 404, and every change
is audited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import API, Account, Mailbox, audit_actions
from tests.integration.providers.support import problem_code, signed_up
from tests.integration.trades_support import backend, post_trade

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
__all__ = ["backend", "mailbox", "served"]

SPLITS = f"{API}/splits"
PORTFOLIO = f"{API}/portfolio"


@pytest.fixture
async def owner(served: Served, mailbox: Mailbox) -> Account:
    return await signed_up(served, mailbox, "holder@example.com")


def split_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "infy",
        "exchange": "nse",
        "numerator": 2,
        "denominator": 1,
        "effective_at": "2026-01-03T00:00:00Z",
    }
    body.update(changes)
    return body


async def position(served: Served, user: Account, method: str) -> dict[str, Any]:
    response = await served.client.get(PORTFOLIO, params={"method": method}, headers=user.headers)
    assert response.status_code == 200, response.text
    (line,) = response.json()["positions"]
    return {
        name: line[name]
        for name in ("quantity", "cost_basis", "average_cost", "last_price", "market_value")
    }


async def test_a_split_restates_every_methods_portfolio_and_deleting_it_restores_it(
    served: Served, owner: Account
) -> None:
    client = served.client
    await post_trade(
        client, owner, quantity="10", price="100", brokerage_charge="0",
        executed_at="2026-01-02T10:00:00Z",
    )  # fmt: skip
    before = {method: await position(served, owner, method) for method in ("fifo", "average")}
    assert before["fifo"] == {
        "quantity": "10", "cost_basis": "1000", "average_cost": "100", "last_price": "100",
        "market_value": "1000",
    }  # fmt: skip

    created = await client.post(SPLITS, json=split_body(), headers=owner.headers)

    assert created.status_code == 201, created.text
    split = created.json()
    assert {name: split[name] for name in split if name not in ("id", "recorded_at")} == {
        "symbol": "INFY",
        "exchange": "NSE",
        "numerator": 2,
        "denominator": 1,
        "effective_at": "2026-01-03T00:00:00Z",
    }
    for method in ("fifo", "average"):  # both stored ledgers rebuilt, not resumed
        after = await position(served, owner, method)
        assert {name: Decimal(value) for name, value in after.items()} == {
            "quantity": 20, "cost_basis": 1000, "average_cost": 50, "last_price": 50,
            "market_value": 1000,
        }  # fmt: skip
    listed = await client.get(SPLITS, headers=owner.headers)
    assert listed.status_code == 200
    assert listed.json() == {"items": [split]}
    fetched = await client.get(f"{SPLITS}/{split['id']}", headers=owner.headers)
    assert fetched.json() == split

    deleted = await client.delete(f"{SPLITS}/{split['id']}", headers=owner.headers)

    assert deleted.status_code == 204
    assert await position(served, owner, "fifo") == before["fifo"]
    assert (await client.get(SPLITS, headers=owner.headers)).json() == {"items": []}
    actions = await audit_actions(served.core)
    assert [a for a in actions if a.startswith("split_")] == ["split_recorded", "split_deleted"]


async def test_a_trade_after_the_split_is_in_new_units(served: Served, owner: Account) -> None:
    client = served.client
    await post_trade(
        client, owner, quantity="10", price="100", brokerage_charge="0",
        executed_at="2026-01-02T10:00:00Z",
    )  # fmt: skip
    assert (await client.post(SPLITS, json=split_body(), headers=owner.headers)).status_code == 201
    await post_trade(
        client, owner, side="sell", quantity="20", price="60", brokerage_charge="0",
        executed_at="2026-01-04T10:00:00Z",
    )  # fmt: skip

    response = await client.get(PORTFOLIO, params={"method": "fifo"}, headers=owner.headers)

    (line,) = response.json()["positions"]
    assert (Decimal(line["quantity"]), Decimal(line["realized_pnl"])) == (0, 200)


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"numerator": 0}, "numerator"),
    ({"denominator": -1}, "denominator"),
    ({"numerator": 1_000_001}, "numerator"),
    ({"numerator": 3, "denominator": 3}, "numerator"),
    ({"numerator": "two"}, "numerator"),
    ({"numerator": 1.5}, "numerator"),
    ({"symbol": "IN FY"}, "symbol"),
    ({"exchange": ""}, "exchange"),
    ({"effective_at": "2999-01-01T00:00:00Z"}, "effective_at"),
    ({"effective_at": "2026-01-03T00:00:00"}, "effective_at"),
    ({"ratio": "2:1"}, "ratio"),
]


async def test_bad_input_is_refused_naming_the_field(served: Served, owner: Account) -> None:
    """Every case on one server (a server per case would migrate a schema each time)."""
    for changes, field in BAD_INPUT:
        response = await served.client.post(
            SPLITS, json=split_body(**changes), headers=owner.headers
        )

        assert response.status_code == 422, (changes, response.text)
        body = response.json()
        named = {error["field"] for error in body.get("errors", [])} | {body.get("field")}
        assert field in named, (changes, body)
    assert (await served.client.get(SPLITS, headers=owner.headers)).json() == {"items": []}


async def test_one_split_per_instrument_and_instant(served: Served, owner: Account) -> None:
    client = served.client
    assert (await client.post(SPLITS, json=split_body(), headers=owner.headers)).status_code == 201

    again = await client.post(SPLITS, json=split_body(numerator=3), headers=owner.headers)
    later = await client.post(
        SPLITS, json=split_body(effective_at="2026-02-03T00:00:00Z"), headers=owner.headers
    )

    assert again.status_code == 409
    assert problem_code(again) == "split_already_recorded"
    assert later.status_code == 201


async def test_another_users_split_is_not_found(
    served: Served, owner: Account, mailbox: Mailbox
) -> None:
    stranger = await signed_up(served, mailbox, "stranger@example.com")
    created = (await served.client.post(SPLITS, json=split_body(), headers=owner.headers)).json()

    for response in (
        await served.client.get(f"{SPLITS}/{created['id']}", headers=stranger.headers),
        await served.client.delete(f"{SPLITS}/{created['id']}", headers=stranger.headers),
    ):
        assert response.status_code == 404
        assert problem_code(response) == "split_not_found"
    assert (await served.client.get(SPLITS, headers=stranger.headers)).json() == {"items": []}
    assert (await served.client.get(SPLITS)).status_code == 401
