"""Upstox last prices: ``GET /v3/market-quote/ltp?instrument_key=…`` (``reference/brokers.md``
§3.6; the v2 route carries a "Deprecated" badge in favour of v3).

Business rules: instruments are asked for by instrument key (``NSE_EQ|<ISIN>``), at most 500
keys a request; Upstox keys its answer ``NSE_EQ:SYMBOL``, so prices are matched back on each
row's ``instrument_token``. An instrument Upstox cannot be asked about (no ISIN, not an NSE or
BSE equity) or does not answer for is absent from the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashcore.domain.capabilities import Operation
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money
from dashcore.ports.brokers import QuoteReader
from dashcore_brokers.upstox.calls import UpstoxCalls
from dashcore_brokers.upstox.mapping import instrument_key, last_prices_from
from dashcore_brokers.upstox.wire import LTP

__all__ = ["LTP_PATH", "MAX_KEYS", "UpstoxQuoteReader"]

LTP_PATH = "/v3/market-quote/ltp"
MAX_KEYS = 500


class UpstoxQuoteReader(QuoteReader):
    def __init__(self, calls: UpstoxCalls) -> None:
        self._calls = calls

    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        self._calls.check(Operation.QUOTES)
        wanted: dict[str, str] = {}
        for instrument in instruments:
            key = instrument_key(instrument)
            if key is not None:
                wanted[key] = str(instrument.key)
        keys = list(wanted)
        prices: dict[str, Money] = {}
        for start in range(0, len(keys), MAX_KEYS):
            chunk = ",".join(keys[start : start + MAX_KEYS])
            answer = await self._calls.read(LTP, LTP_PATH, "quotes", {"instrument_key": chunk})
            prices.update(last_prices_from(answer.data, wanted))
        return prices
