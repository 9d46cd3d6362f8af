"""Groww portfolio, funds and live-data routes over the exchange engine.

- ``GET /v1/holdings/user`` → ``{"holdings": [...]}`` (settled and T1 quantities split);
- ``GET /v1/positions/user[?segment=CASH|FNO|COMMODITY]`` → ``{"positions": [...]}``: the
  engine's intraday and margin positions, all in the ``CASH`` segment;
- ``GET /v1/margins/detail/user`` → the margin summary (``clear_cash``, ``net_margin_used``,
  nested ``equity_margin_details`` …; the nesting is partly inferred upstream: UNCONFIRMED);
- ``GET /v1/live-data/ltp?segment=CASH&exchange_symbols=NSE_RELIANCE`` (repeat the parameter,
  up to 50) → a flat ``{"NSE_RELIANCE": 2500.5}``; unknown symbols are left out.

Groww has no ledger (transactions) API, so the sandbox serves none (``reference/brokers.md``
§4.4 lists none).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.exchange import SimAccount
from dashcore_brokers.sandbox.groww.render import SEGMENTS, WIRE_PRODUCTS, account_of, exact
from dashcore_brokers.sandbox.groww.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.groww.sandbox import GrowwSandbox

__all__ = ["live_data_router", "portfolio_router"]

LTP_LIMIT = 50
_ZERO = Decimal(0)


def _holdings(account: SimAccount) -> list[dict[str, object]]:
    return [
        {
            "isin": holding.instrument.isin,
            "trading_symbol": symbol,
            "quantity": holding.quantity,
            "average_price": holding.average_price,
            "pledge_quantity": _ZERO,
            "demat_locked_quantity": _ZERO,
            "groww_locked_quantity": _ZERO,
            "repledge_quantity": _ZERO,
            "t1_quantity": holding.unsettled_quantity,
            "demat_free_quantity": holding.settled_quantity,
            "corporate_action_additional_quantity": _ZERO,
            "active_demat_transfer_quantity": _ZERO,
        }
        for symbol, holding in account.holdings.items()
        if holding.quantity
    ]


def _positions(account: SimAccount) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for position in account.positions.values():
        long = position.quantity > 0
        size = abs(position.quantity)
        price = position.average_price
        rows.append(
            {
                "trading_symbol": position.instrument.symbol,
                "segment": "CASH",
                "credit_quantity": size if long else _ZERO,
                "credit_price": price if long else _ZERO,
                "debit_quantity": _ZERO if long else size,
                "debit_price": _ZERO if long else price,
                "carry_forward_credit_quantity": _ZERO,
                "carry_forward_credit_price": _ZERO,
                "carry_forward_debit_quantity": _ZERO,
                "carry_forward_debit_price": _ZERO,
                "exchange": position.instrument.exchange,
                "symbol_isin": position.instrument.isin,
                "quantity": position.quantity,
                "product": WIRE_PRODUCTS[position.product],
                "net_carry_forward_quantity": _ZERO,
                "net_price": price,
                "net_carry_forward_price": _ZERO,
                "realised_pnl": position.realised_pnl,
            }
        )
    return rows


def _margins(account: SimAccount) -> dict[str, object]:
    charges = sum((line.charges for line in account.transactions), _ZERO)
    return {
        "clear_cash": account.cash,
        "net_margin_used": account.margin_used,
        "brokerage_and_charges": charges,
        "collateral_used": _ZERO,
        "collateral_available": _ZERO,
        "adhoc_margin": _ZERO,
        "fno_margin_details": {
            "net_fno_margin_used": _ZERO,
            "span_margin_used": _ZERO,
            "exposure_margin_used": _ZERO,
            "future_balance_available": _ZERO,
            "option_buy_balance_available": _ZERO,
            "option_sell_balance_available": _ZERO,
        },
        "equity_margin_details": {
            "net_equity_margin_used": account.margin_used,
            "cnc_margin_used": account.margin_used,
            "mis_margin_used": _ZERO,
            "cnc_balance_available": account.buying_power,
            "mis_balance_available": account.buying_power,
        },
        "commodity_margin_details": dict.fromkeys(
            (
                "commodity_span_margin",
                "commodity_exposure_margin",
                "commodity_tender_margin",
                "commodity_special_margin",
                "commodity_additional_margin",
                "commodity_unrealised_m2m",
                "commodity_realised_m2m",
            ),
            _ZERO,
        ),
    }


def portfolio_router(sandbox: GrowwSandbox) -> Router:
    """Holdings, positions and margins of the sandbox's account."""

    @get("/holdings/user")
    async def holdings(request: Request[Any, Any, Any]) -> Response[Any]:
        return exact({"holdings": _holdings(account_of(sandbox, request))})

    @get("/positions/user")
    async def positions(request: Request[Any, Any, Any]) -> Response[Any]:
        account = account_of(sandbox, request)
        segment = request.query_params.get("segment")
        if segment is not None and segment not in SEGMENTS:
            raise fail(400, "segment must be one of CASH, FNO, COMMODITY, CURRENCY")
        rows = _positions(account) if segment in (None, "CASH") else []
        return exact({"positions": rows})

    @get("/margins/detail/user")
    async def margins(request: Request[Any, Any, Any]) -> Response[Any]:
        return exact(_margins(account_of(sandbox, request)))

    return Router(path="/v1", route_handlers=[holdings, positions, margins])


def live_data_router(sandbox: GrowwSandbox) -> Router:
    """Last traded prices keyed ``EXCHANGE_SYMBOL``."""

    @get("/ltp")
    async def ltp(request: Request[Any, Any, Any]) -> Response[Any]:
        account_of(sandbox, request)
        if request.query_params.get("segment") not in SEGMENTS:
            raise fail(400, "segment is required")
        keys = request.query_params.getall("exchange_symbols", [])
        if not keys or len(keys) > LTP_LIMIT:
            raise fail(400, f"exchange_symbols takes 1 to {LTP_LIMIT} symbols")
        prices: dict[str, Decimal] = {}
        for key in keys:
            venue, _, symbol = key.partition("_")
            try:
                sandbox.exchange.instrument(symbol, venue)
            except KeyError:
                continue
            prices[key] = sandbox.exchange.last_price(symbol)
        return exact(prices)

    return Router(path="/v1/live-data", route_handlers=[ltp])
