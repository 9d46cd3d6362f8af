"""``/api/v1/transactions``: the signed-in user's transactions, their change feed, and entries
of manual accounts.

``GET /transactions`` lists newest first (``occurred_at`` then id, descending) by keyset, with
filters ``account_id`` (repeatable), ``since`` (inclusive) / ``until`` (exclusive) as ISO 8601
instants with an offset, ``type`` (repeatable), ``symbol``, ``min_amount`` / ``max_amount``
(signed, inclusive, decimal strings). ``GET /transactions/changes?cursor=`` is the Plaid-style
feed. Entries are written only into manual accounts; synced transactions answer 409
``synced_transaction_read_only``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from dishka import FromDishka
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from dashcore.application.transactions import (
    UNCHANGED,
    EntryChange,
    EntryInput,
    ListTransactions,
    ManualTransactions,
    TransactionChangeFeed,
    Unchanged,
)
from dashcore.domain.aggregation import DEFAULT_PAGE_SIZE, StoredTransaction, TransactionFilter
from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Currency, input_decimal
from dashcore.domain.portfolio import ActivityType
from dashcore.domain.time import parse_utc
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.controllers.accounts import (
    Cursor,
    Limit,
    instrument_view,
    money_view,
    optional_money,
)
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.numbers import optional_decimal_string
from dashcore_http.schemas.transactions import (
    DecimalInput,
    RemovedTransactionView,
    TransactionChangesView,
    TransactionCreate,
    TransactionPage,
    TransactionUpdate,
    TransactionView,
    decimal_input,
)

__all__ = ["TransactionsController", "transaction_view"]

_READ_ONLY = problems({409: "`synced_transaction_read_only`: a synced entry cannot change"})

T = TypeVar("T")
R = TypeVar("R")
Instant = Annotated[str | None, QueryParameter(description="ISO 8601 with an offset")]
Amount = Annotated[str | None, QueryParameter(description="A decimal string, e.g. -100.00")]


def transaction_view(transaction: StoredTransaction) -> TransactionView:
    instrument = transaction.instrument
    return TransactionView(
        id=transaction.id,
        account_id=transaction.account_id,
        source=transaction.source.value,
        type=transaction.activity.value,
        occurred_at=transaction.occurred_at,
        amount=money_view(transaction.amount),
        instrument=None if instrument is None else instrument_view(instrument),
        quantity=optional_decimal_string(transaction.quantity),
        price=optional_money(transaction.price),
        description=transaction.description,
        provider_type=transaction.provider_type,
        created_at=transaction.created_at,
        updated_at=transaction.updated_at,
    )


def _activity(text: str) -> ActivityType:
    try:
        return ActivityType(text)
    except ValueError as exc:
        known = ", ".join(kind.value for kind in ActivityType)
        raise InvalidInput(f"A type is one of {known}.", field="type") from exc


def _optional_decimal(value: DecimalInput | None, field: str) -> Decimal | None:
    return None if value is None else decimal_input(value, field)


def _query(
    accounts: Sequence[UUID] | None,
    since: str | None,
    until: str | None,
    types: Sequence[str] | None,
    symbol: str | None,
    min_amount: str | None,
    max_amount: str | None,
) -> TransactionFilter:
    return TransactionFilter(
        account_ids=frozenset(accounts or ()),
        since=None if since is None else parse_utc(since, field="since"),
        until=None if until is None else parse_utc(until, field="until"),
        activities=frozenset(_activity(text) for text in types or ()),
        symbol=symbol,
        min_amount=None if min_amount is None else input_decimal(min_amount, field="min_amount"),
        max_amount=None if max_amount is None else input_decimal(max_amount, field="max_amount"),
    )


def _entry(data: TransactionCreate) -> EntryInput:
    return EntryInput(
        activity=ActivityType(data.type),
        occurred_at=data.occurred_at,
        amount=decimal_input(data.amount, "amount"),
        currency=None if data.currency is None else Currency.issued(data.currency),
        symbol=data.symbol,
        exchange=data.exchange,
        quantity=_optional_decimal(data.quantity, "quantity"),
        price=_optional_decimal(data.price, "price"),
        description=data.description,
    )


def _kept(value: T | msgspec.UnsetType, convert: Callable[[T], R]) -> R | Unchanged:
    return UNCHANGED if isinstance(value, msgspec.UnsetType) else convert(value)


def _kept_or_cleared(
    value: T | msgspec.UnsetType | None, convert: Callable[[T], R]
) -> R | Unchanged | None:
    return None if value is None else _kept(value, convert)


def _same(value: T) -> T:
    return value


def _change(data: TransactionUpdate) -> EntryChange:
    return EntryChange(
        activity=_kept(data.type, ActivityType),
        occurred_at=_kept(data.occurred_at, _same),
        amount=_kept(data.amount, partial(decimal_input, field="amount")),
        currency=_kept(data.currency, Currency),
        symbol=_kept_or_cleared(data.symbol, _same),
        exchange=_kept_or_cleared(data.exchange, _same),
        quantity=_kept_or_cleared(data.quantity, partial(decimal_input, field="quantity")),
        price=_kept_or_cleared(data.price, partial(decimal_input, field="price")),
        description=_kept(data.description, _same),
    )


class TransactionsController(Controller):
    path = "/transactions"
    tags = ("transactions",)

    @get(
        "/",
        summary="Transactions, newest first, filtered",
        responses=problems({404: "`account_not_found`: an `account_id` that is not the caller's"}),
    )
    @inject
    async def list_transactions(
        self,
        request: Request[Any, Any, Any],
        transactions: FromDishka[ListTransactions],
        account_id: Annotated[list[UUID] | None, QueryParameter(max_items=100)] = None,
        since: Instant = None,
        until: Instant = None,
        types: Annotated[list[str] | None, QueryParameter(name="type", max_items=20)] = None,
        symbol: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None,
        min_amount: Amount = None,
        max_amount: Amount = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> TransactionPage:
        query = _query(account_id, since, until, types, symbol, min_amount, max_amount)
        page = await transactions(principal(request).subject, query, cursor=cursor, limit=limit)
        return TransactionPage(
            items=[transaction_view(t) for t in page.items], next_cursor=page.next_cursor
        )

    @get("/changes", summary="What changed since the cursor (Plaid-style feed)")
    @inject
    async def changes(
        self,
        request: Request[Any, Any, Any],
        feed: FromDishka[TransactionChangeFeed],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> TransactionChangesView:
        """Without a cursor: everything from the beginning. Each transaction appears once, in
        its latest state; keep ``next_cursor``, and call again at once while ``has_more``."""
        changes = await feed(principal(request).subject, cursor=cursor, limit=limit)
        return TransactionChangesView(
            added=[transaction_view(t) for t in changes.added],
            modified=[transaction_view(t) for t in changes.modified],
            removed=[
                RemovedTransactionView(id=t.id, account_id=t.account_id, removed_at=t.removed_at)
                for t in changes.removed
            ],
            next_cursor=changes.next_cursor,
            has_more=changes.has_more,
        )

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Record an entry in a manual account",
        responses=problems(
            {
                404: "`account_not_found`: the `account_id` is not the caller's",
                409: "`synced_account_read_only`: a synced account takes no manual entry",
            }
        ),
    )
    @inject
    async def create(
        self,
        data: JSONBody[TransactionCreate],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualTransactions],
    ) -> TransactionView:
        created = await manual.create(
            principal(request).subject, data.account_id, _entry(data), caller_of(request)
        )
        return transaction_view(created)

    @patch("/{transaction_id:uuid}", summary="Edit a manual entry", responses=_READ_ONLY)
    @inject
    async def update(
        self,
        transaction_id: FromPath[UUID],
        data: JSONBody[TransactionUpdate],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualTransactions],
    ) -> TransactionView:
        updated = await manual.update(
            principal(request).subject, transaction_id, _change(data), caller_of(request)
        )
        return transaction_view(updated)

    @delete(
        "/{transaction_id:uuid}",
        status_code=204,
        summary="Delete a manual entry",
        responses=_READ_ONLY,
    )
    @inject
    async def remove(
        self,
        transaction_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualTransactions],
    ) -> None:
        await manual.delete(principal(request).subject, transaction_id, caller_of(request))
