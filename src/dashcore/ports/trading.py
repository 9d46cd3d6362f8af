"""Ports of trading (issue #8): where placed orders and idempotency keys are kept, and where
instruments are looked up before an order is checked.

Contract the use cases rely on, from the broker gateway's ``OrderGateway.place``
(:mod:`dashcore.ports.brokers`):

* ``OrderStateUnknown``: bytes may have reached the broker (a timeout, a reset, a 5xx, an
  unreadable answer after sending). The order goes ``unknown`` and only reconciliation by client
  reference settles it; it is **never** sent again.
* ``ProviderUnavailable``: nothing was sent (``provider_unreachable``: a connection that could
  not be opened, refused or timed out while connecting; ``provider_circuit_open``). Safe to try
  again, within the order's submit deadline.
* ``RateLimited``: the broker refused to take the request (a 429 is "not placed"); nothing to
  reconcile.
* ``InvalidInput`` / ``NotSupported`` / ``ReauthRequired``: the broker refused the order; it
  does not exist there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from dashcore.domain.instruments import Instrument, InstrumentKey
from dashcore.domain.money import Currency
from dashcore.domain.trading import IdempotencyRecord, OrderCursor, OrderFilters, PlacedOrder

__all__ = ["IdempotencyRepository", "InstrumentCatalog", "OrderRepository"]


class OrderRepository(Protocol):
    async def add(self, order: PlacedOrder) -> None:
        """Insert a new order (``Conflict`` ``order_exists`` when the id is taken)."""
        ...

    async def get(self, order_id: UUID) -> PlacedOrder | None: ...

    async def lock(self, order_id: UUID) -> PlacedOrder | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, order: PlacedOrder) -> PlacedOrder:
        """Store ``order`` if the stored row still has ``order.version`` (optimistic lock) and
        return it with ``version + 1``; otherwise ``Conflict`` (``order_version_conflict``):
        someone saved a newer state since it was read."""
        ...

    async def by_idempotency(self, user_id: UUID, key_hash: str) -> PlacedOrder | None:
        """The order the user created with this idempotency key (its hash)."""
        ...

    async def by_broker_order_id(self, provider: str, broker_order_id: str) -> PlacedOrder | None:
        """The order bound to this broker order (webhooks and polls name the broker's id)."""
        ...

    async def unbound_by_client_reference(
        self, provider: str, client_reference: str
    ) -> PlacedOrder | None:
        """Our ``pending_submit`` or ``unknown`` order sent to ``provider`` with this client
        reference: not yet bound to a broker order (a webhook can name the reference before
        the placement's answer is stored)."""
        ...

    async def list_for_user(
        self,
        user_id: UUID,
        filters: OrderFilters,
        *,
        after: OrderCursor | None = None,
        limit: int = 50,
    ) -> Sequence[PlacedOrder]:
        """The user's orders matching ``filters``, newest first by ``(created_at, id)``; with
        ``after``, only those strictly older than that position (keyset, never OFFSET)."""
        ...

    async def value_placed(
        self,
        user_id: UUID,
        currency: Currency,
        day: tuple[datetime, datetime],
        *,
        leaving_out: UUID | None = None,
    ) -> Decimal:
        """What the user's orders created in ``[start, end)`` count towards a daily value
        limit in ``currency`` (``dashcore.domain.order_limits.placed_value``: every order but
        the rejected ones and ``leaving_out``), in one read however many orders the day has.
        On a database, another transaction reading the same user's total waits until this
        one ends, so that a placement's check and its order's write are not interleaved with
        another's (the in-memory store, one process for tests, isolates nothing)."""
        ...

    async def needing_reconciliation(
        self, changed_before: datetime, *, due_at: datetime, limit: int
    ) -> Sequence[PlacedOrder]:
        """``unknown`` and ``pending_submit`` orders whose status last changed before
        ``changed_before`` (the grace period) and whose ``reconcile_after`` (the backoff) is
        unset or not after ``due_at``, longest waiting first."""
        ...

    async def open_orders(
        self, *, after: OrderCursor | None = None, limit: int
    ) -> Sequence[PlacedOrder]:
        """Orders the broker holds and that are not final (``submitted``, ``open``,
        ``partially_filled``, ``cancel_requested``), oldest first by ``(created_at, id)``;
        with ``after``, only those strictly newer: a polling job pages through all of them."""
        ...


class IdempotencyRepository(Protocol):
    async def get(self, user_id: UUID, key_hash: str) -> IdempotencyRecord | None:
        """The record holding this key of this user, expired or not (the caller checks)."""
        ...

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Claim ``record.key_hash`` for ``record.user_id``: ``None`` when this call won (the
        record is written in the current unit of work), else the record that holds the key.
        Atomic: of concurrent claims of one key exactly one wins; the others wait for the
        winner's transaction and get its record. An expired record (``expires_at`` ≤
        ``record.created_at``) is replaced by the new claim."""
        ...

    async def delete_expired(self, before: datetime) -> int:
        """Forget records that expired before ``before``; how many went."""
        ...


class InstrumentCatalog(Protocol):
    async def find(self, provider: str, key: InstrumentKey) -> Instrument | None:
        """The instrument ``key`` as ``provider`` trades it (lot and tick size, currency), or
        ``None`` when the provider does not list it."""
        ...
