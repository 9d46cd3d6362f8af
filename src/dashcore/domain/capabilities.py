"""What a provider can do: its capability map (issue #6).

Each provider declares which operations, order types, products and validities it supports,
whether it keeps a client reference it can be searched by, and whether it pushes updates.
Asking for anything else is :class:`~dashcore.domain.errors.NotSupported` before any call to
the provider, naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from dashcore.domain.errors import NotSupported
from dashcore.domain.orders import OrderRequest, OrderType, Product, Validity

__all__ = ["CapabilityMap", "ClientReference", "Operation"]


class Operation(StrEnum):
    ACCOUNTS = "accounts"
    BALANCES = "balances"
    HOLDINGS = "holdings"
    POSITIONS = "positions"
    TRANSACTIONS = "transactions"
    QUOTES = "quotes"
    PLACE_ORDER = "place_order"
    MODIFY_ORDER = "modify_order"
    CANCEL_ORDER = "cancel_order"
    GET_ORDER = "get_order"
    LIST_ORDERS = "list_orders"
    FILLS = "fills"
    FIND_BY_CLIENT_REFERENCE = "find_by_client_reference"


class ClientReference(StrEnum):
    ECHOED = "echoed"
    """The provider stores our reference and returns it (Kite/Upstox ``tag``, Groww
    ``order_reference_id``): an order is found again by it."""
    MATCHED_BY_FIELDS = "matched_by_fields"
    """The provider keeps none (Schwab): reconciliation matches account, instrument, side,
    quantity, type, prices and placement time."""


@dataclass(frozen=True, slots=True)
class CapabilityMap:
    operations: frozenset[Operation]
    order_types: frozenset[OrderType]
    products: frozenset[Product]
    validities: frozenset[Validity]
    client_reference: ClientReference
    push_updates: bool = False
    max_client_reference_length: int = 20
    positions_include_holdings: bool = False
    """The provider lists its holdings among its positions too (Schwab's position lines are
    every share held): what an account holds of an instrument is then its positions alone."""
    day_order_book: tzinfo | None = None
    """Where the provider's order book holds only the current day's orders (the Indian brokers:
    the calendar day in India), that day's zone; ``None`` where it reaches back further."""

    def lists_orders_sent_at(self, sent_at: datetime, now: datetime) -> bool:
        """Whether the order book read at ``now`` still holds an order sent at ``sent_at``:
        if not, not finding it there proves nothing."""
        zone = self.day_order_book
        return zone is None or sent_at.astimezone(zone).date() == now.astimezone(zone).date()

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations

    def require(self, operation: Operation, provider: str) -> None:
        if operation not in self.operations:
            raise NotSupported(f"{provider} does not support {operation}.", code="not_supported")

    def check_order(self, request: OrderRequest, provider: str) -> None:
        """Refuse an order the provider cannot take, naming the first unsupported field."""
        self.require(Operation.PLACE_ORDER, provider)
        for value, supported, field in (
            (request.type, self.order_types, "type"),
            (request.product, self.products, "product"),
            (request.validity, self.validities, "validity"),
        ):
            if value not in supported:
                raise NotSupported(
                    f"{provider} does not take {field} {value}; it takes "
                    + ", ".join(sorted(str(s) for s in supported))
                    + ".",
                    code=f"unsupported_{field}",
                )
        if len(request.client_reference) > self.max_client_reference_length:
            raise NotSupported(
                f"{provider} keeps client references of at most "
                f"{self.max_client_reference_length} characters.",
                code="unsupported_client_reference",
            )
