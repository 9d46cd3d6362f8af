"""Control routes over a sandbox's exchange, beside the other ``/__sandbox__`` routes.

- ``GET /__sandbox__/prices``: every symbol's last price → ``[{"symbol", "price"}]``;
- ``POST /__sandbox__/prices``: ``{"symbol": "INFY", "price": "1510.05"}`` moves the price and
  matches resting orders → ``{"symbol", "price", "fills": [...]}`` (404 unknown symbol, 400 a
  price that is not positive or off the tick);
- ``POST /__sandbox__/end-of-day``: closes the trading day (expiries, intraday square-off,
  settlement) → 204;
- ``POST /__sandbox__/accounts/{id}/deposit``: ``{"amount": "1000.00"}`` adds cash → 201 with
  the ledger line and the new cash balance (404 unknown account, 400 an amount that is not
  positive).

Money travels as JSON strings (numbers are accepted on input). Errors are plain
``{"error": "…"}`` bodies, like every control route.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from litestar import Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody

from dashcore_brokers.sandbox.control import CONTROL_PREFIX, control_error
from dashcore_brokers.sandbox.exchange.engine import Exchange
from dashcore_brokers.sandbox.exchange.model import SimFill

__all__ = ["DepositSpec", "PriceMove", "exchange_control_router"]


class PriceMove(msgspec.Struct, forbid_unknown_fields=True):
    """A new last price for one symbol."""

    symbol: str
    price: Decimal


class DepositSpec(msgspec.Struct, forbid_unknown_fields=True):
    """Cash to add to an account."""

    amount: Decimal
    description: str = "Deposit"


def _fill_view(fill: SimFill) -> dict[str, object]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "quantity": str(fill.quantity),
        "price": str(fill.price),
        "charges": str(fill.charges),
        "at": fill.at.isoformat(),
    }


def exchange_control_router(exchange: Exchange) -> Router:
    """The ``/__sandbox__`` routes acting on ``exchange``."""

    @get("/prices")
    async def list_prices() -> list[dict[str, str]]:
        symbols = dict.fromkeys(i.symbol for i in exchange.list_instruments())
        return [{"symbol": s, "price": str(exchange.last_price(s))} for s in symbols]

    @post("/prices", status_code=200)
    async def move_price(data: JSONBody[PriceMove]) -> dict[str, object]:
        try:
            fills = exchange.set_price(data.symbol, data.price)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=f"unknown symbol: {data.symbol}") from exc
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return {
            "symbol": data.symbol,
            "price": str(exchange.last_price(data.symbol)),
            "fills": [_fill_view(fill) for fill in fills],
        }

    @post("/end-of-day", status_code=204)
    async def end_of_day() -> None:
        exchange.end_of_day()

    @post("/accounts/{account_id:str}/deposit", status_code=201)
    async def deposit(account_id: FromPath[str], data: JSONBody[DepositSpec]) -> dict[str, object]:
        try:
            line = exchange.deposit(account_id, data.amount, description=data.description)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail="no such account") from exc
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return {
            "id": line.id,
            "kind": line.kind.value,
            "amount": str(line.amount),
            "at": line.at.isoformat(),
            "cash": str(exchange.account(account_id).cash),
        }

    return Router(
        path=CONTROL_PREFIX,
        route_handlers=[list_prices, move_price, end_of_day, deposit],
        exception_handlers={HTTPException: control_error},
    )
