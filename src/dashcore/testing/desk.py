"""The harness's trading desk: builds the orders the broker contract places, and names every
operation of a capability map as a call on a broker session.

Orders are one lot of the control's instrument, bought (the harness never sells), on the
provider's default product and validity (``delivery`` and ``day`` when supported). Every
request has a fresh client reference and, for providers that match by fields, a limit price no
earlier request used, so that exactly one order answers to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

from dashcore.domain.capabilities import CapabilityMap, Operation
from dashcore.domain.orders import (
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
    Validity,
)
from dashcore.ports.brokers import BrokerSession
from dashcore.testing.control import SandboxControl

__all__ = ["Desk"]

_RESTING_DISCOUNT = Decimal("0.8")
"""Resting buy orders sit at 80% of the price, far from any move the harness makes."""


E = TypeVar("E", Product, Validity)


def _preferred(supported: frozenset[E], default: E, what: str) -> E:
    if default in supported:
        return default
    assert supported, f"the capability map declares no {what}"
    return sorted(supported, key=str)[0]


@dataclass(slots=True)
class Desk:
    """One test's view of the adapter under test and its sandbox."""

    session: BrokerSession
    capabilities: CapabilityMap
    control: SandboxControl
    _references: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def account_id(self) -> str:
        return self.control.account_id

    @property
    def tick(self) -> Decimal:
        return self.control.instrument.tick_size

    def on_tick(self, price: Decimal) -> Decimal:
        """``price`` rounded down to the instrument's tick (never below one tick)."""
        ticks = (price / self.tick).to_integral_value(rounding=ROUND_FLOOR)
        return max(ticks, Decimal(1)) * self.tick

    def declares(self, operation: Operation) -> bool:
        return self.capabilities.supports(operation)

    @property
    def trades(self) -> bool:
        return self.declares(Operation.PLACE_ORDER)

    def reference(self, number: int | None = None) -> str:
        """A client reference no earlier request of this test used."""
        # Eight characters at least: some brokers refuse shorter references (Groww: 8-20).
        text = f"dc{next(self._references) if number is None else number:06d}"
        return text[-self.capabilities.max_client_reference_length :]

    def request(
        self,
        order_type: OrderType,
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        product: Product | None = None,
        validity: Validity | None = None,
        reference: str | None = None,
    ) -> OrderRequest:
        caps = self.capabilities
        return OrderRequest(
            provider_account_id=self.account_id,
            instrument=self.control.instrument,
            side=OrderSide.BUY,
            type=order_type,
            quantity=self.control.instrument.lot_size,
            client_reference=reference or self.reference(),
            product=product or _preferred(caps.products, Product.DELIVERY, "product"),
            validity=validity or _preferred(caps.validities, Validity.DAY, "validity"),
            limit_price=limit_price,
            stop_price=stop_price,
        )

    def priced(
        self,
        order_type: OrderType,
        price: Decimal,
        *,
        product: Product | None = None,
        validity: Validity | None = None,
        reference: str | None = None,
    ) -> OrderRequest:
        """A request of ``order_type`` with ``price`` as each price that type needs."""
        return self.request(
            order_type,
            limit_price=price if order_type.needs_limit_price else None,
            stop_price=price if order_type.needs_stop_price else None,
            product=product,
            validity=validity,
            reference=reference,
        )

    async def resting(self) -> OrderRequest:
        """A limit buy far below the price: it rests until cancelled. Its price is one tick
        below the previous resting order's, so no two resting orders share their fields."""
        assert OrderType.LIMIT in self.capabilities.order_types, (
            "the harness needs limit orders to have an order that rests; the capability map "
            "declares none"
        )
        price = await self.control.price(self.control.instrument)
        number = next(self._references)
        limit = self.on_tick(price * _RESTING_DISCOUNT - number % 1000 * self.tick)
        return self.request(OrderType.LIMIT, limit_price=limit, reference=self.reference(number))

    async def marketable(self) -> OrderRequest:
        """A buy that fills at once: a market order, or a limit above the price."""
        if OrderType.MARKET in self.capabilities.order_types:
            return self.request(OrderType.MARKET)
        price = await self.control.price(self.control.instrument)
        return self.request(OrderType.LIMIT, limit_price=self.on_tick(price) + 5 * self.tick)

    def modified(self, request: OrderRequest) -> Decimal:
        """The limit price the harness modifies ``request``'s order to: one tick lower."""
        return max((request.limit_price or 2 * self.tick) - self.tick, self.tick)

    def calls(
        self, order_id: str, request: OrderRequest
    ) -> dict[Operation, Callable[[], Awaitable[object]]]:
        """One call per operation, on ``order_id`` where it needs an order."""
        account = self.account_id
        accounts = self.session.accounts
        orders = self.session.orders
        return {
            Operation.ACCOUNTS: lambda: accounts.accounts(),
            Operation.BALANCES: lambda: accounts.balance(account),
            Operation.HOLDINGS: lambda: accounts.holdings(account),
            Operation.POSITIONS: lambda: accounts.positions(account),
            Operation.TRANSACTIONS: lambda: accounts.transactions(account),
            Operation.QUOTES: lambda: self.session.quotes.last_prices([self.control.instrument]),
            Operation.PLACE_ORDER: lambda: orders.place(request),
            Operation.MODIFY_ORDER: lambda: orders.modify(
                account, order_id, OrderChange(limit_price=self.modified(request))
            ),
            Operation.CANCEL_ORDER: lambda: orders.cancel(account, order_id),
            Operation.GET_ORDER: lambda: orders.get(account, order_id),
            Operation.LIST_ORDERS: lambda: orders.list(account),
            Operation.FILLS: lambda: orders.fills(account, order_id),
            Operation.FIND_BY_CLIENT_REFERENCE: lambda: orders.find_by_client_reference(
                account, request
            ),
        }
