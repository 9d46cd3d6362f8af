"""The example broker's :class:`~dashcore.testing.SandboxControl`: the harness's remote control
over :class:`~.exchange.ExampleExchange`."""

from __future__ import annotations

from decimal import Decimal

from dashcore.domain.instruments import Instrument
from dashcore.testing import SandboxControl

from .exchange import ExampleExchange
from .gateway import instrument


class ExampleControl(SandboxControl):
    def __init__(self, exchange: ExampleExchange) -> None:
        self._exchange = exchange

    @property
    def account_id(self) -> str:
        return self._exchange.account_id

    @property
    def instrument(self) -> Instrument:
        return instrument("ACME")

    async def price(self, instrument: Instrument) -> Decimal:
        return self._exchange.prices[instrument.symbol]

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        self._exchange.set_price(instrument.symbol, price)

    async def seed_holdings(self, count: int) -> None:
        self._exchange.seed_holdings(count)

    async def seed_positions(self, count: int) -> None:
        self._exchange.seed_positions(count)

    async def seed_transactions(self, count: int) -> None:
        self._exchange.seed_transactions(count)

    async def seed_orders(self, count: int) -> None:
        self._exchange.seed_orders(count)

    async def expire_credentials(self) -> None:
        self._exchange.expire_tokens()

    async def arm_timeout_after_accept(self) -> None:
        self._exchange.lose_next_place_answer()

    def requests_seen(self) -> int:
        return self._exchange.requests
