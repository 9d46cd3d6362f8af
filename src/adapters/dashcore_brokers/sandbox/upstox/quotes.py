"""Upstox last prices over the sandbox's exchange (``reference/brokers.md`` §3.6).

``GET /v2/market-quote/ltp`` and ``/v3/market-quote/ltp`` take ``instrument_key`` (comma
separated, at most 500: more is 400 ``UDAPI100043``; a key that is not ``SEGMENT|CODE`` is 400
``UDAPI1087``) and answer keyed ``NSE_EQ:SYMBOL`` with the requested key in
``instrument_token``; a well-formed key the exchange does not list is left out. v3 adds
``ltq``, ``volume`` and ``cp`` (previous close: the sandbox has none and sends the last price).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get

from dashcore_brokers.sandbox.upstox.render import instrument_key, respond
from dashcore_brokers.sandbox.upstox.user import authorized
from dashcore_brokers.sandbox.upstox.wire import fail

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.upstox.sandbox import UpstoxSandbox

__all__ = ["quotes_router"]

_MAX_KEYS = 500


def quotes_router(sandbox: UpstoxSandbox) -> Router:
    exchange = sandbox.exchange

    def answer(request: Request[Any, Any, Any], *, v3: bool) -> Response[Any]:
        authorized(request, sandbox)
        raw = request.query_params.get("instrument_key")
        if not raw:
            raise fail(400, "UDAPI100036", "Invalid input: instrument_key", "instrument_key")
        keys = raw.split(",")
        if len(keys) > _MAX_KEYS:
            raise fail(400, "UDAPI100043", "Maximum 500 instrument keys allowed", "instrument_key")
        if not all(key.count("|") == 1 and all(key.split("|")) for key in keys):
            raise fail(400, "UDAPI1087", "Invalid Instrument key", "instrument_key")
        listings = {instrument_key(listing): listing for listing in exchange.list_instruments()}
        data: dict[str, object] = {}
        for key in keys:
            listing = listings.get(key)
            if listing is None:
                continue
            last = exchange.last_price(listing.symbol)
            row: dict[str, object] = {"last_price": last, "instrument_token": key}
            if v3:
                row |= {"ltq": 1, "volume": 0, "cp": last}
            segment = key.partition("|")[0]
            data[f"{segment}:{listing.symbol}"] = row
        return respond(200, {"status": "success", "data": data})

    @get("/v2/market-quote/ltp")
    async def ltp_v2(request: Request[Any, Any, Any]) -> Response[Any]:
        return answer(request, v3=False)

    @get("/v3/market-quote/ltp")
    async def ltp_v3(request: Request[Any, Any, Any]) -> Response[Any]:
        return answer(request, v3=True)

    return Router(path="/", route_handlers=[ltp_v2, ltp_v3])
