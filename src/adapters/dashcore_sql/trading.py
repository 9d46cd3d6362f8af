"""Placed orders and idempotency keys in SQL, with explicit row <-> entity mapping (issue #8).

Orders (:class:`SqlOrderRepository`):

- ``save`` is optimistic: ``UPDATE … SET version = version + 1 WHERE id = :id AND version =
  :read AND user_id = :owner``; a row saved by someone else since it was read is a
  ``Conflict`` (``order_version_conflict``), an order that is not stored (or not the owner's)
  a ``NotFound``. Owner, connection, provider and creation time are never rewritten.
- ``lock`` reads under ``SELECT … FOR UPDATE`` on PostgreSQL, so two changes of one order run
  one after the other; SQLite serializes writers on its own (``BEGIN IMMEDIATE``).
- A broker order is bound to one order: ``(provider, broker_order_id)`` is unique
  (``placed_orders_broker_order_taken``).
- Listings are keyset scans of ``(user_id, created_at DESC, id DESC)``, never ``OFFSET``.
- ``value_placed`` (the daily order limit's total) is one aggregate over that index; on
  PostgreSQL it first takes the user's transaction-scoped advisory lock, so that two
  placements of one user are checked one after the other.
- The instrument is stored flattened, prices and quantities as exact decimals, and the fills
  as JSON whose numbers are decimal strings (nothing passes through ``float``).

Idempotency keys (:class:`SqlIdempotencyRepository`) are unique per ``(user_id, key_hash)``
(the primary key). ``claim`` is one ``INSERT … ON CONFLICT DO UPDATE … WHERE <expired>
RETURNING``: of two concurrent claims of one key, PostgreSQL makes the second wait for the
first one's transaction and then finds the key taken (or, if the first rolled back, inserts);
SQLite runs one writer at a time. The loser reads the winner's record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.sql.dml import ReturningInsert

from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import (
    Fill,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.time import ensure_utc, parse_utc
from dashcore.domain.trading import (
    IdempotencyRecord,
    OrderCursor,
    OrderFailure,
    OrderFilters,
    PlacedOrder,
)
from dashcore.ports.trading import IdempotencyRepository, OrderRepository
from dashcore_sql.sqlite_functions import DECIMAL_PRODUCT, DECIMAL_TOTAL
from dashcore_sql.tables import idempotency_keys, orders
from dashcore_sql.types import ExactDecimal
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import conflict_insert

__all__ = ["SqlIdempotencyRepository", "SqlOrderRepository"]

_orders = orders.c
_keys = idempotency_keys.c
_RECONCILABLE = (OrderStatus.UNKNOWN.value, OrderStatus.PENDING_SUBMIT.value)
_AT_THE_BROKER = (
    OrderStatus.SUBMITTED.value,
    OrderStatus.OPEN.value,
    OrderStatus.PARTIALLY_FILLED.value,
    OrderStatus.CANCEL_REQUESTED.value,
)
_DAY_TOTAL_LOCK = 0x44415954  # "DAYT": the advisory locks of users' daily order totals
_day_total_lock = text("SELECT pg_advisory_xact_lock(:space, :user_key)")


class SqlOrderRepository(OrderRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, order: PlacedOrder) -> None:
        row = {
            "id": order.id,
            "user_id": order.user_id,
            "connection_id": order.connection_id,
            "provider": order.provider,
            "created_at": order.created_at,
            "version": order.version,
            **_columns(order),
        }
        await self._uow.execute(_ADD_ORDER, row)

    async def get(self, order_id: UUID) -> PlacedOrder | None:
        return await self._one(select(orders).where(_orders.id == order_id))

    async def lock(self, order_id: UUID) -> PlacedOrder | None:
        return await self._one(select(orders).where(_orders.id == order_id).with_for_update())

    async def save(self, order: PlacedOrder) -> PlacedOrder:
        parameters = {
            "saved_id": order.id,
            "saved_owner": order.user_id,
            "saved_version": order.version,
            **_columns(order),
        }
        saved = (await self._uow.execute(_SAVE_ORDER, parameters)).scalar_one_or_none()
        if saved is None:
            stored = await self.get(order.id)
            if stored is None or stored.user_id != order.user_id:
                raise NotFound("No such order.", code="order_not_found")
            raise Conflict(
                "The order was changed since it was read; read it again.",
                code="order_version_conflict",
            )
        return replace(order, version=saved)

    async def by_idempotency(self, user_id: UUID, key_hash: str) -> PlacedOrder | None:
        query = (
            select(orders)
            .where(_orders.user_id == user_id, _orders.idempotency_key_hash == key_hash)
            .order_by(_orders.created_at.desc(), _orders.id.desc())
            .limit(1)
        )
        return await self._one(query)

    async def by_broker_order_id(self, provider: str, broker_order_id: str) -> PlacedOrder | None:
        query = select(orders).where(
            _orders.provider == provider, _orders.broker_order_id == broker_order_id
        )
        return await self._one(query)

    async def unbound_by_client_reference(
        self, provider: str, client_reference: str
    ) -> PlacedOrder | None:
        query = (
            select(orders)
            .where(
                _orders.status.in_(_RECONCILABLE),
                _orders.provider == provider,
                _orders.client_reference == client_reference,
            )
            .limit(1)
        )
        return await self._one(query)

    async def list_for_user(
        self,
        user_id: UUID,
        filters: OrderFilters,
        *,
        after: OrderCursor | None = None,
        limit: int = 50,
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        position = (
            true()
            if after is None
            else tuple_(_orders.created_at, _orders.id) < (after.created_at, after.order_id)
        )
        query = (
            select(orders)
            .where(_orders.user_id == user_id, position, *_filtered(filters))
            .order_by(_orders.created_at.desc(), _orders.id.desc())
            .limit(limit)
        )
        return await self._all(query)

    async def value_placed(
        self,
        user_id: UUID,
        currency: Currency,
        day: tuple[datetime, datetime],
        *,
        leaving_out: UUID | None = None,
    ) -> Decimal:
        """One aggregate, added up by the database: ``SUM`` of ``NUMERIC`` on PostgreSQL, and
        on SQLite, which keeps decimals as text (its ``SUM`` would be a float), dashcore's
        exact decimal functions (``dashcore_sql.sqlite_functions``). The day's total costs one
        index range scan and one row back, for a user placing thousands of orders a day.

        Two placements of one user read the total one after the other: on PostgreSQL reading
        it first takes the user's transaction-scoped advisory lock, held until the placement's
        order is committed (or rolled back); SQLite runs one writing transaction at a time."""
        start, end = day
        price = func.coalesce(_orders.limit_price, _orders.stop_price)
        counted = (
            _orders.user_id == user_id,
            _orders.created_at >= start,
            _orders.created_at < end,
            _orders.instrument_currency == currency.code,
            _orders.status != OrderStatus.REJECTED.value,
            true() if leaving_out is None else _orders.id != leaving_out,
        )
        if self._uow.dialect_name == "postgresql":
            await self._uow.execute(
                _day_total_lock,
                {"space": _DAY_TOTAL_LOCK, "user_key": _int32(user_id.int)},
            )
            value = func.coalesce(_orders.estimated_value, _orders.quantity * price)
            total = func.sum(value, type_=ExactDecimal())
        else:
            priced = getattr(func, DECIMAL_PRODUCT)(_orders.quantity, price)
            value = func.coalesce(_orders.estimated_value, priced)
            total = getattr(func, DECIMAL_TOTAL)(value, type_=ExactDecimal())
        summed: Decimal | None = (await self._uow.execute(select(total).where(*counted))).scalar()
        return Decimal(0) if summed is None else summed

    async def needing_reconciliation(
        self, changed_before: datetime, *, due_at: datetime, limit: int
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        query = (
            select(orders)
            .where(
                _orders.status.in_(_RECONCILABLE),
                _orders.status_changed_at < changed_before,
                or_(_orders.reconcile_after.is_(None), _orders.reconcile_after <= due_at),
            )
            .order_by(_orders.status_changed_at, _orders.id)
            .limit(limit)
        )
        return await self._all(query)

    async def open_orders(
        self, *, after: OrderCursor | None = None, limit: int
    ) -> Sequence[PlacedOrder]:
        _check_limit(limit)
        position = (
            true()
            if after is None
            else tuple_(_orders.created_at, _orders.id) > (after.created_at, after.order_id)
        )
        query = (
            select(orders)
            .where(_orders.status.in_(_AT_THE_BROKER), position)
            .order_by(_orders.created_at, _orders.id)
            .limit(limit)
        )
        return await self._all(query)

    async def _one(self, query: Select[Any]) -> PlacedOrder | None:
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _order(row)

    async def _all(self, query: Select[Any]) -> list[PlacedOrder]:
        return [_order(row) for row in await self._uow.execute(query)]


class SqlIdempotencyRepository(IdempotencyRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID, key_hash: str) -> IdempotencyRecord | None:
        query = select(idempotency_keys).where(_keys.user_id == user_id, _keys.key_hash == key_hash)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _record(row)

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        values = {
            "user_id": record.user_id,
            "key_hash": record.key_hash,
            "fingerprint": record.fingerprint,
            "order_id": record.order_id,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "claimed_at": record.created_at,
        }
        claimed = _CLAIMS[self._uow.dialect_name]
        if (await self._uow.execute(claimed, values)).one_or_none() is not None:
            return None
        holder = await self.get(record.user_id, record.key_hash)
        assert holder is not None, "a key that refused the claim is held"
        return holder

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(idempotency_keys).where(_keys.expires_at < before)
        return (await self._uow.execute(statement)).rowcount


def _claim(dialect_name: str) -> ReturningInsert[Any]:
    """Insert the key, or take it over from a holder expired at ``:claimed_at``; returns a row
    only then."""
    statement = conflict_insert(dialect_name, idempotency_keys)
    taken_over = {
        name: statement.excluded[name]
        for name in ("fingerprint", "order_id", "created_at", "expires_at")
    }
    claim: ReturningInsert[Any] = statement.on_conflict_do_update(
        index_elements=[_keys.user_id, _keys.key_hash],
        set_=taken_over,
        where=_keys.expires_at <= bindparam("claimed_at"),
    ).returning(_keys.key_hash)
    return claim


_CLAIMS = {name: _claim(name) for name in ("postgresql", "sqlite")}
"""The claim of a key per dialect, built once: only the parameters change between calls."""
_ADD_ORDER = insert(orders)
_SAVE_ORDER = (
    update(orders)
    .where(
        _orders.id == bindparam("saved_id"),
        _orders.user_id == bindparam("saved_owner"),
        _orders.version == bindparam("saved_version"),
    )
    .values(version=_orders.version + 1)
    .returning(_orders.version)
)
"""Statements built once and run with a row of parameters: SQLAlchemy's compiled cache then
serves them without walking a fresh ``VALUES``/``SET`` clause per call. ``_SAVE_ORDER`` sets
the columns its parameters name (see :func:`_columns`)."""


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError("limit must not be negative")


def _filtered(filters: OrderFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses is not None:
        conditions.append(_orders.status.in_(sorted(s.value for s in filters.statuses)))
    if filters.connection_id is not None:
        conditions.append(_orders.connection_id == filters.connection_id)
    if filters.account_id is not None:
        conditions.append(_orders.account_id == filters.account_id)
    if filters.symbol is not None:
        conditions.append(_orders.symbol == filters.symbol)
    if filters.side is not None:
        conditions.append(_orders.side == filters.side.value)
    if filters.created_from is not None:
        conditions.append(_orders.created_at >= filters.created_from)
    if filters.created_before is not None:
        conditions.append(_orders.created_at < filters.created_before)
    return conditions


def _columns(order: PlacedOrder) -> dict[str, Any]:
    """Every column a ``save`` rewrites (all but the id, the owner, the connection, the
    provider, the creation time and the version)."""
    request, instrument = order.request, order.request.instrument
    error, average = order.last_error, order.average_price
    return {
        "account_id": request.provider_account_id,
        "symbol": instrument.symbol,
        "exchange": instrument.exchange,
        "instrument_currency": instrument.currency.code,
        "asset_class": instrument.asset_class.value,
        "isin": instrument.isin,
        "instrument_name": instrument.name,
        "lot_size": instrument.lot_size,
        "tick_size": instrument.tick_size,
        "side": request.side.value,
        "type": request.type.value,
        "product": request.product.value,
        "validity": request.validity.value,
        "quantity": request.quantity,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
        "client_reference": request.client_reference,
        "idempotency_key_hash": order.idempotency_key_hash,
        "status": order.status.value,
        "updated_at": order.updated_at,
        "status_changed_at": order.status_changed_at,
        "submit_deadline": order.submit_deadline,
        "submit_attempts": order.submit_attempts,
        "reconcile_attempts": order.reconcile_attempts,
        "reconcile_after": order.reconcile_after,
        "broker_order_id": order.broker_order_id,
        "broker_status": order.broker_status,
        "broker_updated_at": order.broker_updated_at,
        "filled_quantity": order.filled_quantity,
        "carried_quantity": order.carried_quantity,
        "average_price": None if average is None else average.amount,
        "average_price_currency": None if average is None else average.currency.code,
        "fills": _fills_json(order.fills),
        "status_message": order.status_message,
        "last_error_code": None if error is None else error.code,
        "last_error_message": None if error is None else error.message,
        "estimated_value": order.estimated_value,
    }


def _order(row: Row[Any]) -> PlacedOrder:
    instrument = Instrument(
        symbol=row.symbol,
        exchange=row.exchange,
        currency=Currency(row.instrument_currency),
        asset_class=AssetClass(row.asset_class),
        isin=row.isin,
        name=row.instrument_name,
        lot_size=row.lot_size,
        tick_size=row.tick_size,
    )
    request = OrderRequest(
        provider_account_id=row.account_id,
        instrument=instrument,
        side=OrderSide(row.side),
        type=OrderType(row.type),
        quantity=row.quantity,
        client_reference=row.client_reference,
        product=Product(row.product),
        validity=Validity(row.validity),
        limit_price=row.limit_price,
        stop_price=row.stop_price,
    )
    return PlacedOrder(
        id=row.id,
        user_id=row.user_id,
        connection_id=row.connection_id,
        provider=row.provider,
        request=request,
        idempotency_key_hash=row.idempotency_key_hash,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        status_changed_at=row.status_changed_at,
        submit_deadline=row.submit_deadline,
        version=row.version,
        broker_order_id=row.broker_order_id,
        broker_status=row.broker_status,
        broker_updated_at=row.broker_updated_at,
        filled_quantity=row.filled_quantity,
        average_price=_money(row.average_price, row.average_price_currency),
        fills=_fills(row.fills),
        status_message=row.status_message,
        last_error=(
            None
            if row.last_error_code is None
            else OrderFailure(row.last_error_code, row.last_error_message)
        ),
        submit_attempts=row.submit_attempts,
        reconcile_attempts=row.reconcile_attempts,
        reconcile_after=row.reconcile_after,
        carried_quantity=row.carried_quantity,
        estimated_value=row.estimated_value,
    )


def _money(amount: Decimal | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount, Currency(currency))


def _fills_json(fills: Sequence[Fill]) -> str:
    """The fills as JSON text: decimals as their exact strings, instants as UTC ISO 8601."""
    return json.dumps(
        [
            {
                "trade_id": fill.trade_id,
                "provider_order_id": fill.provider_order_id,
                "quantity": str(fill.quantity),
                "price": str(fill.price.amount),
                "currency": fill.price.currency.code,
                "executed_at": ensure_utc(fill.executed_at).isoformat(),
                "charges": None if fill.charges is None else str(fill.charges.amount),
                "charges_currency": None if fill.charges is None else fill.charges.currency.code,
            }
            for fill in fills
        ],
        separators=(",", ":"),
    )


def _fills(text: str) -> tuple[Fill, ...]:
    return tuple(
        Fill(
            trade_id=item["trade_id"],
            provider_order_id=item["provider_order_id"],
            quantity=Decimal(item["quantity"]),
            price=Money(Decimal(item["price"]), Currency(item["currency"])),
            executed_at=parse_utc(item["executed_at"], field="executed_at"),
            charges=_money(
                None if item["charges"] is None else Decimal(item["charges"]),
                item["charges_currency"],
            ),
        )
        for item in json.loads(text)
    )


def _record(row: Row[Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=row.user_id,
        key_hash=row.key_hash,
        fingerprint=row.fingerprint,
        order_id=row.order_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _int32(number: int) -> int:
    """The low 32 bits of ``number`` as a signed ``int4`` (an advisory lock's key)."""
    low = number & 0xFFFFFFFF
    return low - (1 << 32) if low >= 1 << 31 else low
