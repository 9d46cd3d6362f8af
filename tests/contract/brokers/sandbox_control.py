"""The public broker contract (``dashcore.testing.broker_contract``) run against dashcore's own
adapters on their sandboxes.

:class:`ExchangeControl` is the :class:`~dashcore.testing.SandboxControl` over one broker
sandbox: it seeds and moves the sandbox's exchange engine directly, expires the tokens it
issued, arms its faults and counts the requests the adapter sent. :class:`SandboxContract`
builds everything the contract asks for from one :class:`BrokerBook`; a broker's test module
subclasses it and names its book.

Business rules the control keeps (``dashcore/testing/control.py``):

- every seeded item is new: holdings and positions are on instruments listed for the seeding
  (``DCH…``, ``DCP…``), never held before, so a listing grows by exactly the count seeded;
- seeded transactions are what the adapter reads as the ledger: cash lines (deposits, interest,
  fees) when it reads the broker's cash ledger, executions when it reads the trade history;
- seeded orders rotate through the statuses an order book holds: open, filled, cancelled,
  waiting for a stop trigger, rejected. They trade an instrument of their own (``DCO…``) that
  the contract never moves, so they never interfere with its orders;
- the lost answer is the sandbox's ``timeout_after_accept`` fault on the placement route: the
  order is placed, the sandbox then hangs and the adapter's own deadline ends the wait (the
  sessions here use a one-second deadline so that this costs one second).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

import pytest

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.instruments import Instrument
from dashcore.ports.brokers import BrokerGateway
from dashcore.testing import FakeClock, SandboxControl
from dashcore.testing.broker_contract import BrokerContract
from dashcore_brokers.sandbox import BrokerSandbox, FaultKind, FaultRule
from dashcore_brokers.sandbox.exchange import OrderKind, Product, Side, SimInstrument

from .conftest import open_session
from .harness import CASES, BrokerCase, Recorder, Session
from .timing import FakeTiming

__all__ = ["BrokerBook", "ExchangeControl", "Ledger", "SandboxContract"]

_SEED_PRICE = Decimal(100)
"""The last price of every instrument listed for seeding: cheap enough that hundreds of
seeded trades barely touch the account's cash."""
_FIRST_TOKEN = 700_000
"""Instrument tokens of seeded listings start here, clear of the seeded markets' tokens."""
_DEADLINE_SECONDS = 1.0
"""The adapters' total request deadline in these tests: ten times the slowest in-process request
(a 1,500-order book), and the real time that one lost answer costs."""


class Ledger(StrEnum):
    """What an adapter lists as the account's transactions."""

    CASH = "cash"
    """The broker's cash ledger: deposits, interest, fees, trades, dividends."""
    TRADES = "trades"
    """The broker's trade history: executions only."""


@dataclass(frozen=True, slots=True)
class BrokerBook:
    """One broker's sandbox as the contract sees it.

    ``case`` names the login in :data:`~.harness.CASES`; ``account_id`` is the account as the
    adapter names it and ``engine_account_id`` as the sandbox's exchange does; ``instrument``
    is the liquid instrument the contract trades (as the adapter names it); ``place_path`` is
    the fault pattern of the placement route; ``position_product`` is the engine product that
    the broker reports as a position rather than a holding.
    """

    case: str
    account_id: str
    engine_account_id: str
    instrument: Instrument
    place_path: str
    ledger: Ledger
    position_product: Product = Product.INTRADAY


class ExchangeControl(SandboxControl):
    """The contract's remote control over one broker sandbox and the exchange it trades on."""

    def __init__(self, sandbox: BrokerSandbox, book: BrokerBook, recorder: Recorder) -> None:
        self._sandbox = sandbox
        self._exchange = sandbox.exchange
        self._book = book
        self._recorder = recorder
        self._listing = self._exchange.instrument(book.instrument.symbol)
        self._tokens = itertools.count(_FIRST_TOKEN)
        self._orders = itertools.count()
        self._order_symbol = self._list("DCO")

    def __repr__(self) -> str:
        return f"ExchangeControl(case={self._book.case!r}, account={self._book.account_id!r})"

    @property
    def account_id(self) -> str:
        return self._book.account_id

    @property
    def instrument(self) -> Instrument:
        return self._book.instrument

    async def price(self, instrument: Instrument) -> Decimal:
        return self._exchange.last_price(instrument.symbol)

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        self._exchange.set_price(instrument.symbol, price)

    async def seed_holdings(self, count: int) -> None:
        for _ in range(count):
            symbol = self._list("DCH")
            self._exchange.seed_holding(
                self._book.engine_account_id, symbol, self._listing.lot_size, _SEED_PRICE
            )

    async def seed_positions(self, count: int) -> None:
        for _ in range(count):
            self._buy(self._list("DCP"), self._book.position_product)

    async def seed_transactions(self, count: int) -> None:
        account = self._book.engine_account_id
        if self._book.ledger is Ledger.TRADES:
            symbol = self._list("DCT")
            for _ in range(count):
                self._buy(symbol, Product.DELIVERY)
            return
        for number in range(1, count + 1):
            amount = Decimal(number) / 100
            match number % 3:
                case 0:
                    self._exchange.deposit(account, amount * 1000)
                case 1:
                    self._exchange.pay_interest(account, amount)
                case _:
                    self._exchange.charge_fee(account, amount)

    async def seed_orders(self, count: int) -> None:
        for _ in range(count):
            self._seed_order(next(self._orders))

    async def expire_credentials(self) -> None:
        self._sandbox.tokens.expire()

    async def arm_timeout_after_accept(self) -> None:
        self._sandbox.faults.add(
            FaultRule(
                path=self._book.place_path, method="POST", kind=FaultKind.TIMEOUT_AFTER_ACCEPT
            )
        )

    def requests_seen(self) -> int:
        return len(self._recorder.requests)

    # Internals -------------------------------------------------------------------------------

    def _list(self, prefix: str) -> str:
        """List a new instrument beside the contract's one (same venue, lot and tick)."""
        token = next(self._tokens)
        symbol = f"{prefix}{token - _FIRST_TOKEN:05d}"
        listing = self._listing
        self._exchange.add_instrument(
            SimInstrument(
                symbol,
                listing.exchange,
                listing.currency,
                listing.asset_class,
                name=f"Contract seed {symbol}",
                lot_size=listing.lot_size,
                tick_size=listing.tick_size,
                instrument_token=token,
            ),
            _SEED_PRICE,
        )
        return symbol

    def _buy(self, symbol: str, product: Product) -> None:
        order = self._exchange.place(
            self._book.engine_account_id,
            symbol=symbol,
            side=Side.BUY,
            quantity=self._listing.lot_size,
            kind=OrderKind.MARKET,
            product=product,
        )
        assert order.fills, f"a seeding market buy of {symbol} did not fill: {order.status_message}"

    def _seed_order(self, number: int) -> None:
        """The ``number``-th order of the seeding instrument, by ``number % 5``: 0 open, 1 filled,
        2 cancelled, 3 waiting for its stop trigger, 4 rejected (a sale of shares the account
        does not hold). Limit prices differ from one order to the next."""
        shape, tick, lot = number % 5, self._listing.tick_size, self._listing.lot_size
        below, above = _SEED_PRICE / 2, _SEED_PRICE * 2
        side, kind = Side.BUY, OrderKind.LIMIT
        price: Decimal | None = below - number % 100 * tick
        trigger: Decimal | None = None
        if shape == 1:
            kind, price = OrderKind.MARKET, None
        elif shape == 3:
            kind, price, trigger = OrderKind.STOP, None, above
        elif shape == 4:
            side = Side.SELL
        order = self._exchange.place(
            self._book.engine_account_id,
            symbol=self._order_symbol,
            side=side,
            quantity=lot,
            kind=kind,
            price=price,
            trigger_price=trigger,
        )
        if shape == 2:
            self._exchange.cancel(order.id)


class SandboxContract(BrokerContract):
    """The broker contract on one dashcore adapter and its sandbox; subclasses set ``book``."""

    book: ClassVar[BrokerBook]

    @pytest.fixture
    async def broker_session(
        self, sandboxes: dict[str, BrokerSandbox], clock: FakeClock, timing: FakeTiming
    ) -> AsyncIterator[Session]:
        """The adapter on its sandbox, with its default HTTP policy and a short deadline."""
        case = self._case()
        http = replace(
            case.plugin.default_config().http,
            connect_timeout=_DEADLINE_SECONDS,
            total_timeout=_DEADLINE_SECONDS,
        )
        session = await open_session(case.plugin, sandboxes, clock, timing, http=http)
        async with session.auth:
            yield session

    @pytest.fixture
    def gateway(self, broker_session: Session) -> BrokerGateway:
        gateway = broker_session.auth.gateway
        assert gateway is not None, f"{self.book.case} builds no gateway"
        return gateway

    @pytest.fixture
    async def credentials(self, broker_session: Session) -> ProviderCredentials:
        return await self._case().login(broker_session)

    @pytest.fixture
    def control(self, broker_session: Session) -> SandboxControl:
        return ExchangeControl(broker_session.sandbox, self.book, broker_session.recorder)

    @classmethod
    def _case(cls) -> BrokerCase:
        [case] = [case for case in CASES if case.id == cls.book.case]
        return case
