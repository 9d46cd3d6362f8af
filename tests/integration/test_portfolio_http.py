"""``GET /api/v1/portfolio`` and ``GET /api/v1/quotes`` over HTTP on PostgreSQL + Redis: the
hand-computed profit and loss of each cost method, valuation at a connected broker's quote
(else the last trade price, flagged), totals per currency, owner isolation, and bad input."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import Money
from dashcore_app.brokers import BrokerSandboxes
from dashcore_http.schemas.numbers import DECIMAL_PATTERN
from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.conftest import sandboxes
from tests.integration.providers.support import connect_redirect, problem_code, signed_up
from tests.integration.trades_support import add_broker_fill, backend, post_trade

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
__all__ = ["backend", "mailbox", "sandboxes", "served"]

PORTFOLIO = f"{API}/portfolio"
QUOTES = f"{API}/quotes"


@pytest.fixture
async def owner(served: Served, mailbox: Mailbox) -> Account:
    return await signed_up(served, mailbox, "investor@example.com")


async def hand_checked_trades(served: Served, account: Account) -> None:
    """Buy 10 @ 100 (charges 5), buy 10 @ 120 (charges 5), sell 15 @ 130 (charges 6)."""
    for side, quantity, price, charges, day in (
        ("buy", "10", "100", "5", 1),
        ("buy", "10", "120", "5", 2),
        ("sell", "15", "130", "6", 3),
    ):
        await post_trade(
            served.client,
            account,
            side=side,
            quantity=quantity,
            price=price,
            brokerage_charge=charges,
            executed_at=f"2026-01-0{day}T10:00:00Z",
        )


async def portfolio(served: Served, user: Account, **params: str) -> Any:
    response = await served.client.get(PORTFOLIO, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def amounts(line: dict[str, Any], *names: str) -> tuple[Decimal | None, ...]:
    return tuple(None if line[name] is None else Decimal(line[name]) for name in names)


@pytest.mark.parametrize(
    ("method", "realized", "basis", "unrealized"),
    [("fifo", "336.5", "602.5", "47.5"), ("lifo", "236.5", "502.5", "147.5"),
     ("average", "286.5", "552.5", "97.5")],
)  # fmt: skip
async def test_each_method_gives_the_hand_computed_pnl(
    served: Served, owner: Account, method: str, realized: str, basis: str, unrealized: str
) -> None:
    await hand_checked_trades(served, owner)

    body = await portfolio(served, owner, method=method)

    assert body["method"] == method
    (line,) = body["positions"]
    assert (line["account"], line["symbol"], line["exchange"], line["currency"]) == (
        "manual",
        "INFY",
        "NSE",
        "INR",
    )
    assert isinstance(line["realized_pnl"], str), "amounts travel as strings"
    assert amounts(line, "quantity", "realized_pnl", "cost_basis", "unrealized_pnl") == (
        Decimal(5),
        Decimal(realized),
        Decimal(basis),
        Decimal(unrealized),
    )
    assert (line["last_price"], line["price_source"], line["market_value"]) == (
        "130",
        "last_trade",
        "650",
    )
    assert body["prices"] == [
        {
            "symbol": "INFY",
            "exchange": "NSE",
            "price": "130",
            "currency": "INR",
            "source": "last_trade",
            "provider": None,
        }
    ]
    (total,) = body["totals"]
    assert Decimal(total["realized_pnl"]) + Decimal(total["unrealized_pnl"]) == Decimal(384)
    assert total["unpriced"] == []


async def test_amounts_are_plain_digits_however_small_or_round(
    served: Served, owner: Account
) -> None:
    """An average cost carried to 50 digits leaves a realized P&L of about -6.7e-11 after
    two sells at 10.3333333333; it reads as digits, not as ``"-6.66...67E-11"``."""
    await post_trade(served.client, owner, quantity="3", price="10", brokerage_charge="1")
    for day in (2, 3):
        await post_trade(
            served.client,
            owner,
            side="sell",
            quantity="1",
            price="10.3333333333",
            brokerage_charge="0",
            executed_at=f"2026-01-0{day}T10:00:00Z",
        )
    round_trade = await post_trade(served.client, owner, symbol="TCS", quantity="100.00")
    assert round_trade["quantity"] in {"100", "100.00"}  # Decimal("1E+2") once normalized

    body = await portfolio(served, owner, method="average")

    infy = next(line for line in body["positions"] if line["symbol"] == "INFY")
    realized = infy["realized_pnl"]
    assert realized.startswith("-0.0000000000666666666"), realized
    assert abs(Decimal(realized) + Decimal("6.6666666667E-11")) < Decimal("1E-20")
    amounts_given = [
        line[name]
        for line in body["positions"] + body["totals"]
        for name in ("quantity", "cost_basis", "average_cost", "realized_pnl", "market_value")
        if line.get(name) is not None
    ]
    assert amounts_given
    assert all(re.fullmatch(DECIMAL_PATTERN, amount) for amount in amounts_given), amounts_given


async def test_a_connected_brokers_quote_values_the_position(
    served: Served, owner: Account, sandboxes: BrokerSandboxes
) -> None:
    await hand_checked_trades(served, owner)
    await connect_redirect(served.client, owner, "zerodha")

    body = await portfolio(served, owner)

    (line,) = body["positions"]
    assert (line["last_price"], line["price_source"]) == ("1500.00", "quote")
    assert amounts(line, "market_value", "unrealized_pnl") == (Decimal(7500), Decimal("6897.5"))
    assert body["prices"][0]["provider"] == "zerodha"
    assert body["quote_failures"] == []


async def test_totals_are_per_currency_and_an_account_can_be_asked_alone(
    served: Served, owner: Account
) -> None:
    await post_trade(served.client, owner, quantity="2", price="100", brokerage_charge="0")
    await post_trade(
        served.client,
        owner,
        symbol="AAPL",
        exchange="US",
        currency="USD",
        quantity="1",
        price="190.25",
        brokerage_charge="0",
        account="IRA",
    )

    everything = await portfolio(served, owner, method="average")
    only_ira = await portfolio(served, owner, method="average", account="IRA")

    assert {(t["currency"], t["cost_basis"]) for t in everything["totals"]} == {
        ("INR", "200"),
        ("USD", "190.25"),
    }
    assert [(t["account"], t["currency"]) for t in everything["account_totals"]] == [
        ("IRA", "USD"),
        ("manual", "INR"),
    ]
    assert [line["account"] for line in only_ira["positions"]] == ["IRA"]


async def test_an_instrument_in_two_currencies_is_set_aside_until_the_manual_trade_is_fixed(
    served: Served, owner: Account
) -> None:
    """Found by QA: a manual RELIANCE trade in USD, then a broker fill of it in INR, made every
    portfolio a 422, even of accounts without RELIANCE."""
    mistyped = await post_trade(
        served.client, owner, symbol="RELIANCE", currency="USD", executed_at="2026-01-01T10:00:00Z"
    )
    await post_trade(served.client, owner, symbol="TCS", account="IRA")
    await add_broker_fill(
        served,
        owner,
        id=UUID("01966f3c-0000-7000-8000-0000000000f2"),
        instrument=InstrumentKey("RELIANCE", "NSE"),
        quantity=Decimal(1),
        price=Money.of("2900", "INR"),
        charges=Money.of("0", "INR"),
        broker_trade_id="KITE-T-9",
    )

    for params in ({}, {"account": "IRA"}):
        body = await portfolio(served, owner, method="fifo", **params)
        assert [line["symbol"] for line in body["positions"]] == ["TCS"]
    body = await portfolio(served, owner, method="fifo")
    (conflict,) = body["currency_conflicts"]
    assert (conflict["symbol"], conflict["currency"], conflict["other"]) == (
        "RELIANCE",
        "USD",
        "INR",
    )
    assert conflict["since"] == "2026-01-02T04:00:00Z"
    assert "correct the currency of the manual trades" in conflict["message"]
    assert {t["currency"] for t in body["totals"]} == {"INR"}

    fixed = await served.client.patch(
        f"{API}/trades/{mistyped['id']}", json={"currency": "INR"}, headers=owner.headers
    )
    assert fixed.status_code == 200, fixed.text
    body = await portfolio(served, owner, method="fifo")
    assert body["currency_conflicts"] == []
    assert sorted(line["symbol"] for line in body["instruments"]) == ["RELIANCE", "TCS"]


async def test_nobody_sees_anothers_positions(
    served: Served, owner: Account, mailbox: Mailbox
) -> None:
    await hand_checked_trades(served, owner)
    stranger = await signed_up(served, mailbox, "stranger@example.com")

    body = await portfolio(served, stranger, method="lifo")

    assert (body["positions"], body["totals"], body["prices"]) == ([], [], [])


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"method": "hifo"}, 400, "invalid_cost_method", "method"),
        ({"account": " padded"}, 422, "invalid_input", "account"),
    ],
)
async def test_bad_portfolio_queries(
    served: Served, owner: Account, params: dict[str, str], status: int, code: str, field: str
) -> None:
    response = await served.client.get(PORTFOLIO, params=params, headers=owner.headers)
    assert response.status_code == status, response.text
    assert problem_code(response) == code
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_quotes_through_the_users_connections(
    served: Served, owner: Account, sandboxes: BrokerSandboxes
) -> None:
    await connect_redirect(served.client, owner, "zerodha")

    response = await served.client.get(
        QUOTES, params={"symbols": "NSE:INFY,nse:tcs,NSE:NOPE"}, headers=owner.headers
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "quotes": [
            {"symbol": "INFY", "exchange": "NSE", "price": "1500.00", "currency": "INR",
             "provider": "zerodha"},
            {"symbol": "TCS", "exchange": "NSE", "price": "3500.00", "currency": "INR",
             "provider": "zerodha"},
        ],
        "missing": ["NSE:NOPE"],
        "failures": [],
    }  # fmt: skip


@pytest.mark.parametrize("symbols", ["INFY", "NSE:", ",".join(f"NSE:S{n}" for n in range(51))])
async def test_bad_symbols_are_named(served: Served, owner: Account, symbols: str) -> None:
    response = await served.client.get(QUOTES, params={"symbols": symbols}, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["symbols"]


async def test_quotes_need_symbols(served: Served, owner: Account) -> None:
    response = await served.client.get(QUOTES, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    assert [error["field"] for error in response.json()["errors"]] == ["symbols"]
