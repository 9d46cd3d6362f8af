"""A deliberately broken example adapter: three bugs the broker contract must catch.

1. a wrong status table: the broker's ``CANCELLED`` is read as ``open``;
2. float money: holding quantities go through ``float``;
3. missing pagination: holdings stop after the first page (the cursor is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

from dashcore.domain.capabilities import Operation
from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.orders import OrderStatus
from dashcore.domain.portfolio import Holding, Page
from dashcore.ports.brokers import BrokerSession, PayloadRecorder

from .exchange import Wire
from .gateway import (
    CAPABILITIES,
    PROVIDER,
    STATUSES,
    Connection,
    ExampleAccounts,
    ExampleGateway,
    ExampleOrders,
    ExampleSession,
)


class BrokenAccounts(ExampleAccounts):
    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        CAPABILITIES.require(Operation.HOLDINGS, PROVIDER)
        page = await super().holdings(account_id, cursor=cursor)
        return Page(page.items)  # bug 3: next_cursor dropped

    def holding(self, account_id: str, row: Wire) -> Holding:
        right = super().holding(account_id, row)
        quantity = float(Decimal(row["qty"]))  # bug 2: float money
        return Holding(
            account_id,
            right.instrument,
            quantity,  # type: ignore[arg-type]
            right.average_cost,
            right.last_price,
            right.market_value,
        )


class BrokenOrders(ExampleOrders):
    statuses: ClassVar[Mapping[str, OrderStatus]] = {
        **STATUSES,
        "CANCELLED": OrderStatus.OPEN,
    }  # bug 1: wrong status mapping


class BrokenSession(ExampleSession):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._accounts = BrokenAccounts(connection)
        self._orders = BrokenOrders(connection)


class BrokenGateway(ExampleGateway):
    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> BrokerSession:
        return BrokenSession(Connection(self._exchange, credentials))
