"""The exchange inside every sandbox: its default market, its control routes and the
"timeout after the order was accepted" fault."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Router, post

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import (
    BrokerSandbox,
    FaultKind,
    FaultRule,
    SandboxTransport,
    create_sandboxes,
)
from dashcore_brokers.sandbox.exchange import (
    INDIA_ACCOUNT_ID,
    OrderKind,
    Side,
    SimStatus,
    us_market,
)
from dashcore_brokers.sandbox.schwab import SchwabSandbox

D = Decimal


class Recorder:
    """Stands in for asyncio.sleep: records the delays asked for, waits for none."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class OrderDesk(BrokerSandbox):
    """A minimal broker: ``POST /orders`` buys one INFY at market for the seeded account."""

    name = "desk"

    def routers(self) -> Sequence[Router]:
        @post("/orders", status_code=201)
        async def place() -> dict[str, str]:
            order = self.exchange.place(
                INDIA_ACCOUNT_ID,
                symbol="INFY",
                side=Side.BUY,
                quantity=D(1),
                kind=OrderKind.MARKET,
                tag="client-ref-1",
            )
            return {"order_id": order.id}

        return [Router(path="/", route_handlers=[place])]

    def error_body(self, status: int, message: str, path: str) -> object:
        return {"error": message}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def desk_client(clock: FakeClock) -> AsyncIterator[tuple[OrderDesk, httpx.AsyncClient]]:
    desk = OrderDesk(clock, sleep=Recorder())
    async with httpx.AsyncClient(
        transport=SandboxTransport(desk), base_url="https://desk.test"
    ) as client:
        yield desk, client


# Default markets ------------------------------------------------------------------------------


def test_each_sandbox_trades_on_its_own_seeded_market(clock: FakeClock) -> None:
    sandboxes = create_sandboxes(clock)

    currencies = {key: sandbox.exchange.currency for key, sandbox in sandboxes.items()}
    assert currencies == {"schwab": "USD", "zerodha": "INR", "upstox": "INR", "groww": "INR"}
    exchanges = [sandbox.exchange for sandbox in sandboxes.values()]
    assert len({id(exchange) for exchange in exchanges}) == 4
    assert sandboxes["schwab"].exchange.account("sandbox-us").cash == D(100_000)
    assert sandboxes["zerodha"].exchange.account("sandbox-in").cash == D(500_000)


def test_a_sandbox_takes_the_exchange_it_is_given(clock: FakeClock) -> None:
    market = us_market(clock)

    assert SchwabSandbox(clock, exchange=market).exchange is market
    assert OrderDesk(clock, exchange=market).exchange is market
    assert OrderDesk(clock).exchange.currency == "INR"


# The fault ------------------------------------------------------------------------------------


async def test_timeout_after_accept_places_the_order_then_withholds_the_answer(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
) -> None:
    desk, client = desk_client
    desk.faults.add(
        FaultRule(path="/orders", method="POST", kind=FaultKind.TIMEOUT_AFTER_ACCEPT, seconds=45)
    )

    lost = await client.post("/orders")

    assert lost.status_code == 504
    assert lost.json() == {"error": "Gateway timeout"}
    order = desk.exchange.find_by_tag(INDIA_ACCOUNT_ID, "client-ref-1")
    assert order is not None
    assert order.status is SimStatus.FILLED
    assert "order_id" not in lost.text
    # The rule fired once: the retry is served normally and places a second order.
    retried = await client.post("/orders")
    assert retried.status_code == 201
    assert len(desk.exchange.orders(INDIA_ACCOUNT_ID)) == 2


async def test_a_client_that_times_out_still_leaves_the_order_on_the_exchange(
    clock: FakeClock,
) -> None:
    desk = OrderDesk(clock)  # real asyncio.sleep: the sandbox hangs for 30 s
    desk.faults.add(FaultRule(path="/orders", kind=FaultKind.TIMEOUT_AFTER_ACCEPT, seconds=30))
    async with httpx.AsyncClient(
        transport=SandboxTransport(desk), base_url="https://desk.test", timeout=0.05
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/orders")

    [order] = desk.exchange.orders(INDIA_ACCOUNT_ID)
    assert order.status is SimStatus.FILLED
    assert order.tag == "client-ref-1"


async def test_the_fault_is_armed_over_http(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
) -> None:
    desk, client = desk_client

    armed = await client.post(
        "/__sandbox__/faults", json={"path": "/orders", "kind": "timeout_after_accept"}
    )

    assert armed.status_code == 201
    assert armed.json()["kind"] == "timeout_after_accept"
    assert (await client.post("/orders")).status_code == 504
    assert len(desk.exchange.orders(INDIA_ACCOUNT_ID)) == 1


# Control routes -------------------------------------------------------------------------------


async def test_prices_are_read_and_moved_over_http(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
) -> None:
    desk, client = desk_client
    resting = desk.exchange.place(
        INDIA_ACCOUNT_ID,
        symbol="TCS",
        side=Side.BUY,
        quantity=D(2),
        kind=OrderKind.LIMIT,
        price=D("3400.05"),
    )

    listed = (await client.get("/__sandbox__/prices")).json()
    moved = await client.post("/__sandbox__/prices", json={"symbol": "TCS", "price": "3400.00"})

    assert {"symbol": "TCS", "price": "3500.00"} in listed
    assert [row["symbol"] for row in listed].count("RELIANCE") == 1
    assert moved.status_code == 200
    body: dict[str, Any] = moved.json()
    assert (body["symbol"], body["price"]) == ("TCS", "3400.00")
    [fill] = body["fills"]
    assert (fill["order_id"], fill["quantity"], fill["price"]) == (resting.id, "2", "3400.00")
    assert resting.status is SimStatus.FILLED


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"symbol": "NOPE", "price": "1.00"}, 404, "unknown symbol: NOPE"),
        ({"symbol": "TCS", "price": "3400.03"}, 400, "price must be a multiple of the tick size"),
        ({"symbol": "TCS", "price": "-1"}, 400, "price must be a positive number"),
        ({"symbol": "TCS", "price": "NaN"}, 400, "price must be a positive number"),
    ],
)
async def test_bad_price_moves_are_refused(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
    payload: dict[str, str],
    status: int,
    error: str,
) -> None:
    desk, client = desk_client

    response = await client.post("/__sandbox__/prices", json=payload)

    assert response.status_code == status
    assert error in response.json()["error"]
    assert desk.exchange.last_price("TCS") == D(3500)


async def test_a_malformed_price_move_is_a_400(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
) -> None:
    _, client = desk_client

    response = await client.post("/__sandbox__/prices", json={"symbol": "TCS", "px": "1"})

    assert response.status_code == 400
    assert "error" in response.json()


async def test_end_of_day_over_http(desk_client: tuple[OrderDesk, httpx.AsyncClient]) -> None:
    desk, client = desk_client
    order = desk.exchange.place(
        INDIA_ACCOUNT_ID,
        symbol="TCS",
        side=Side.BUY,
        quantity=D(1),
        kind=OrderKind.LIMIT,
        price=D(3000),
    )

    response = await client.post("/__sandbox__/end-of-day")

    assert response.status_code == 204
    assert order.status is SimStatus.EXPIRED


async def test_deposits_over_http(desk_client: tuple[OrderDesk, httpx.AsyncClient]) -> None:
    desk, client = desk_client

    made = await client.post(
        f"/__sandbox__/accounts/{INDIA_ACCOUNT_ID}/deposit", json={"amount": "2500.50"}
    )
    unknown = await client.post("/__sandbox__/accounts/ghost/deposit", json={"amount": "1"})
    negative = await client.post(
        f"/__sandbox__/accounts/{INDIA_ACCOUNT_ID}/deposit", json={"amount": "-1"}
    )

    assert made.status_code == 201
    assert made.json() | {"id": "", "at": ""} == {
        "id": "",
        "at": "",
        "kind": "DEPOSIT",
        "amount": "2500.50",
        "cash": "502500.50",
    }
    assert (unknown.status_code, unknown.json()) == (404, {"error": "no such account"})
    assert negative.status_code == 400
    assert desk.exchange.account(INDIA_ACCOUNT_ID).cash == D("502500.50")


async def test_control_routes_are_never_faulted(
    desk_client: tuple[OrderDesk, httpx.AsyncClient],
) -> None:
    desk, client = desk_client
    desk.faults.add(FaultRule(path="*", kind=FaultKind.STATUS, status=503, times=None))

    assert (await client.get("/__sandbox__/prices")).status_code == 200
