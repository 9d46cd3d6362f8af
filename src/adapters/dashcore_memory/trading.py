"""Placed orders, idempotency keys and the instrument catalog in memory (embedded default,
fast tests).

Orders are frozen, so they are stored as they are. ``save`` is an optimistic lock: it compares
the version it was given with the stored one in this unit of work, and the commit is refused
(``order_version_conflict``) if another unit of work committed the order meanwhile, as the SQL
adapter's versioned ``UPDATE`` refuses the second of two concurrent saves. An idempotency key is
claimed by inserting a *claim* row keyed by the user, the key hash and the record it replaces
(none, or an expired one): of two units of work claiming the same key, the second to commit
fails with ``Conflict``, as the SQL adapter's unique constraint does. Within one unit of work,
or when each commits before the next reads, the calls answer exactly as the SQL adapter does.
``lock`` takes no lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.instruments import Instrument, InstrumentKey
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import placed_value
from dashcore.domain.orders import OrderStatus
from dashcore.domain.trading import IdempotencyRecord, OrderCursor, OrderFilters, PlacedOrder
from dashcore.ports.trading import IdempotencyRepository, InstrumentCatalog, OrderRepository
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryIdempotencyRepository", "MemoryInstrumentCatalog", "MemoryOrderRepository"]

ORDERS = "placed_orders"
KEYS = "idempotency_keys"
CLAIMS = "idempotency_claims"

_OPEN = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.CANCEL_REQUESTED,
    }
)
_UNSETTLED = frozenset({OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT})


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError("limit must not be negative")


class MemoryOrderRepository(OrderRepository):
    """Answers as the SQL adapter does: see :class:`dashcore.ports.trading.OrderRepository`."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[PlacedOrder]:
        return [order for _, order in self._uow.rows(ORDERS)]

    @staticmethod
    def _unique(order: PlacedOrder) -> tuple[tuple[str, object], ...]:
        if order.broker_order_id is None:
            return ()
        return (("broker_order", (order.provider, order.broker_order_id)),)

    async def add(self, order: PlacedOrder) -> None:
        self._uow.put(
            ORDERS,
            order.id,
            order,
            insert=True,
            unique=self._unique(order),
            exists_code="order_exists",
        )

    async def get(self, order_id: UUID) -> PlacedOrder | None:
        order: PlacedOrder | None = self._uow.get(ORDERS, order_id)
        return order

    async def lock(self, order_id: UUID) -> PlacedOrder | None:
        return await self.get(order_id)

    async def save(self, order: PlacedOrder) -> PlacedOrder:
        stored = await self.get(order.id)
        if stored is None or stored.user_id != order.user_id:
            raise NotFound("No such order.", code="order_not_found")
        if stored.version != order.version:
            raise Conflict("The order changed since it was read.", code="order_version_conflict")
        saved = replace(order, version=order.version + 1)
        self._uow.put(
            ORDERS,
            order.id,
            saved,
            unique=self._unique(saved),
            if_unchanged="order_version_conflict",
        )
        return saved

    async def by_idempotency(self, user_id: UUID, key_hash: str) -> PlacedOrder | None:
        owned = [
            order
            for order in self._all()
            if order.user_id == user_id and order.idempotency_key_hash == key_hash
        ]
        return max(owned, key=lambda order: OrderCursor.after(order).key(), default=None)

    async def by_broker_order_id(self, provider: str, broker_order_id: str) -> PlacedOrder | None:
        for order in self._all():
            if order.provider == provider and order.broker_order_id == broker_order_id:
                return order
        return None

    async def unbound_by_client_reference(
        self, provider: str, client_reference: str
    ) -> PlacedOrder | None:
        for order in self._all():
            if (
                order.status in _UNSETTLED
                and order.provider == provider
                and order.client_reference == client_reference
            ):
                return order
        return None

    async def list_for_user(
        self,
        user_id: UUID,
        filters: OrderFilters,
        *,
        after: OrderCursor | None = None,
        limit: int = 50,
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        rows = [
            order
            for order in self._all()
            if order.user_id == user_id
            and filters.matches(order)
            and (after is None or OrderCursor.after(order).key() < after.key())
        ]
        rows.sort(key=lambda order: OrderCursor.after(order).key(), reverse=True)
        return rows[:limit]

    async def value_placed(
        self,
        user_id: UUID,
        currency: Currency,
        day: tuple[datetime, datetime],
        *,
        leaving_out: UUID | None = None,
    ) -> Decimal:
        start, end = day
        of_day = (o for o in self._all() if o.user_id == user_id and start <= o.created_at < end)
        return placed_value(of_day, currency, leaving_out=leaving_out)

    async def needing_reconciliation(
        self, changed_before: datetime, *, due_at: datetime, limit: int
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        rows = [
            order
            for order in self._all()
            if order.status in _UNSETTLED
            and order.status_changed_at < changed_before
            and (order.reconcile_after is None or order.reconcile_after <= due_at)
        ]
        rows.sort(key=lambda order: (order.status_changed_at, order.id))
        return rows[:limit]

    async def open_orders(
        self, *, after: OrderCursor | None = None, limit: int
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        rows = [
            order
            for order in self._all()
            if order.status in _OPEN
            and (after is None or OrderCursor.after(order).key() > after.key())
        ]
        rows.sort(key=lambda order: OrderCursor.after(order).key())
        return rows[:limit]


class MemoryIdempotencyRepository(IdempotencyRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID, key_hash: str) -> IdempotencyRecord | None:
        record: IdempotencyRecord | None = self._uow.get(KEYS, (user_id, key_hash))
        return record

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        key = (record.user_id, record.key_hash)
        held = await self.get(record.user_id, record.key_hash)
        if held is not None and not held.is_expired(record.created_at):
            return held
        replaced = None if held is None else held.created_at
        self._uow.put(CLAIMS, (*key, replaced), record.created_at, insert=True)
        self._uow.put(KEYS, key, record)
        return None

    async def delete_expired(self, before: datetime) -> int:
        doomed = [key for key, record in self._uow.rows(KEYS) if record.expires_at < before]
        for key in doomed:
            self._uow.delete(KEYS, key)
        claims = [
            key for key, _ in self._uow.rows(CLAIMS) if isinstance(key, tuple) and key[:2] in doomed
        ]
        for key in claims:
            self._uow.delete(CLAIMS, key)
        return len(doomed)


class MemoryInstrumentCatalog(InstrumentCatalog):
    """A fixed list of instruments per provider (the sandboxes' listings, or an embedder's)."""

    def __init__(self, listings: Mapping[str, Iterable[Instrument]]) -> None:
        self._known = {
            provider: {instrument.key: instrument for instrument in instruments}
            for provider, instruments in listings.items()
        }

    async def find(self, provider: str, key: InstrumentKey) -> Instrument | None:
        return self._known.get(provider, {}).get(key)
