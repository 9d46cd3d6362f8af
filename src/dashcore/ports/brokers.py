"""Ports of the broker gateway (issue #6): reading accounts, trading, quotes.

Narrow and role-named, each bound to one connection's credentials by the provider's
:class:`BrokerGateway` factory. Adapters decode each broker's wire format with decoders built
once and map it to :mod:`dashcore.domain.portfolio` / :mod:`dashcore.domain.orders`:

* every provider status maps to exactly one :class:`~dashcore.domain.orders.OrderStatus`; an
  unknown spelling is an ``IntegrityError`` (``unknown_provider_status``) that is logged and
  surfaced, never guessed;
* every provider error body maps to the domain taxonomy (``ReauthRequired`` for dead
  credentials, ``RateLimited``, ``ProviderUnavailable``, ``InvalidInput`` for a refused order,
  ``NotFound`` for an unknown order);
* money and quantities are exact ``Decimal`` (JSON numbers are decoded as ``Decimal``, never
  through ``float``);
* listings are complete: following ``next_cursor`` until it is ``None`` yields every item once.

Placing an order never retries blindly: a timeout or a lost answer after sending raises
``OrderStateUnknown`` so the caller reconciles by client reference (ORD-2); a placement that
provably never left (no connection could be opened, ``provider_unreachable``; an open circuit,
``provider_circuit_open``) is ``ProviderUnavailable`` and may be sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dashcore.domain.capabilities import CapabilityMap
from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money
from dashcore.domain.orders import Fill, Order, OrderChange, OrderRequest
from dashcore.domain.portfolio import Account, Balance, Holding, Page, Position, Transaction

__all__ = [
    "AccountReader",
    "BrokerGateway",
    "BrokerSession",
    "OrderGateway",
    "PayloadRecorder",
    "QuoteReader",
]


class AccountReader(Protocol):
    async def accounts(self) -> Sequence[Account]: ...

    async def balance(self, account_id: str) -> Balance: ...

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]: ...

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]: ...

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        """The ledger, oldest first; re-reading with the same cursor gives the same page."""
        ...


class OrderGateway(Protocol):
    async def place(self, request: OrderRequest) -> Order:
        """Submit; the answer as the provider gave it (``submitted`` or later). A timeout, a
        lost connection or a 5xx after sending is ``OrderStateUnknown``, never a second
        submission; ``ProviderUnavailable`` means nothing was sent (``provider_unreachable``:
        no connection could be opened; ``provider_circuit_open``)."""
        ...

    async def modify(self, account_id: str, order_id: str, change: OrderChange) -> Order: ...

    async def cancel(self, account_id: str, order_id: str) -> Order: ...

    async def get(self, account_id: str, order_id: str) -> Order: ...

    async def list(self, account_id: str, *, cursor: str | None = None) -> Page[Order]: ...

    async def fills(self, account_id: str, order_id: str) -> Sequence[Fill]: ...

    async def find_by_client_reference(
        self, account_id: str, request: OrderRequest
    ) -> Order | None:
        """The order this request created, if the provider has it: by the echoed reference, or
        (providers that keep none) by matching its fields."""
        ...


class QuoteReader(Protocol):
    async def last_prices(self, instruments: Sequence[Instrument]) -> dict[str, Money]:
        """Last traded price by ``str(instrument.key)`` for the instruments the provider knows
        (an unknown one is simply absent)."""
        ...


class BrokerSession(Protocol):
    """One connection's view of a broker: the three roles on the same credentials."""

    @property
    def accounts(self) -> AccountReader: ...

    @property
    def orders(self) -> OrderGateway: ...

    @property
    def quotes(self) -> QuoteReader: ...


class PayloadRecorder(Protocol):
    """Receives the raw body of every successful read of a session, as the provider sent it,
    so that normalized data can be derived again after a mapper fix (issue #7). ``kind`` is
    the request path (without its query). It must neither block nor raise."""

    def record(self, kind: str, body: bytes) -> None: ...


class BrokerGateway(Protocol):
    """A provider's data and trading side: what it can do, and sessions on credentials."""

    @property
    def capabilities(self) -> CapabilityMap: ...

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> BrokerSession:
        """A session on ``credentials``; with a ``recorder``, each read's raw body goes to it."""
        ...
