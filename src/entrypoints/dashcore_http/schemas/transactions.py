"""Bodies of the transaction endpoints (``/transactions``, the change feed, manual entries).

Amounts, quantities and prices travel as JSON strings (``"-12.50"``). A JSON number where an
amount is expected is refused with 400 ``amount_not_string`` naming the field: most JSON clients
turn numbers into binary floats, which cannot hold most decimal fractions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from dashcore.domain.errors import BadRequest, FieldError, InvalidInput
from dashcore.domain.money import input_decimal
from dashcore_http.schemas.accounts import CurrencyCode, InstrumentView, MoneyView
from dashcore_http.schemas.numbers import DecimalString

__all__ = [
    "ActivityText",
    "DecimalInput",
    "RemovedTransactionView",
    "TransactionChangesView",
    "TransactionCreate",
    "TransactionPage",
    "TransactionUpdate",
    "TransactionView",
    "decimal_input",
    "decimal_inputs",
]

ActivityText = Literal[
    "buy",
    "sell",
    "dividend",
    "interest",
    "fee",
    "tax",
    "deposit",
    "withdrawal",
    "transfer",
    "split",
    "other",
]
DecimalText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
DecimalInput = DecimalText | float
"""A decimal string; a JSON number decodes (to ``float``) only to be refused by name."""
Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Description = Annotated[str, msgspec.Meta(max_length=500)]


def decimal_input(value: DecimalInput, field: str) -> Decimal:
    """The exact decimal of an input field; 400 ``amount_not_string`` for a JSON number, 422
    for a string that is not a finite decimal or is out of range
    (:func:`~dashcore.domain.money.input_decimal`)."""
    if isinstance(value, float):
        raise BadRequest(
            'Send amounts as decimal strings ("12.50"): a JSON number may lose precision.',
            code="amount_not_string",
            field=field,
        )
    return input_decimal(value, field=field)


def decimal_inputs(**values: DecimalInput | None) -> dict[str, Decimal | None]:
    """Each field's exact decimal (``None`` stays ``None``), all judged together: every JSON
    number is named in one 400 ``amount_not_string``, else every string that is not a plain
    decimal in range (:func:`decimal_input`) in one 422."""
    converted: dict[str, Decimal | None] = {}
    numbers: list[FieldError] = []
    problems: list[FieldError] = []
    for field, value in values.items():
        try:
            converted[field] = None if value is None else decimal_input(value, field)
        except BadRequest as error:
            numbers.extend(error.errors)
        except InvalidInput as error:
            problems.extend(error.errors)
    if numbers:
        raise BadRequest(
            'Send amounts, quantities and prices as decimal strings ("12.50"): a JSON number may '
            "lose precision.",
            code="amount_not_string",
            errors=tuple(numbers),
        )
    if problems:
        raise InvalidInput(
            "Amounts, quantities and prices are plain decimal strings in range.",
            errors=tuple(problems),
        )
    return converted


class TransactionView(msgspec.Struct, frozen=True, kw_only=True):
    """``amount`` is the signed cash effect (money out is negative); ``source`` ``manual``
    entries can be edited, ``synced`` ones cannot."""

    id: UUID
    account_id: UUID
    source: str
    type: str
    occurred_at: datetime
    amount: MoneyView
    instrument: InstrumentView | None
    quantity: DecimalString | None
    price: MoneyView | None
    description: str
    provider_type: str | None
    created_at: datetime
    updated_at: datetime


class TransactionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TransactionView]
    next_cursor: str | None


class RemovedTransactionView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    account_id: UUID
    removed_at: datetime | None


class TransactionChangesView(msgspec.Struct, frozen=True, kw_only=True):
    """Changes after the cursor, each transaction once in its latest state. Keep
    ``next_cursor`` for the next call; while ``has_more`` call again at once."""

    added: list[TransactionView]
    modified: list[TransactionView]
    removed: list[RemovedTransactionView]
    next_cursor: str
    has_more: bool


class TransactionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An entry of a manual account. ``occurred_at`` carries a time zone; ``currency`` is the
    account's (the default); an instrument is ``symbol`` + ``exchange`` with a ``quantity``."""

    account_id: UUID
    type: ActivityText
    occurred_at: datetime
    amount: DecimalInput
    currency: CurrencyCode | None = None
    symbol: Symbol | None = None
    exchange: Symbol | None = None
    quantity: DecimalInput | None = None
    price: DecimalInput | None = None
    description: Description = ""


class TransactionUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields left out stay; ``null`` clears ``symbol``, ``exchange``, ``quantity``, ``price``."""

    type: ActivityText | msgspec.UnsetType = msgspec.UNSET
    occurred_at: datetime | msgspec.UnsetType = msgspec.UNSET
    amount: DecimalInput | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    symbol: Symbol | msgspec.UnsetType | None = msgspec.UNSET
    exchange: Symbol | msgspec.UnsetType | None = msgspec.UNSET
    quantity: DecimalInput | msgspec.UnsetType | None = msgspec.UNSET
    price: DecimalInput | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
