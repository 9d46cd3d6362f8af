"""Bodies of the aggregated-account endpoints (``/accounts``, ``/balances``).

Amounts and quantities are JSON strings (exact decimals), instants ISO 8601 in UTC. Every
account carries its freshness: ``last_synced_at`` (the last complete sync; ``null`` before the
first, and always for a manual account) and ``sync_status``. Listings are
``{"items": [...], "next_cursor": ...}``: pass ``next_cursor`` as ``cursor`` for the next page;
it is ``null`` on the last one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from dashcore_http.schemas.numbers import DecimalString

__all__ = [
    "AccountPage",
    "AccountSummary",
    "AccountView",
    "BalanceTotalsView",
    "BalanceView",
    "CurrencyTotalView",
    "HoldingPage",
    "HoldingView",
    "InstrumentView",
    "ManualAccountCreate",
    "ManualAccountUpdate",
    "MoneyView",
    "PositionPage",
    "PositionView",
]

AccountTypeText = Literal["cash", "margin", "retirement", "other"]
AccountName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
LastFour = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{4}$")]


class MoneyView(msgspec.Struct, frozen=True):
    amount: DecimalString
    currency: str


class InstrumentView(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    exchange: str
    currency: str
    asset_class: str
    isin: str | None
    name: str | None


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """``source`` ``synced`` (with its ``provider``, ``connection_id`` and
    ``provider_account_id``) or ``manual``. ``closed_at``: the provider stopped listing the
    account (kept, with its history)."""

    id: UUID
    source: str
    provider: str | None
    connection_id: UUID | None
    provider_account_id: str | None
    """The provider's id of a synced account, as ``POST /orders`` takes it in ``account_id``
    (Schwab: its opaque account hash, never the account number); ``null`` for a manual one."""
    name: str | None
    type: str
    currency: str
    masked_number: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    last_synced_at: datetime | None
    sync_status: str
    """``never``, ``syncing``, ``ok``, ``failed`` or ``suspicious`` (the provider's last
    answer looked wrong and the previous data was kept)."""


class AccountPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AccountView]
    next_cursor: str | None


class BalanceView(msgspec.Struct, frozen=True, kw_only=True):
    """The account's latest balance, all in ``currency``; the amounts are ``null`` until a
    first sync has read one. ``as_of`` is the provider's time when it gave one, ``synced_at``
    when dashcore read it."""

    account_id: UUID
    currency: str
    cash: DecimalString | None
    buying_power: DecimalString | None
    margin_used: DecimalString | None
    as_of: datetime | None
    synced_at: datetime | None
    last_synced_at: datetime | None
    sync_status: str


class AccountSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str | None
    source: str
    last_synced_at: datetime | None
    sync_status: str


class CurrencyTotalView(msgspec.Struct, frozen=True, kw_only=True):
    """Sums in one currency (never across currencies), the accounts summed, and the oldest
    ``last_synced_at`` among the synced ones: the total is at most that stale (``null`` when
    only manual accounts are summed, or one has no sync yet)."""

    currency: str
    cash: DecimalString
    buying_power: DecimalString
    margin_used: DecimalString
    accounts: list[AccountSummary]
    oldest_synced_at: datetime | None


class BalanceTotalsView(msgspec.Struct, frozen=True, kw_only=True):
    totals: list[CurrencyTotalView]


class HoldingView(msgspec.Struct, frozen=True, kw_only=True):
    instrument: InstrumentView
    quantity: DecimalString
    average_cost: MoneyView | None
    last_price: MoneyView | None
    market_value: MoneyView | None
    as_of: datetime


class HoldingPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[HoldingView]
    next_cursor: str | None


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    """``quantity`` is signed: a short position is negative."""

    instrument: InstrumentView
    quantity: DecimalString
    product: str
    average_price: MoneyView | None
    last_price: MoneyView | None
    market_value: MoneyView | None
    realised_pnl: MoneyView | None
    as_of: datetime


class PositionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PositionView]
    next_cursor: str | None


class ManualAccountCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An account kept by hand; ``last4``: the last four characters of its number (the only
    part dashcore keeps)."""

    name: AccountName
    type: AccountTypeText = "cash"
    currency: CurrencyCode
    last4: LastFour | None = None


class ManualAccountUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields left out stay as they are. ``currency`` changes only while the account has no
    transactions."""

    name: AccountName | msgspec.UnsetType = msgspec.UNSET
    type: AccountTypeText | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    last4: LastFour | msgspec.UnsetType = msgspec.UNSET
