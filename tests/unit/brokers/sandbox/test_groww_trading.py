"""The Groww sandbox's trading routes on the wire (brokers.md §4.4-4.7), as any HTTP client sees
them: envelopes, exact JSON numbers, field names and enum spellings, GA codes, paging limits."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.groww import GrowwSandbox

from .flows import GROWW_HEADERS, groww_mint


def _payload(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "SUCCESS"
    return body["payload"]


def _exact(response: httpx.Response) -> Any:
    """The body with JSON numbers as Decimals, as a careful client reads it."""
    return json.loads(response.content, parse_float=Decimal)["payload"]


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "FAILURE"
    assert body["error"]["code"] == code
    assert set(body["error"]) >= {"code", "message", "metadata"}


@pytest.fixture
async def headers(clock: FakeClock, groww_client: httpx.AsyncClient) -> dict[str, str]:
    minted = await groww_mint(groww_client, int(clock.now().timestamp()))
    return {"Authorization": f"Bearer {minted.json()['token']}", **GROWW_HEADERS}


def _create(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "trading_symbol": "RELIANCE",
        "quantity": 2,
        "price": 0,
        "trigger_price": 0,
        "validity": "DAY",
        "exchange": "NSE",
        "segment": "CASH",
        "product": "CNC",
        "order_type": "MARKET",
        "transaction_type": "BUY",
        "order_reference_id": "sbx-ref-0001",
    }
    return {**body, **changes}


async def _place(client: httpx.AsyncClient, headers: dict[str, str], **changes: object) -> Any:
    return _payload(await client.post("/v1/order/create", json=_create(**changes), headers=headers))


async def test_holdings_rows_carry_groww_fields_and_exact_numbers(
    groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await groww_client.get("/v1/holdings/user", headers=headers)
    rows = {row["trading_symbol"]: row for row in _exact(response)["holdings"]}
    assert rows["RELIANCE"]["isin"] == "INE002A01018"
    assert rows["RELIANCE"]["quantity"] == 10
    assert rows["RELIANCE"]["average_price"] == 2400
    assert rows["INFY"]["demat_free_quantity"] == 20 and rows["INFY"]["t1_quantity"] == 0
    assert b'"average_price":"' not in response.content  # numbers, not strings


async def test_margins_and_positions(
    groww: GrowwSandbox, groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _place(groww_client, headers, product="MIS", transaction_type="SELL")
    margins = _exact(await groww_client.get("/v1/margins/detail/user", headers=headers))
    account = groww.exchange.account(INDIA_ACCOUNT_ID)
    assert margins["clear_cash"] == account.cash
    assert margins["equity_margin_details"]["cnc_balance_available"] == account.buying_power
    [row] = _payload(await groww_client.get("/v1/positions/user", headers=headers))["positions"]
    assert (row["trading_symbol"], row["product"], row["segment"]) == ("RELIANCE", "MIS", "CASH")
    assert row["quantity"] == -2 and row["debit_quantity"] == 2 and row["credit_quantity"] == 0
    fno = await groww_client.get("/v1/positions/user?segment=FNO", headers=headers)
    assert _payload(fno)["positions"] == []
    _refused(await groww_client.get("/v1/positions/user?segment=X", headers=headers), 400, "GA001")


async def test_ltp_is_a_flat_map_keyed_exchange_symbol(
    groww: GrowwSandbox, groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    groww.exchange.set_price("TCS", Decimal("3999.95"))
    response = await groww_client.get(
        "/v1/live-data/ltp",
        params=[
            ("segment", "CASH"),
            ("exchange_symbols", "NSE_TCS"),
            ("exchange_symbols", "NSE_NOPE"),
        ],
        headers=headers,
    )
    assert _exact(response) == {"NSE_TCS": Decimal("3999.95")}
    too_many = "&".join(["segment=CASH", *(f"exchange_symbols=NSE_S{i}" for i in range(51))])
    _refused(await groww_client.get(f"/v1/live-data/ltp?{too_many}", headers=headers), 400, "GA001")


async def test_order_lifecycle_spellings(
    groww: GrowwSandbox, groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    placed = await _place(groww_client, headers, order_type="LIMIT", price=2000.05)
    assert placed["order_status"] == "OPEN" and placed["order_reference_id"] == "sbx-ref-0001"
    order_id = placed["groww_order_id"]
    assert order_id.isalnum() and order_id.startswith("GMK")
    detail = _exact(
        await groww_client.get(f"/v1/order/detail/{order_id}?segment=CASH", headers=headers)
    )
    assert (detail["order_status"], detail["order_type"], detail["price"]) == (
        "ACKED",
        "LIMIT",
        Decimal("2000.05"),
    )
    assert detail["created_at"] == "2026-01-05T10:00:00"  # India time, no offset
    modify = {
        "groww_order_id": order_id,
        "order_type": "LIMIT",
        "segment": "CASH",
        "quantity": 3,
        "price": 2001,
    }
    answer = _payload(await groww_client.post("/v1/order/modify", json=modify, headers=headers))
    assert answer == {"groww_order_id": order_id, "order_status": "MODIFICATION_REQUESTED"}
    status = _payload(
        await groww_client.get(f"/v1/order/status/{order_id}?segment=CASH", headers=headers)
    )
    assert set(status) == {
        "groww_order_id",
        "order_status",
        "remark",
        "filled_quantity",
        "order_reference_id",
    }
    cancel = {"groww_order_id": order_id, "segment": "CASH"}
    answer = _payload(await groww_client.post("/v1/order/cancel", json=cancel, headers=headers))
    assert answer["order_status"] == "CANCELLATION_REQUESTED"
    by_ref = await groww_client.get(
        "/v1/order/status/reference/sbx-ref-0001?segment=CASH", headers=headers
    )
    assert _payload(by_ref)["order_status"] == "CANCELLED"
    again = await groww_client.post("/v1/order/cancel", json=cancel, headers=headers)
    _refused(again, 400, "GA006")
    _refused(
        await groww_client.post("/v1/order/modify", json=modify, headers=headers), 400, "GA006"
    )


async def test_a_market_order_executes_with_trades(
    groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    placed = await _place(groww_client, headers)
    assert placed["order_status"] == "EXECUTED"
    order_id = placed["groww_order_id"]
    trades = _payload(
        await groww_client.get(f"/v1/order/trades/{order_id}?segment=CASH", headers=headers)
    )
    [trade] = trades["trade_list"]
    assert trade["groww_order_id"] == order_id and trade["trade_status"] == "EXECUTED"
    assert trade["quantity"] == 2 and trade["isin"] == "INE002A01018"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"order_type": "SL-M"}, "GA001"),
        ({"product": "XYZ"}, "GA001"),
        ({"validity": "GTD"}, "GA001"),
        ({"segment": "FNO"}, "GA001"),
        ({"exchange": "NYSE"}, "GA001"),
        ({"quantity": "two"}, "GA001"),
        ({"order_reference_id": "short"}, "GA001"),
        ({"order_reference_id": "a-b-c-d-e"}, "GA001"),
    ],
)
async def test_malformed_orders_are_ga001(
    groww_client: httpx.AsyncClient, headers: dict[str, str], changes: dict[str, object], code: str
) -> None:
    response = await groww_client.post("/v1/order/create", json=_create(**changes), headers=headers)
    _refused(response, 400, code)


async def test_a_reused_reference_is_ga007_and_a_refused_order_is_rejected(
    groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _place(groww_client, headers)
    again = await groww_client.post("/v1/order/create", json=_create(), headers=headers)
    _refused(again, 400, "GA007")
    broke = await _place(groww_client, headers, order_reference_id="sbx-ref-0002", quantity=10**6)
    assert broke["order_status"] == "REJECTED" and broke["remark"]


async def test_unknown_orders_are_ga004(
    groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in (
        "/v1/order/detail/GMK0000000999?segment=CASH",
        "/v1/order/detail/nonsense?segment=CASH",
        "/v1/order/status/reference/sbx-none-0001?segment=CASH",
        "/v1/order/trades/GMK0000000999?segment=CASH",
    ):
        _refused(await groww_client.get(path, headers=headers), 404, "GA004")


async def test_order_list_pages(groww_client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for index in range(3):
        await _place(groww_client, headers, order_reference_id=f"sbx-list-{index:03d}")
    first = _payload(
        await groww_client.get("/v1/order/list?segment=CASH&page=0&page_size=2", headers=headers)
    )
    second = _payload(
        await groww_client.get("/v1/order/list?segment=CASH&page=1&page_size=2", headers=headers)
    )
    refs = [row["order_reference_id"] for row in first["order_list"] + second["order_list"]]
    assert refs == ["sbx-list-000", "sbx-list-001", "sbx-list-002"]
    too_big = await groww_client.get("/v1/order/list?segment=CASH&page_size=101", headers=headers)
    _refused(too_big, 400, "GA001")


async def test_trading_routes_check_the_token_and_version_header(
    groww: GrowwSandbox, groww_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    no_version = {"Authorization": headers["Authorization"]}
    _refused(await groww_client.get("/v1/holdings/user", headers=no_version), 400, "GA001")
    groww.tokens.expire()
    for response in (
        await groww_client.get("/v1/holdings/user", headers=headers),
        await groww_client.post("/v1/order/create", json=_create(), headers=headers),
    ):
        _refused(response, 401, "GA005")
    assert groww.exchange.orders(INDIA_ACCOUNT_ID) == []
