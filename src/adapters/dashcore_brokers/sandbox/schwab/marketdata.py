"""Schwab's market-data quotes over the exchange engine (``reference/brokers.md`` §1.6):
``GET /marketdata/v1/quotes?symbols=AAPL,MSFT[&fields=quote,reference][&indicative=false]``.

The answer is an object keyed by symbol: ``assetMainType``, ``assetSubType``, ``quoteType``
(``NBBO``), ``realtime``, ``ssid``, ``symbol`` and the blocks asked for in ``fields`` (default
all the sandbox has: ``quote`` with ``lastPrice`` and friends, ``reference``). How Schwab reports
an unknown symbol is UNCONFIRMED: the sandbox lists it under ``errors.invalidSymbols``.
``symbols`` is required (400). Errors use the Trader API's ``{"message", "errors"}`` body, the
documented one (the market-data error shape is UNCONFIRMED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.exchange import AssetClass, SimInstrument
from dashcore_brokers.sandbox.schwab.accounts import schwab_error
from dashcore_brokers.sandbox.schwab.render import schwab_json
from dashcore_brokers.sandbox.schwab.trader import authorized, correl_headers

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.schwab.sandbox import SchwabSandbox

__all__ = ["marketdata_router"]

_SUB_TYPE = {AssetClass.ETF: "ETF", AssetClass.MUTUAL_FUND: "MFO"}
_MAIN_TYPE = {AssetClass.MUTUAL_FUND: "MUTUAL_FUND"}


def marketdata_router(sandbox: SchwabSandbox) -> Router:
    """The quote route of the Schwab sandbox."""

    def entry(instrument: SimInstrument, fields: set[str]) -> dict[str, Any]:
        price = sandbox.exchange.last_price(instrument.symbol)
        millis = int(sandbox.clock.now().timestamp() * 1000)
        body: dict[str, Any] = {
            "assetMainType": _MAIN_TYPE.get(instrument.asset_class, "EQUITY"),
            "assetSubType": _SUB_TYPE.get(instrument.asset_class, "COE"),
            "quoteType": "NBBO",
            "realtime": True,
            "ssid": instrument.instrument_token,
            "symbol": instrument.symbol,
        }
        if not fields or "quote" in fields:
            body["quote"] = {
                "lastPrice": price,
                "mark": price,
                "bidPrice": price,
                "askPrice": price,
                "closePrice": price,
                "openPrice": price,
                "highPrice": price,
                "lowPrice": price,
                "netChange": 0,
                "netPercentChange": 0,
                "totalVolume": 0,
                "quoteTime": millis,
                "tradeTime": millis,
            }
        if not fields or "reference" in fields:
            body["reference"] = {
                "description": instrument.name,
                "exchangeName": instrument.exchange,
            }
        return body

    @get("/quotes")
    async def quotes(request: Request[Any, Any, Any]) -> Response[bytes]:
        authorized(request, sandbox)
        symbols = [s for s in (request.query_params.get("symbols") or "").split(",") if s]
        if not symbols:
            raise schwab_error(400, "Bad request", "symbols is required")
        fields = {f for f in (request.query_params.get("fields") or "").split(",") if f}
        body: dict[str, Any] = {}
        invalid = []
        for symbol in dict.fromkeys(symbols):
            try:
                instrument = sandbox.exchange.instrument(symbol)
            except KeyError:
                invalid.append(symbol)
                continue
            body[symbol] = entry(instrument, fields)
        if invalid:
            body["errors"] = {"invalidSymbols": invalid}
        return schwab_json(200, body, correl_headers())

    return Router(path="/marketdata/v1", route_handlers=[quotes])
