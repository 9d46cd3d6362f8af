"""The Schwab sandbox's trading routes on the wire (brokers.md §1.4-1.7): what a client that
is not dashcore sees — status codes, empty bodies with ``Location``, bare JSON with numbers,
Schwab's spellings and its ``{"message", "errors"}`` refusals."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import US_ACCOUNT_ID
from dashcore_brokers.sandbox.schwab import SchwabSandbox

from .flows import bearer, schwab_login

HASH = hashlib.sha256(b"12345678").hexdigest().upper()
BASE = "/trader/v1"
ORDERS = f"{BASE}/accounts/{HASH}/orders"
WINDOW = {
    "fromEnteredTime": "2026-01-01T00:00:00.000Z",
    "toEnteredTime": "2026-01-06T00:00:00.000Z",
}


def _order(kind: str = "MARKET", quantity: Any = 2, **extra: Any) -> dict[str, Any]:
    return {
        "orderType": kind,
        "session": "NORMAL",
        "duration": "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": "BUY",
                "quantity": quantity,
                "instrument": {"symbol": "AAPL", "assetType": "EQUITY"},
            }
        ],
        **extra,
    }


@pytest.fixture
async def auth(schwab_client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await schwab_login(schwab_client))["access_token"])


async def _place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> str:
    response = await client.post(ORDERS, json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith(f"https://schwab.test{ORDERS}/")
    return location.rsplit("/", 1)[1]


async def test_account_numbers_and_accounts_are_bare_json_with_numbers(
    schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    numbers = await schwab_client.get(f"{BASE}/accounts/accountNumbers", headers=auth)
    assert numbers.status_code == 200
    assert numbers.headers["schwab-client-correlid"]
    assert numbers.json() == [{"accountNumber": "12345678", "hashValue": HASH}]
    plain = (await schwab_client.get(f"{BASE}/accounts/{HASH}", headers=auth)).json()
    assert "positions" not in plain["securitiesAccount"]
    full = await schwab_client.get(f"{BASE}/accounts/{HASH}?fields=positions", headers=auth)
    account = full.json()["securitiesAccount"]
    assert account["type"] == "MARGIN"
    assert account["initialBalances"]["cashBalance"] == 100000
    assert b'"cashBalance":100000.00' in full.content
    aapl = account["positions"][0]
    assert (aapl["instrument"]["symbol"], aapl["instrument"]["cusip"]) == ("AAPL", "037833100")
    assert (aapl["longQuantity"], aapl["averageLongPrice"], aapl["marketValue"]) == (10, 150, 1900)


async def test_orders_follow_schwabs_lifecycle_on_the_wire(
    schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    filled_id = await _place(schwab_client, auth, _order(quantity=2))
    filled = (await schwab_client.get(f"{ORDERS}/{filled_id}", headers=auth)).json()
    assert (filled["status"], filled["filledQuantity"], filled["accountNumber"]) == (
        "FILLED",
        2,
        12345678,
    )
    execution = filled["orderActivityCollection"][0]
    assert (execution["activityType"], execution["executionType"]) == ("EXECUTION", "FILL")
    assert execution["executionLegs"][0]["price"] == 190
    assert filled["enteredTime"] == "2026-01-05T04:30:00+0000"

    resting_id = await _place(schwab_client, auth, _order("LIMIT", 3, price="150.00"))
    resting = (await schwab_client.get(f"{ORDERS}/{resting_id}", headers=auth)).json()
    assert (resting["status"], resting["price"], resting["cancelable"]) == ("WORKING", 150, True)

    replaced = await schwab_client.put(
        f"{ORDERS}/{resting_id}", json=_order("LIMIT", 3, price=151.5), headers=auth
    )
    assert replaced.status_code == 201 and replaced.content == b""
    new_id = replaced.headers["location"].rsplit("/", 1)[1]
    assert new_id != resting_id
    old = (await schwab_client.get(f"{ORDERS}/{resting_id}", headers=auth)).json()
    assert old["status"] == "REPLACED"

    cancelled = await schwab_client.delete(f"{ORDERS}/{new_id}", headers=auth)
    assert (cancelled.status_code, cancelled.content) == (200, b"")
    again = await schwab_client.delete(f"{ORDERS}/{new_id}", headers=auth)
    assert again.status_code == 400 and set(again.json()) == {"message", "errors"}
    listed = await schwab_client.get(ORDERS, params=WINDOW, headers=auth)
    assert [(o["orderId"], o["status"]) for o in listed.json()] == [
        (int(new_id), "CANCELED"),
        (int(resting_id), "REPLACED"),
        (int(filled_id), "FILLED"),
    ]
    only = await schwab_client.get(ORDERS, params={**WINDOW, "status": "FILLED"}, headers=auth)
    assert [o["orderId"] for o in only.json()] == [int(filled_id)]


async def test_stop_orders_wait_and_day_orders_expire(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    stop_id = await _place(schwab_client, auth, _order("STOP", 1, stopPrice="200.00"))
    stop = (await schwab_client.get(f"{ORDERS}/{stop_id}", headers=auth)).json()
    assert (stop["status"], stop["stopPrice"]) == ("AWAITING_STOP_CONDITION", 200)
    schwab.exchange.end_of_day()
    expired = (await schwab_client.get(f"{ORDERS}/{stop_id}", headers=auth)).json()
    assert expired["status"] == "EXPIRED"


async def test_a_refused_order_is_created_rejected(
    schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await _place(schwab_client, auth, _order(quantity=100000))
    body = (await schwab_client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert body["status"] == "REJECTED" and body["statusDescription"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_order("TRAILING_STOP"), "application/json"),
        (_order(orderStrategyType="OCO"), "application/json"),
        ({"orderType": "MARKET"}, "application/json"),
        (_order(), "application/x-www-form-urlencoded"),
    ],
    ids=["order-type", "strategy", "no-legs", "form"],
)
async def test_orders_it_cannot_take_are_400(
    schwab_client: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    content_type: str,
) -> None:
    response = await schwab_client.post(
        ORDERS,
        content=httpx.Request("POST", "/", json=body).content,
        headers={**auth, "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message", "errors"}


async def test_listings_require_their_parameters(
    schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await schwab_client.get(ORDERS, headers=auth)).status_code == 400
    transactions = f"{BASE}/accounts/{HASH}/transactions"
    missing = await schwab_client.get(transactions, headers=auth)
    assert missing.status_code == 400
    window = {"startDate": "2026-01-01T00:00:00.000Z", "endDate": "2026-01-06T00:00:00.000Z"}
    rows = await schwab_client.get(
        transactions, params={**window, "types": "ACH_RECEIPT"}, headers=auth
    )
    assert [(row["type"], row["netAmount"]) for row in rows.json()] == [("ACH_RECEIPT", 99997.5)]
    assert b'"netAmount":99997.50' in rows.content
    unknown = await schwab_client.get(f"{BASE}/accounts/NOPE/orders/1", headers=auth)
    assert unknown.status_code == 404


async def test_every_route_refuses_a_missing_or_expired_token(
    schwab_client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    paths = [
        f"{BASE}/accounts/accountNumbers",
        f"{BASE}/accounts/{HASH}",
        f"{ORDERS}/1",
        "/marketdata/v1/quotes?symbols=AAPL",
    ]
    for path in paths:
        response = await schwab_client.get(path)
        assert response.status_code == 401 and set(response.json()) == {"message", "errors"}
    clock.advance(minutes=31)
    assert (await schwab_client.get(paths[0], headers=auth)).status_code == 401
    assert (await schwab_client.post(ORDERS, json=_order(), headers=auth)).status_code == 401


async def test_quotes_are_keyed_by_symbol_with_invalid_ones_reported(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    schwab.exchange.set_price("SPY", Decimal("0.1") + Decimal("0.2"))
    response = await schwab_client.get(
        "/marketdata/v1/quotes", params={"symbols": "SPY,NOPE", "fields": "quote"}, headers=auth
    )
    body = response.json()
    assert set(body) == {"SPY", "errors"}
    assert body["SPY"]["quote"]["lastPrice"] == 0.3 and "reference" not in body["SPY"]
    assert body["SPY"]["assetSubType"] == "ETF"
    assert b'"lastPrice":0.3,' in response.content
    assert body["errors"] == {"invalidSymbols": ["NOPE"]}
    assert (await schwab_client.get("/marketdata/v1/quotes", headers=auth)).status_code == 400
    assert schwab.exchange.orders(US_ACCOUNT_ID) == []
