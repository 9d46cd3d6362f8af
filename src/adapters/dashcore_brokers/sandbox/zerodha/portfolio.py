"""Kite funds and portfolio routes over the exchange engine (``reference/brokers.md`` §2.4).

- ``GET /user/margins`` → ``{"equity": …, "commodity": …}``; ``GET /user/margins/{segment}``
  → one segment. Equity: ``available.cash`` is the account's cash, ``utilised.debits`` the
  cash open buy orders block, ``net`` what can be used now (cash less debits). The sandbox
  trades no commodities: that segment is all zeros.
- ``GET /portfolio/holdings`` → delivery holdings (``quantity`` delivered, ``t1_quantity``
  bought since the last close).
- ``GET /portfolio/positions`` → ``{"net": […], "day": […]}``: intraday (``MIS``) and
  carry-forward (``NRML``) positions; ``day`` repeats ``net`` (the engine keeps no day split).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from dashcore_brokers.sandbox.exchange import SimAccount
from dashcore_brokers.sandbox.zerodha.records import (
    account_of,
    holding_row,
    kite_success,
    position_row,
)
from dashcore_brokers.sandbox.zerodha.user import authorized
from dashcore_brokers.sandbox.zerodha.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = ["margins_router", "portfolio_router"]

_ZERO = Decimal(0)


def _segment(cash: Decimal, debits: Decimal, *, enabled: bool = True) -> dict[str, object]:
    return {
        "enabled": enabled,
        "net": cash - debits,
        "available": {
            "adhoc_margin": 0,
            "cash": cash,
            "opening_balance": cash,
            "live_balance": cash - debits,
            "collateral": 0,
            "intraday_payin": 0,
        },
        "utilised": {
            "debits": debits,
            "exposure": 0,
            "m2m_realised": 0,
            "m2m_unrealised": 0,
            "option_premium": 0,
            "payout": 0,
            "span": 0,
            "holding_sales": 0,
            "turnover": 0,
            "liquid_collateral": 0,
            "stock_collateral": 0,
            "delivery": 0,
        },
    }


def _segments(account: SimAccount) -> dict[str, dict[str, object]]:
    return {
        "equity": _segment(account.cash, account.margin_used),
        "commodity": _segment(_ZERO, _ZERO, enabled=False),
    }


def margins_router(sandbox: KiteSandbox) -> Router:
    """``/user/margins`` of the Kite sandbox."""

    @get("/margins")
    async def margins(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        return kite_success(_segments(account))

    @get("/margins/{segment:str}")
    async def segment_margins(
        request: Request[Any, Any, Any], segment: FromPath[str]
    ) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        segments = _segments(account)
        if segment not in segments:
            raise fail(400, "Invalid segment.", "InputException")
        return kite_success(segments[segment])

    return Router(path="/user", route_handlers=[margins, segment_margins])


def portfolio_router(sandbox: KiteSandbox) -> Router:
    """``/portfolio`` of the Kite sandbox."""

    @get("/holdings")
    async def holdings(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        return kite_success(
            [
                holding_row(holding, sandbox.exchange.last_price(symbol))
                for symbol, holding in account.holdings.items()
                if holding.quantity > 0
            ]
        )

    @get("/positions")
    async def positions(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, authorized(request, sandbox))
        rows = [
            position_row(position, sandbox.exchange.last_price(symbol))
            for (symbol, _), position in account.positions.items()
        ]
        return kite_success({"net": rows, "day": rows})

    return Router(path="/portfolio", route_handlers=[holdings, positions])
