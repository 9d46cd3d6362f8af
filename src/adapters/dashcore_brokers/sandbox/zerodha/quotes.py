"""Kite quote routes over the exchange engine (``reference/brokers.md`` §2.6).

``GET /quote/ltp?i=NSE:INFY&i=NSE:SBIN`` → ``{"NSE:INFY": {"instrument_token", "last_price"}}``
keyed ``EXCHANGE:TRADINGSYMBOL``; an instrument the exchange does not list is left out; no
``i`` at all is 400 ``InputException``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.zerodha.records import kite_success
from dashcore_brokers.sandbox.zerodha.user import authorized
from dashcore_brokers.sandbox.zerodha.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.zerodha.sandbox import KiteSandbox

__all__ = ["quotes_router"]


def quotes_router(sandbox: KiteSandbox) -> Router:
    """``/quote`` of the Kite sandbox."""

    @get("/ltp")
    async def ltp(request: Request[Any, Any, Any]) -> Response[Any]:
        authorized(request, sandbox)
        keys = [key for key in request.query_params.getall("i", []) if key]
        if not keys:
            raise fail(
                400, "No instruments given: pass `i=EXCHANGE:TRADINGSYMBOL`.", "InputException"
            )
        data: dict[str, object] = {}
        for key in keys:
            exchange, _, symbol = key.partition(":")
            try:
                instrument = sandbox.exchange.instrument(symbol, exchange)
            except KeyError:
                continue
            data[key] = {
                "instrument_token": instrument.instrument_token,
                "last_price": sandbox.exchange.last_price(symbol),
            }
        return kite_success(data)

    return Router(path="/quote", route_handlers=[ltp])
