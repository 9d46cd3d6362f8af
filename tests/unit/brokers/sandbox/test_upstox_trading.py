"""The Upstox sandbox's trading routes on the wire: numbers as JSON numbers, order ids, the
status spellings and history, and Upstox's error bodies (brokers.md §3.4-3.7)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from dashcore_brokers.sandbox.upstox import UpstoxSandbox

from .flows import bearer, upstox_login

PLACE = "/v3/order/place"
BODY = {
    "quantity": 1,
    "product": "D",
    "validity": "DAY",
    "price": 2400.05,
    "tag": "t-1",
    "instrument_token": "NSE_EQ|INE002A01018",
    "order_type": "LIMIT",
    "transaction_type": "BUY",
    "disclosed_quantity": 0,
    "trigger_price": 0,
    "is_amo": False,
    "slice": False,
}


@pytest.fixture
async def auth(upstox_client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await upstox_login(upstox_client))["access_token"])


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["errors"][0]["errorCode"] == code


async def test_holdings_send_money_as_json_numbers(
    upstox_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await upstox_client.get("/v2/portfolio/long-term-holdings", headers=auth)
    assert response.status_code == 200
    rows = json.loads(response.content, parse_float=Decimal)["data"]
    reliance = next(row for row in rows if row["trading_symbol"] == "RELIANCE")
    assert reliance["average_price"] == Decimal(2400)
    assert reliance["quantity"] == 10
    assert reliance["instrument_token"] == "NSE_EQ|INE002A01018"
    assert b'"last_price":2500.00' in response.content


async def test_a_placed_order_reads_back_with_its_history(
    upstox_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    placed = await upstox_client.post(PLACE, json=BODY, headers=auth)
    assert placed.status_code == 200
    body = placed.json()
    assert body["metadata"] == {"latency": 40}
    [order_id] = body["data"]["order_ids"]
    assert order_id == "260105000000001"  # yymmdd (India) + the exchange's order number
    details = await upstox_client.get(
        "/v2/order/details", params={"order_id": order_id}, headers=auth
    )
    order = details.json()["data"]
    assert (order["status"], order["tag"], order["trading_symbol"]) == (
        "open",
        "t-1",
        "RELIANCE-EQ",
    )
    assert order["order_timestamp"] == "2026-01-05 10:00:00"
    cancelled = await upstox_client.delete(
        "/v3/order/cancel", params={"order_id": order_id}, headers=auth
    )
    assert cancelled.json()["data"] == {"order_id": order_id}
    history = await upstox_client.get(
        "/v2/order/history", params={"order_id": order_id}, headers=auth
    )
    assert [row["status"] for row in history.json()["data"]] == [
        "put order req received",
        "validation pending",
        "open pending",
        "cancel pending",
        "cancelled",
    ]
    again = await upstox_client.delete(
        "/v3/order/cancel", params={"order_id": order_id}, headers=auth
    )
    _error(again, 400, "UDAPI100040")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"order_type": None}, "UDAPI1004"),
        ({"validity": None}, "UDAPI1007"),
        ({"order_type": "STOP"}, "UDAPI1056"),
        ({"validity": "GTC"}, "UDAPI1055"),
        ({"instrument_token": "NSE_EQ|INE000000000"}, "UDAPI1087"),
        ({"quantity": "ten"}, "UDAPI100038"),
    ],
)
async def test_malformed_orders_are_refused_in_upstox_error_bodies(
    upstox_client: httpx.AsyncClient, auth: dict[str, str], change: dict[str, object], code: str
) -> None:
    body = {name: value for name, value in (BODY | change).items() if value is not None}
    _error(await upstox_client.post(PLACE, json=body, headers=auth), 400, code)


async def test_an_unknown_order_is_udapi100010(
    upstox_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await upstox_client.get(
        "/v2/order/details", params={"order_id": "260105000000999"}, headers=auth
    )
    _error(response, 400, "UDAPI100010")


async def test_ltp_is_keyed_by_segment_and_symbol(
    upstox_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    keys = "NSE_EQ|INE002A01018,BSE_EQ|INE002A01018,NSE_EQ|INE000000000"
    response = await upstox_client.get(
        "/v3/market-quote/ltp", params={"instrument_key": keys}, headers=auth
    )
    data = response.json()["data"]
    assert set(data) == {"NSE_EQ:RELIANCE", "BSE_EQ:RELIANCE"}
    assert data["BSE_EQ:RELIANCE"]["instrument_token"] == "BSE_EQ|INE002A01018"
    too_many = ",".join(["NSE_EQ|INE002A01018"] * 501)
    _error(
        await upstox_client.get(
            "/v3/market-quote/ltp", params={"instrument_key": too_many}, headers=auth
        ),
        400,
        "UDAPI100043",
    )
    _error(
        await upstox_client.get(
            "/v2/market-quote/ltp", params={"instrument_key": "RELIANCE"}, headers=auth
        ),
        400,
        "UDAPI1087",
    )


async def test_trading_routes_refuse_an_expired_token(
    upstox: UpstoxSandbox, upstox_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    upstox.tokens.expire()
    for path in ("/v2/portfolio/long-term-holdings", "/v2/order/retrieve-all"):
        _error(await upstox_client.get(path, headers=auth), 401, "UDAPI100050")
    _error(await upstox_client.post(PLACE, json=BODY, headers=auth), 401, "UDAPI100050")
