"""Upstox's funds, holdings, positions and trade history over the sandbox's exchange.

- ``GET /v2/user/get-funds-and-margin[?segment=SEC|COM]``: ``equity`` (and ``commodity``, all
  zero) with ``available_margin`` = what a delivery buy may spend, ``used_margin`` = cash
  blocked by open buy orders; both segments when ``segment`` is omitted;
- ``GET /v2/portfolio/long-term-holdings`` and ``/v2/portfolio/short-term-positions``: every
  row at once (Upstox does not page them);
- ``GET /v2/charges/historical-trades?start_date&end_date&page_number&page_size[&segment]``
  (not in brokers.md; fields from Upstox's SDK models, the ``metaData.page`` block
  UNCONFIRMED): the account's executions by India trade date, oldest first, pages of 1 to 5000
  (default 500). Upstox keeps no cash ledger here: deposits and dividends are not served.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.upstox.render import (
    historical_trade_row,
    holding_row,
    position_row,
    respond,
    trade_date,
)
from dashcore_brokers.sandbox.upstox.user import authorized
from dashcore_brokers.sandbox.upstox.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.upstox.sandbox import UpstoxSandbox

__all__ = ["portfolio_router"]

_SEGMENTS = {"SEC": ("equity",), "COM": ("commodity",), None: ("equity", "commodity")}
_MAX_PAGE = 5000


def _number(request: Request[Any, Any, Any], name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise fail(400, "UDAPI100038", f"Invalid input passed to the API: {name}", name)
    return int(raw)


def _date(request: Request[Any, Any, Any], name: str) -> date:
    raw = request.query_params.get(name)
    if raw is None:
        raise fail(400, "UDAPI100036", f"Invalid input: {name} is required", name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise fail(400, "UDAPI100038", f"Invalid input passed to the API: {name}", name) from None


def portfolio_router(sandbox: UpstoxSandbox) -> Router:
    """Funds, holdings, positions and trade history of the sandbox's one account."""
    exchange = sandbox.exchange

    @get("/user/get-funds-and-margin")
    async def funds(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        segment = request.query_params.get("segment")
        if segment not in _SEGMENTS:
            raise fail(400, "UDAPI100038", "Invalid input passed to the API: segment", "segment")
        account = exchange.account(sandbox.account_id)
        zero = {
            "used_margin": 0,
            "payin_amount": 0,
            "span_margin": 0,
            "adhoc_margin": 0,
            "notional_cash": 0,
            "available_margin": 0,
            "exposure_margin": 0,
        }
        equity = zero | {
            "used_margin": account.margin_used,
            "available_margin": account.buying_power,
        }
        bodies = {"equity": equity, "commodity": zero}
        data = {name: bodies[name] for name in _SEGMENTS[segment]}
        return respond(200, {"status": "success", "data": data})

    @get("/portfolio/long-term-holdings")
    async def holdings(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        account = exchange.account(sandbox.account_id)
        rows = [
            holding_row(holding, exchange.last_price(symbol))
            for symbol, holding in account.holdings.items()
            if holding.quantity
        ]
        return respond(200, {"status": "success", "data": rows})

    @get("/portfolio/short-term-positions")
    async def positions(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        account = exchange.account(sandbox.account_id)
        rows = [
            position_row(position, exchange.last_price(symbol))
            for (symbol, _), position in account.positions.items()
        ]
        return respond(200, {"status": "success", "data": rows})

    @get("/charges/historical-trades")
    async def historical_trades(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        start, end = _date(request, "start_date"), _date(request, "end_date")
        if end < start:
            raise fail(400, "UDAPI100038", "end_date must not be before start_date", "end_date")
        number = _number(request, "page_number", 1, 10**9)
        size = _number(request, "page_size", 500, _MAX_PAGE)
        first, last = start.isoformat(), end.isoformat()
        trades = [
            (order, fill)
            for fill in exchange.fills(sandbox.account_id)
            if first <= trade_date(fill.at) <= last
            for order in (exchange.order(fill.order_id),)
        ]
        page = trades[(number - 1) * size : number * size]
        return respond(
            200,
            {
                "status": "success",
                "data": [historical_trade_row(order, fill) for order, fill in page],
                "metaData": {
                    "page": {
                        "page_number": number,
                        "page_size": size,
                        "total_records": len(trades),
                        "total_pages": math.ceil(len(trades) / size),
                    }
                },
            },
        )

    return Router(path="/v2", route_handlers=[funds, holdings, positions, historical_trades])
