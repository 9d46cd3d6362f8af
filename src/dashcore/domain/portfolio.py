"""Accounts, balances, holdings, positions and transactions as every provider is normalized to.

Rules:
- Money is :class:`Money` (exact ``Decimal`` in one currency); quantities are ``Decimal``.
- An account is known by the provider's own id (``provider_account_id``: Schwab's account hash,
  Kite's user id, …) and shows only a masked number (last four characters).
- A *holding* is settled (delivery) inventory; a *position* is what a trading day or a
  derivative leaves open, long (quantity > 0) or short (quantity < 0). Market value is
  quantity × last price when the provider does not say.
- Every provider activity maps to exactly one :class:`ActivityType`; one that cannot be placed
  is ``other`` with the provider's own type kept in ``provider_type``, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money

__all__ = [
    "Account",
    "AccountType",
    "ActivityType",
    "Balance",
    "Holding",
    "Page",
    "Position",
    "Transaction",
    "mask_account_number",
]


T = TypeVar("T")


def mask_account_number(number: str) -> str:
    """``"12345678"`` → ``"****5678"``: enough to recognise an account, not to use it."""
    return "****" + number[-4:] if len(number) > 4 else "****"


class AccountType(StrEnum):
    CASH = "cash"
    MARGIN = "margin"
    RETIREMENT = "retirement"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Account:
    provider_account_id: str
    masked_number: str
    type: AccountType
    base_currency: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.provider_account_id:
            raise InvalidInput("An account needs the provider's id.", field="provider_account_id")


@dataclass(frozen=True, slots=True)
class Balance:
    """Cash, what can be bought now, and margin in use; all in the account's currency."""

    provider_account_id: str
    cash: Money
    buying_power: Money
    margin_used: Money
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    provider_account_id: str
    instrument: Instrument
    quantity: Decimal
    average_cost: Money | None
    last_price: Money | None
    market_value: Money | None


@dataclass(frozen=True, slots=True)
class Position:
    """Open exposure; ``quantity`` is signed (short < 0)."""

    provider_account_id: str
    instrument: Instrument
    quantity: Decimal
    product: str
    average_price: Money | None
    last_price: Money | None
    market_value: Money | None
    realised_pnl: Money | None = None

    @property
    def is_short(self) -> bool:
        return self.quantity < 0


class ActivityType(StrEnum):
    BUY = "buy"
    SELL = "sell"
    DIVIDEND = "dividend"
    INTEREST = "interest"
    FEE = "fee"
    TAX = "tax"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER = "transfer"
    SPLIT = "split"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One ledger entry. ``amount`` is the signed cash effect (a buy is negative)."""

    provider_transaction_id: str
    provider_account_id: str
    activity: ActivityType
    occurred_at: datetime
    amount: Money
    instrument: Instrument | None = None
    quantity: Decimal | None = None
    price: Money | None = None
    description: str = ""
    provider_type: str | None = None
    order_ref: str | None = None


@dataclass(frozen=True)  # no slots: ``Page[Holding](...)`` sets __orig_class__ on 3.11
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is ``None`` on the last page. Cursors are opaque
    to callers and only valid for the same listing."""

    items: tuple[T, ...]
    next_cursor: str | None = None
