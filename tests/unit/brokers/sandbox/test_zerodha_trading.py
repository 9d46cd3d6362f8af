"""The Kite sandbox's trading routes on the wire (brokers.md §2.4-2.7): envelopes with exact
JSON numbers, form-encoded orders, order histories through Kite's transient statuses, refusals
in Kite's error body, the day's order book and trades."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.zerodha import KiteSandbox

from .flows import KITE_HEADERS, kite_auth, kite_login

MARKET_BUY = {
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "quantity": "2",
    "product": "CNC",
    "order_type": "MARKET",
    "validity": "DAY",
    "tag": "unit0001",
}
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
LIMIT_BUY = {**MARKET_BUY, "order_type": "LIMIT", "price": "1400.05", "tag": "unit0002"}


async def _headers(client: httpx.AsyncClient) -> dict[str, str]:
    return kite_auth((await kite_login(client))["access_token"])


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = _DECODER.decode(response.content)
    assert body["status"] == "success"
    return body["data"]


def _refusal(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["data"], body["error_type"]) == ("error", None, error_type)


async def _place(client: httpx.AsyncClient, headers: dict[str, str], fields: dict[str, str]) -> str:
    order_id: str = _data(await client.post("/orders/regular", data=fields, headers=headers))[
        "order_id"
    ]
    return order_id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/user/margins"),
        ("GET", "/user/margins/equity"),
        ("GET", "/portfolio/holdings"),
        ("GET", "/portfolio/positions"),
        ("GET", "/orders"),
        ("GET", "/trades"),
        ("GET", "/quote/ltp?i=NSE:INFY"),
        ("POST", "/orders/regular"),
        ("DELETE", "/orders/regular/260000000000001"),
    ],
)
async def test_trading_routes_need_a_live_session(
    kite_client: httpx.AsyncClient, method: str, path: str
) -> None:
    _refusal(await kite_client.request(method, path, headers=KITE_HEADERS), 403, "TokenException")
    headers = await _headers(kite_client)
    no_version = {"Authorization": headers["Authorization"]}
    _refusal(await kite_client.request(method, path, headers=no_version), 400, "InputException")


async def test_margins_are_exact_json_numbers(kite_client: httpx.AsyncClient) -> None:
    headers = await _headers(kite_client)
    response = await kite_client.get("/user/margins", headers=headers)
    assert b'"cash":500000' in response.content
    data = _data(response)
    assert set(data) == {"equity", "commodity"}
    equity = data["equity"]
    assert (equity["enabled"], equity["net"], equity["available"]["cash"]) == (True, 500000, 500000)
    assert equity["utilised"]["debits"] == 0
    await _place(kite_client, headers, LIMIT_BUY)
    equity = _data(await kite_client.get("/user/margins/equity", headers=headers))
    assert equity["utilised"]["debits"] > 2800
    assert equity["net"] == 500000 - equity["utilised"]["debits"]
    _refusal(await kite_client.get("/user/margins/fx", headers=headers), 400, "InputException")


async def test_holdings_and_positions_use_kites_fields(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    headers = await _headers(kite_client)
    await _place(kite_client, headers, MARKET_BUY)
    await _place(kite_client, headers, {**MARKET_BUY, "product": "MIS", "transaction_type": "SELL"})
    holdings = {
        row["tradingsymbol"]: row
        for row in _data(await kite_client.get("/portfolio/holdings", headers=headers))
    }
    infy = holdings["INFY"]
    assert (infy["quantity"], infy["t1_quantity"], infy["isin"]) == (20, 2, "INE009A01021")
    assert infy["instrument_token"] == 408065 and infy["product"] == "CNC"
    assert {"average_price", "last_price", "close_price", "pnl", "mtf"} <= set(infy)
    positions = _data(await kite_client.get("/portfolio/positions", headers=headers))
    (net,) = positions["net"]
    assert (net["tradingsymbol"], net["product"], net["quantity"]) == ("INFY", "MIS", -2)
    assert net["sell_quantity"] == 2 and positions["day"] == positions["net"]
    assert kite.exchange.account(INDIA_ACCOUNT_ID).positions


async def test_an_order_history_passes_through_kites_transient_states(
    kite_client: httpx.AsyncClient,
) -> None:
    headers = await _headers(kite_client)
    order_id = await _place(kite_client, headers, MARKET_BUY)
    assert len(order_id) == 15 and order_id.isdigit()
    history = _data(await kite_client.get(f"/orders/{order_id}", headers=headers))
    assert [snapshot["status"] for snapshot in history] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "COMPLETE",
    ]
    assert history[0]["filled_quantity"] == 0 and history[-1]["filled_quantity"] == 2
    assert history[-1]["tag"] == "unit0001" and history[-1]["tags"] == ["unit0001"]
    rejected = await _place(kite_client, headers, {**MARKET_BUY, "quantity": "100000"})
    history = _data(await kite_client.get(f"/orders/{rejected}", headers=headers))
    assert [snapshot["status"] for snapshot in history][-2:] == ["VALIDATION PENDING", "REJECTED"]
    assert "insufficient funds" in history[-1]["status_message"]


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ({"tradingsymbol": ""}, "InputException"),
        ({"transaction_type": "buy"}, "InputException"),
        ({"order_type": "STOP"}, "InputException"),
        ({"product": "DELIVERY"}, "InputException"),
        ({"validity": "TTL"}, "InputException"),
        ({"quantity": "1.5"}, "InputException"),
        ({"quantity": "0"}, "InputException"),
        ({"price": "abc"}, "InputException"),
        ({"tag": "x" * 21}, "InputException"),
    ],
)
async def test_malformed_placements_are_input_exceptions(
    kite: KiteSandbox, kite_client: httpx.AsyncClient, change: dict[str, str], error_type: str
) -> None:
    headers = await _headers(kite_client)
    fields = {name: value for name, value in {**LIMIT_BUY, **change}.items() if value}
    response = await kite_client.post("/orders/regular", data=fields, headers=headers)
    _refusal(response, 400, error_type)
    assert kite.exchange.orders(INDIA_ACCOUNT_ID) == []


async def test_only_the_regular_variety_is_simulated(kite_client: httpx.AsyncClient) -> None:
    headers = await _headers(kite_client)
    response = await kite_client.post("/orders/amo", data=MARKET_BUY, headers=headers)
    _refusal(response, 400, "InputException")


async def test_modify_and_cancel_open_orders_only(kite_client: httpx.AsyncClient) -> None:
    headers = await _headers(kite_client)
    resting = await _place(kite_client, headers, LIMIT_BUY)
    response = await kite_client.put(
        f"/orders/regular/{resting}", data={"quantity": "3", "price": "1401.00"}, headers=headers
    )
    assert _data(response) == {"order_id": resting}
    (row,) = _data(await kite_client.get("/orders", headers=headers))
    assert (row["quantity"], row["price"], row["modified"]) == (3, Decimal("1401.00"), True)
    response = await kite_client.put(
        f"/orders/regular/{resting}", data={"order_type": "MARKET"}, headers=headers
    )
    _refusal(response, 400, "InputException")
    assert _data(await kite_client.delete(f"/orders/regular/{resting}", headers=headers))
    _refusal(
        await kite_client.delete(f"/orders/regular/{resting}", headers=headers),
        400,
        "OrderException",
    )
    _refusal(
        await kite_client.put(
            f"/orders/regular/{resting}", data={"quantity": "4"}, headers=headers
        ),
        400,
        "OrderException",
    )
    for path in ("/orders/260000000000099", "/orders/1", "/orders/abc/trades"):
        _refusal(await kite_client.get(path, headers=headers), 404, "GeneralException")


async def test_trades_and_the_days_book(
    kite: KiteSandbox, kite_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    headers = await _headers(kite_client)
    order_id = await _place(kite_client, headers, MARKET_BUY)
    (trade,) = _data(await kite_client.get(f"/orders/{order_id}/trades", headers=headers))
    assert (trade["order_id"], trade["quantity"], trade["average_price"]) == (
        order_id,
        2,
        Decimal("1500.00"),
    )
    assert trade["fill_timestamp"] == "2026-01-05 10:00:00"
    assert trade["order_timestamp"] == "10:00:00"
    assert _data(await kite_client.get("/trades", headers=headers)) == [trade]
    clock.advance(timedelta(days=1))
    headers = await _headers(kite_client)
    assert _data(await kite_client.get("/orders", headers=headers)) == []
    assert _data(await kite_client.get("/trades", headers=headers)) == []
    assert len(kite.exchange.orders(INDIA_ACCOUNT_ID)) == 1


async def test_a_day_order_the_close_expired_reads_cancelled(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    headers = await _headers(kite_client)
    await _place(kite_client, headers, LIMIT_BUY)
    kite.exchange.end_of_day()
    (row,) = _data(await kite_client.get("/orders", headers=headers))
    assert row["status"] == "CANCELLED" and row["cancelled_quantity"] == 2


async def test_status_overrides_show_any_spelling(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    headers = await _headers(kite_client)
    order_id = await _place(kite_client, headers, LIMIT_BUY)
    kite.status_overrides[order_id] = "CANCEL PENDING"
    history = _data(await kite_client.get(f"/orders/{order_id}", headers=headers))
    assert history[-1]["status"] == "CANCEL PENDING"
    assert history[0]["status"] == "PUT ORDER REQ RECEIVED"


async def test_last_prices_are_keyed_exchange_symbol(
    kite: KiteSandbox, kite_client: httpx.AsyncClient
) -> None:
    headers = await _headers(kite_client)
    kite.exchange.set_price("INFY", Decimal("1512.35"))
    response = await kite_client.get(
        "/quote/ltp",
        params=[("i", "NSE:INFY"), ("i", "BSE:RELIANCE"), ("i", "NSE:NOPE")],
        headers=headers,
    )
    assert b'"last_price":1512.35' in response.content
    assert _data(response) == {
        "NSE:INFY": {"instrument_token": 408065, "last_price": Decimal("1512.35")},
        "BSE:RELIANCE": {"instrument_token": 128083204, "last_price": Decimal("2500.00")},
    }
    _refusal(await kite_client.get("/quote/ltp", headers=headers), 400, "InputException")
