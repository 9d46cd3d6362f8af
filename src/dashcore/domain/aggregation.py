"""Aggregated data as dashcore keeps it (issue #7): accounts, balances, holdings, positions and
transactions of a user's connections (and manual accounts), the change feed and sync runs.

Rules:
- An account synced from a provider is known by ``(connection_id, provider_account_id)`` and keeps
  its own id for life: a re-authorized connection (repaired in place) finds the same accounts.
  An account the provider stops listing is *closed* (kept, with its history), never deleted.
- Freshness is on every account: ``last_synced_at`` and ``sync_status`` (``never``, ``syncing``,
  ``ok``, ``failed``, ``suspicious``). A manual account is never synced: its freshness is its
  ``updated_at``.
- Holdings and positions are per-account snapshots keyed by instrument (positions by instrument
  and product): a sync replaces the whole snapshot, only after reading all of it. A provider that
  suddenly lists no holdings where the last snapshot had some is *suspicious*: the old snapshot
  stays, never "holdings went to zero".
- A transaction is unique by ``(account_id, provider_transaction_id)`` (a manual one uses its own
  id as text). A synced transaction is read-only (``Conflict`` ``synced_transaction_read_only``);
  one the provider stops returning is marked removed, never deleted, so that the change feed can
  report it.
- **Change feed.** Every insert, update or removal of a transaction stamps it with the next
  ``change_seq`` of its user (per user, strictly increasing). The seq is taken from a per-user
  counter *inside the writing transaction and under a lock held until it commits*, so seq order
  is commit order: a reader that has seen every change up to ``n`` can never later find a
  committed change ``<= n`` it did not see. Writing identical content stamps nothing. A feed
  cursor is an opaque token of the last seq seen.
- Listings page by keyset, never by offset: transactions by ``(occurred_at desc, id desc)``,
  holdings and positions by instrument key, accounts by id. A cursor names its listing and
  what the listing is of (the user, or for holdings and positions the account), so one that
  dashcore did not make for that very listing is a ``BadRequest`` (``invalid_cursor``): a
  holdings cursor of one account is refused on another, a feed cursor of one user by another.
- A :class:`SyncRun` goes ``queued → running → succeeded | failed``; any other move is a
  ``Conflict`` (``invalid_sync_transition``).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from dashcore.domain.errors import BadRequest, Conflict, InvalidInput, NotFound
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import (
    Account,
    AccountType,
    ActivityType,
    Balance,
    Holding,
    Page,
    Position,
    Transaction,
)
from dashcore.domain.time import ensure_utc

__all__ = [
    "ACTIVE_SYNC_STATUSES",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "AccountSource",
    "BalanceTotal",
    "ManualAccountDetails",
    "ManualEntry",
    "RawPayload",
    "StoredAccount",
    "StoredBalance",
    "StoredHolding",
    "StoredPosition",
    "StoredTransaction",
    "SyncCounts",
    "SyncFailure",
    "SyncRun",
    "SyncRunStatus",
    "SyncStatus",
    "SyncTrigger",
    "TransactionChanges",
    "TransactionFilter",
    "TransactionPosition",
    "UpsertCounts",
    "check_page_size",
    "decode_change_cursor",
    "decode_key_cursor",
    "encode_change_cursor",
    "encode_key_cursor",
    "invalid_cursor",
    "keyset_page",
    "parse_account_name",
    "totals_by_currency",
    "upsert_batch_owner",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DESCRIPTION_MAX = 500
NAME_MAX = 100
NOTE_MAX = 500
KIND_MAX = 256


def _utc(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else ensure_utc(value, field=name)


def _normalize_times(entity: object, *names: str) -> None:
    for name in names:
        object.__setattr__(entity, name, _utc(getattr(entity, name), name))


# ----------------------------------------------------------------------------- accounts


class AccountSource(StrEnum):
    SYNCED = "synced"
    MANUAL = "manual"


class SyncStatus(StrEnum):
    NEVER = "never"
    SYNCING = "syncing"
    OK = "ok"
    FAILED = "failed"
    SUSPICIOUS = "suspicious"


def _account_not_found() -> NotFound:
    return NotFound("No such account.", code="account_not_found")


def parse_account_name(text: str | None) -> str | None:
    """A person's name for an account: trimmed, 1-100 printable characters, or ``None``."""
    if text is None:
        return None
    name = text.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise InvalidInput(
            f"An account name is 1 to {NAME_MAX} printable characters.",
            code="invalid_account_name",
            field="name",
        )
    return name


@dataclass(frozen=True, slots=True)
class ManualAccountDetails:
    """What a person says about an account they keep by hand (validated)."""

    name: str
    type: AccountType
    base_currency: Currency
    masked_number: str = "****"

    def __post_init__(self) -> None:
        name = parse_account_name(self.name)
        if name is None:
            raise InvalidInput("A manual account needs a name.", field="name")
        object.__setattr__(self, "name", name)
        if not isinstance(self.type, AccountType):
            raise InvalidInput("Not an account type.", field="type")
        if not isinstance(self.base_currency, Currency):
            raise InvalidInput("A currency is a Currency.", field="base_currency")
        if len(self.masked_number) > 32 or not self.masked_number.isprintable():
            raise InvalidInput("Not a masked account number.", field="masked_number")


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """One account of one user, synced from a connection or kept by hand. Immutable: each
    change returns the next state. Compared by value; ``id`` is its identity."""

    id: UUID
    user_id: UUID
    source: AccountSource
    type: AccountType
    base_currency: Currency
    masked_number: str
    created_at: datetime
    updated_at: datetime
    connection_id: UUID | None = None
    provider: str | None = None
    provider_account_id: str | None = None
    name: str | None = None
    sync_status: SyncStatus = SyncStatus.NEVER
    last_synced_at: datetime | None = None
    closed_at: datetime | None = None
    """Set when the provider stopped listing the account; cleared if it lists it again."""
    deleted_at: datetime | None = None
    """Set when the owner deleted a manual account (kept so the feed can report removals)."""

    def __post_init__(self) -> None:
        _normalize_times(
            self, "created_at", "updated_at", "last_synced_at", "closed_at", "deleted_at"
        )
        links = (self.connection_id, self.provider, self.provider_account_id)
        linked = all(links) if self.source is AccountSource.SYNCED else not any(links)
        if not linked:
            raise InvalidInput(
                "A synced account has a connection, a provider and the provider's id; a manual "
                "account has none.",
                field="source",
            )

    @classmethod
    def from_provider(
        cls,
        account_id: UUID,
        user_id: UUID,
        connection_id: UUID,
        provider: str,
        account: Account,
        now: datetime,
    ) -> StoredAccount:
        """A provider account seen for the first time."""
        return cls(
            id=account_id,
            user_id=user_id,
            source=AccountSource.SYNCED,
            type=account.type,
            base_currency=Currency(account.base_currency),
            masked_number=account.masked_number,
            created_at=now,
            updated_at=now,
            connection_id=connection_id,
            provider=provider,
            provider_account_id=account.provider_account_id,
            name=account.name,
        )

    @classmethod
    def manual(
        cls, account_id: UUID, user_id: UUID, details: ManualAccountDetails, now: datetime
    ) -> StoredAccount:
        return cls(
            id=account_id,
            user_id=user_id,
            source=AccountSource.MANUAL,
            type=details.type,
            base_currency=details.base_currency,
            masked_number=details.masked_number,
            created_at=now,
            updated_at=now,
            name=details.name,
        )

    @property
    def is_manual(self) -> bool:
        return self.source is AccountSource.MANUAL

    @property
    def is_visible(self) -> bool:
        """Listed to its owner (a deleted manual account is not; a closed one still is)."""
        return self.deleted_at is None

    def refreshed_from(self, account: Account, now: datetime) -> StoredAccount:
        """The provider's current description of this account (and it is open again)."""
        self.ensure_synced()
        if account.provider_account_id != self.provider_account_id:
            raise InvalidInput("Another provider account.", field="provider_account_id")
        return replace(
            self,
            type=account.type,
            base_currency=Currency(account.base_currency),
            masked_number=account.masked_number,
            name=account.name,
            closed_at=None,
            updated_at=now,
        )

    def handed_over(self, connection_id: UUID, now: datetime) -> StoredAccount:
        """The account, with its id and history, now reached through ``connection_id``: a new
        connection to the same broker login takes over from a disconnected one."""
        self.ensure_synced()
        return replace(self, connection_id=connection_id, updated_at=now)

    def sync_started(self, now: datetime) -> StoredAccount:
        self.ensure_synced()
        return replace(self, sync_status=SyncStatus.SYNCING, updated_at=now)

    def sync_finished(self, now: datetime, *, suspicious: bool = False) -> StoredAccount:
        """Read completely: fresh as of ``now`` (``suspicious`` when the provider's answer
        looked wrong and the previous data was kept)."""
        self.ensure_synced()
        status = SyncStatus.SUSPICIOUS if suspicious else SyncStatus.OK
        return replace(self, sync_status=status, last_synced_at=now, updated_at=now)

    def sync_doubted(self, now: datetime) -> StoredAccount:
        """The provider's answer looked wrong and nothing was replaced: ``suspicious``, and
        ``last_synced_at`` stays the last time data was actually refreshed."""
        self.ensure_synced()
        return replace(self, sync_status=SyncStatus.SUSPICIOUS, updated_at=now)

    def sync_failed(self, now: datetime) -> StoredAccount:
        """Not refreshed: ``last_synced_at`` stays the last success."""
        self.ensure_synced()
        return replace(self, sync_status=SyncStatus.FAILED, updated_at=now)

    def closed(self, now: datetime) -> StoredAccount:
        self.ensure_synced()
        if self.closed_at is not None:
            return self
        return replace(self, closed_at=now, updated_at=now)

    def edited(self, details: ManualAccountDetails, now: datetime) -> StoredAccount:
        self.ensure_manual()
        return replace(
            self,
            name=details.name,
            type=details.type,
            base_currency=details.base_currency,
            masked_number=details.masked_number,
            updated_at=now,
        )

    def deleted(self, now: datetime) -> StoredAccount:
        self.ensure_manual()
        return replace(self, deleted_at=now, updated_at=now)

    def ensure_synced(self) -> None:
        if self.source is not AccountSource.SYNCED:
            raise Conflict("A manual account is not synced.", code="manual_account")

    def ensure_manual(self) -> None:
        if self.deleted_at is not None:
            raise _account_not_found()
        if self.source is not AccountSource.MANUAL:
            raise Conflict(
                "This account is synced from a provider and cannot be changed here.",
                code="synced_account_read_only",
            )


# ----------------------------------------------------------------- balances and snapshots


def _currency_of(*amounts: Money | None) -> Currency | None:
    return next((amount.currency for amount in amounts if amount is not None), None)


def _one_currency(what: str, *amounts: Money | None) -> None:
    """A balance's amounts, or a holding's prices, are in one currency."""
    if len({amount.currency for amount in amounts if amount is not None}) > 1:
        raise InvalidInput(f"The amounts of a {what} are in one currency.", field="currency")


@dataclass(frozen=True, slots=True)
class StoredBalance:
    """The latest balance of an account, in its currency; ``as_of`` is the provider's time when
    it gave one, ``synced_at`` when dashcore read it."""

    account_id: UUID
    user_id: UUID
    cash: Money
    buying_power: Money
    margin_used: Money
    synced_at: datetime
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        _normalize_times(self, "synced_at", "as_of")
        _one_currency("balance", self.cash, self.buying_power, self.margin_used)

    @property
    def currency(self) -> Currency:
        return self.cash.currency

    @classmethod
    def from_provider(
        cls, account: StoredAccount, balance: Balance, now: datetime
    ) -> StoredBalance:
        return cls(
            account_id=account.id,
            user_id=account.user_id,
            cash=balance.cash,
            buying_power=balance.buying_power,
            margin_used=balance.margin_used,
            synced_at=now,
            as_of=balance.as_of,
        )


@dataclass(frozen=True, slots=True)
class BalanceTotal:
    """Sums over a user's accounts in one currency (never across currencies)."""

    currency: Currency
    cash: Money
    buying_power: Money
    margin_used: Money
    accounts: int


def totals_by_currency(balances: Iterable[StoredBalance]) -> tuple[BalanceTotal, ...]:
    """One total per currency, in currency order. Each account counts once: a second balance
    of the same account is an error of the caller (``ValueError``)."""
    totals: dict[str, BalanceTotal] = {}
    seen: set[UUID] = set()
    for balance in balances:
        if balance.account_id in seen:
            raise ValueError("one balance per account")
        seen.add(balance.account_id)
        currency = balance.cash.currency
        total = totals.get(currency.code)
        totals[currency.code] = (
            BalanceTotal(currency, balance.cash, balance.buying_power, balance.margin_used, 1)
            if total is None
            else BalanceTotal(
                currency,
                total.cash + balance.cash,
                total.buying_power + balance.buying_power,
                total.margin_used + balance.margin_used,
                total.accounts + 1,
            )
        )
    return tuple(totals[code] for code in sorted(totals))


@dataclass(frozen=True, slots=True)
class StoredHolding:
    """One line of an account's holdings snapshot; ``key`` (``EXCHANGE:SYMBOL``) is unique in
    the snapshot."""

    account_id: UUID
    user_id: UUID
    instrument: Instrument
    quantity: Decimal
    average_cost: Money | None
    last_price: Money | None
    market_value: Money | None
    as_of: datetime

    def __post_init__(self) -> None:
        _normalize_times(self, "as_of")
        _one_currency("holding", self.average_cost, self.last_price, self.market_value)

    @property
    def key(self) -> str:
        return str(self.instrument.key)

    @property
    def price_currency(self) -> Currency | None:
        return _currency_of(self.average_cost, self.last_price, self.market_value)

    @classmethod
    def from_provider(
        cls, account: StoredAccount, holding: Holding, now: datetime
    ) -> StoredHolding:
        return cls(
            account_id=account.id,
            user_id=account.user_id,
            instrument=holding.instrument,
            quantity=holding.quantity,
            average_cost=holding.average_cost,
            last_price=holding.last_price,
            market_value=holding.market_value,
            as_of=now,
        )

    @staticmethod
    def snapshot(
        account: StoredAccount, holdings: Iterable[Holding], now: datetime
    ) -> tuple[StoredHolding, ...]:
        """The snapshot in key order; one instrument listed twice is an ``InvalidInput``
        (``duplicate_instrument``): a provider answer to refuse loudly, not to double count."""
        return _unique_by_key([StoredHolding.from_provider(account, h, now) for h in holdings])


@dataclass(frozen=True, slots=True)
class StoredPosition:
    """One line of an account's positions snapshot; ``key`` (``EXCHANGE:SYMBOL/product``) is
    unique in the snapshot. ``quantity`` is signed (short < 0)."""

    account_id: UUID
    user_id: UUID
    instrument: Instrument
    quantity: Decimal
    product: str
    average_price: Money | None
    last_price: Money | None
    market_value: Money | None
    realised_pnl: Money | None
    as_of: datetime

    def __post_init__(self) -> None:
        _normalize_times(self, "as_of")
        if not self.product:
            raise InvalidInput("A position needs a product.", field="product")
        _one_currency(
            "position", self.average_price, self.last_price, self.market_value, self.realised_pnl
        )

    @property
    def key(self) -> str:
        return f"{self.instrument.key}/{self.product}"

    @property
    def price_currency(self) -> Currency | None:
        return _currency_of(
            self.average_price, self.last_price, self.market_value, self.realised_pnl
        )

    @classmethod
    def from_provider(
        cls, account: StoredAccount, position: Position, now: datetime
    ) -> StoredPosition:
        return cls(
            account_id=account.id,
            user_id=account.user_id,
            instrument=position.instrument,
            quantity=position.quantity,
            product=position.product,
            average_price=position.average_price,
            last_price=position.last_price,
            market_value=position.market_value,
            realised_pnl=position.realised_pnl,
            as_of=now,
        )

    @staticmethod
    def snapshot(
        account: StoredAccount, positions: Iterable[Position], now: datetime
    ) -> tuple[StoredPosition, ...]:
        """As :meth:`StoredHolding.snapshot`, keyed by instrument and product."""
        return _unique_by_key([StoredPosition.from_provider(account, p, now) for p in positions])


S = TypeVar("S", StoredHolding, StoredPosition)


def _unique_by_key(lines: list[S]) -> tuple[S, ...]:
    by_key: dict[str, S] = {}
    for line in lines:
        if line.key in by_key:
            raise InvalidInput(
                f"The provider listed {line.key} twice.", code="duplicate_instrument"
            )
        by_key[line.key] = line
    return tuple(by_key[key] for key in sorted(by_key))


# ---------------------------------------------------------------------------- transactions


@dataclass(frozen=True, slots=True)
class ManualEntry:
    """What a person records in a manual account (validated): a signed cash ``amount`` (money
    out is negative), when, what kind, and optionally the instrument, quantity and price."""

    activity: ActivityType
    occurred_at: datetime
    amount: Money
    instrument: Instrument | None = None
    quantity: Decimal | None = None
    price: Money | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", ensure_utc(self.occurred_at, field="occurred_at"))
        if not isinstance(self.activity, ActivityType):
            raise InvalidInput("Not an activity type.", field="activity")
        if not isinstance(self.amount, Money):
            raise InvalidInput("An amount is Money.", field="amount")
        if self.quantity is not None and not (
            isinstance(self.quantity, Decimal) and self.quantity.is_finite()
        ):
            raise InvalidInput("A quantity is a finite decimal.", field="quantity")
        if (self.quantity is None) != (self.instrument is None):
            raise InvalidInput("An instrument and its quantity go together.", field="quantity")
        if self.price is not None and self.instrument is None:
            raise InvalidInput("A price needs an instrument.", field="price")
        description = self.description.strip()
        if len(description) > DESCRIPTION_MAX or not description.isprintable():
            raise InvalidInput(
                f"A description is at most {DESCRIPTION_MAX} printable characters.",
                field="description",
            )
        object.__setattr__(self, "description", description)


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    """One ledger entry of one account, synced or manual.

    ``created_seq`` and ``change_seq`` are stamped by the repository when it writes the row
    (``0`` before): the seq of its insert and of its latest change.
    """

    id: UUID
    account_id: UUID
    user_id: UUID
    source: AccountSource
    provider_transaction_id: str
    activity: ActivityType
    occurred_at: datetime
    amount: Money
    created_at: datetime
    updated_at: datetime
    instrument: Instrument | None = None
    quantity: Decimal | None = None
    price: Money | None = None
    description: str = ""
    provider_type: str | None = None
    order_ref: str | None = None
    removed_at: datetime | None = None
    created_seq: int = 0
    change_seq: int = 0

    def __post_init__(self) -> None:
        _normalize_times(self, "occurred_at", "created_at", "updated_at", "removed_at")
        if not self.provider_transaction_id:
            raise InvalidInput(
                "A transaction needs the provider's id.", field="provider_transaction_id"
            )
        if self.created_seq < 0 or self.change_seq < self.created_seq:
            raise ValueError("change_seq never goes below created_seq")

    @classmethod
    def from_provider(
        cls, transaction_id: UUID, account: StoredAccount, transaction: Transaction, now: datetime
    ) -> StoredTransaction:
        account.ensure_synced()
        return cls(
            id=transaction_id,
            account_id=account.id,
            user_id=account.user_id,
            source=AccountSource.SYNCED,
            provider_transaction_id=transaction.provider_transaction_id,
            activity=transaction.activity,
            occurred_at=transaction.occurred_at,
            amount=transaction.amount,
            created_at=now,
            updated_at=now,
            instrument=transaction.instrument,
            quantity=transaction.quantity,
            price=transaction.price,
            description=transaction.description,
            provider_type=transaction.provider_type,
            order_ref=transaction.order_ref,
        )

    @classmethod
    def manual(
        cls, transaction_id: UUID, account: StoredAccount, entry: ManualEntry, now: datetime
    ) -> StoredTransaction:
        """A manual account's entry, in the account's currency (``currency_mismatch``)."""
        account.ensure_manual()
        _check_currency(account, entry)
        return cls(
            id=transaction_id,
            account_id=account.id,
            user_id=account.user_id,
            source=AccountSource.MANUAL,
            provider_transaction_id=str(transaction_id),
            activity=entry.activity,
            occurred_at=entry.occurred_at,
            amount=entry.amount,
            created_at=now,
            updated_at=now,
            instrument=entry.instrument,
            quantity=entry.quantity,
            price=entry.price,
            description=entry.description,
        )

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None

    @property
    def entry(self) -> ManualEntry:
        """The editable part (a ``PATCH`` replaces fields of it and calls :meth:`edited`)."""
        return ManualEntry(
            activity=self.activity,
            occurred_at=self.occurred_at,
            amount=self.amount,
            instrument=self.instrument,
            quantity=self.quantity,
            price=self.price,
            description=self.description,
        )

    def content(self) -> tuple[object, ...]:
        """Everything a provider (or an owner) can change; equal content is the same row."""
        return (
            self.activity,
            self.occurred_at,
            self.amount,
            self.instrument,
            self.quantity,
            self.price,
            self.description,
            self.provider_type,
            self.order_ref,
        )

    def updated_from(self, incoming: StoredTransaction, now: datetime) -> StoredTransaction | None:
        """This row as the provider now reports it (and no longer removed), or ``None`` when
        nothing changed — the caller then writes and stamps nothing."""
        if (
            incoming.account_id != self.account_id
            or incoming.provider_transaction_id != self.provider_transaction_id
        ):
            raise ValueError("not the same transaction")
        if not self.is_removed and incoming.content() == self.content():
            return None
        return replace(
            incoming,
            id=self.id,
            created_at=self.created_at,
            updated_at=now,
            removed_at=None,
            created_seq=self.created_seq,
            change_seq=self.change_seq,
        )

    def removed(self, now: datetime) -> StoredTransaction:
        """The provider no longer returns it (already removed: unchanged)."""
        if self.is_removed:
            return self
        return replace(self, removed_at=now, updated_at=now)

    def edited(
        self, account: StoredAccount, entry: ManualEntry, now: datetime
    ) -> StoredTransaction:
        self._require_editable()
        _check_currency(account, entry)
        return replace(
            self,
            activity=entry.activity,
            occurred_at=entry.occurred_at,
            amount=entry.amount,
            instrument=entry.instrument,
            quantity=entry.quantity,
            price=entry.price,
            description=entry.description,
            updated_at=now,
        )

    def deleted(self, now: datetime) -> StoredTransaction:
        self._require_editable()
        return replace(self, removed_at=now, updated_at=now)

    def _require_editable(self) -> None:
        if self.source is not AccountSource.MANUAL:
            raise Conflict(
                "Transactions synced from a provider are read-only.",
                code="synced_transaction_read_only",
            )
        if self.is_removed:
            raise NotFound("No such transaction.", code="transaction_not_found")


def _check_currency(account: StoredAccount, entry: ManualEntry) -> None:
    if entry.amount.currency != account.base_currency:
        raise InvalidInput(
            f"This account keeps {account.base_currency}.",
            code="currency_mismatch",
            field="amount.currency",
        )


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert of provider rows wrote: new rows, and rows whose content changed (or
    that came back after a removal). Identical rows count in neither."""

    added: int = 0
    modified: int = 0


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Which transactions a listing or an export shows. Empty sets mean "any"; ``since`` is
    inclusive and ``until`` exclusive; the amount range (inclusive) is on the signed amount;
    ``symbol`` matches the instrument's symbol exactly."""

    account_ids: frozenset[UUID] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    activities: frozenset[ActivityType] = frozenset()
    symbol: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    include_removed: bool = False

    def __post_init__(self) -> None:
        _normalize_times(self, "since", "until")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidInput("The range ends before it starts.", field="until")
        for name in ("min_amount", "max_amount"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, Decimal) and value.is_finite()):
                raise InvalidInput("An amount bound is a finite decimal.", field=name)
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise InvalidInput("The amount range ends before it starts.", field="max_amount")
        if self.symbol is not None and not self.symbol:
            raise InvalidInput("A symbol cannot be empty.", field="symbol")

    def matches(self, transaction: StoredTransaction) -> bool:
        """The rule every adapter implements (the memory one literally)."""
        instrument = transaction.instrument
        amount = transaction.amount.amount
        return (
            (self.include_removed or not transaction.is_removed)
            and (not self.account_ids or transaction.account_id in self.account_ids)
            and (self.since is None or transaction.occurred_at >= self.since)
            and (self.until is None or transaction.occurred_at < self.until)
            and (not self.activities or transaction.activity in self.activities)
            and (
                self.symbol is None or (instrument is not None and instrument.symbol == self.symbol)
            )
            and (self.min_amount is None or amount >= self.min_amount)
            and (self.max_amount is None or amount <= self.max_amount)
        )


# ------------------------------------------------------------------------------- cursors


def upsert_batch_owner(rows: Sequence[StoredTransaction]) -> tuple[UUID, UUID]:
    """The account and owner of an upsert batch: one of each, and each provider transaction
    id once (repositories refuse anything else with ``ValueError``)."""
    accounts = {(row.account_id, row.user_id) for row in rows}
    ids = [row.provider_transaction_id for row in rows]
    if len(accounts) != 1:
        raise ValueError("an upsert batch belongs to one account")
    if len(set(ids)) != len(ids):
        raise ValueError("an upsert batch holds each provider id once")
    return next(iter(accounts))


def check_page_size(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"A page holds 1 to {MAX_PAGE_SIZE} items.", field="limit")
    return limit


def invalid_cursor() -> BadRequest:
    return BadRequest(
        "This cursor does not belong to this listing.", code="invalid_cursor", field="cursor"
    )


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).rstrip(b"=").decode("ascii")


def _decode(text: str, listing: str, count: int) -> list[str]:
    if not isinstance(text, str) or not text.isascii() or len(text) > 1024:
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise invalid_cursor() from exc
    parts = raw.split("\x1f", count)
    if len(parts) != count + 1 or parts[0] != listing:
        raise invalid_cursor()
    return parts[1:]


def encode_key_cursor(listing: str, scope: UUID, key: str) -> str:
    """A keyset cursor on one text key of a listing (``accounts``, ``holdings``, …) of
    ``scope`` (the user whose accounts, the account whose holdings)."""
    return _encode(listing, scope.hex, key)


def decode_key_cursor(listing: str, scope: UUID, text: str) -> str:
    made_for, key = _decode(text, listing, 2)
    if made_for != scope.hex or not key:
        raise invalid_cursor()
    return key


@dataclass(frozen=True, slots=True)
class TransactionPosition:
    """Where a transactions listing stands: the last row shown, in ``(occurred_at desc, id
    desc)`` order; the next page holds the rows strictly after it in that order."""

    occurred_at: datetime
    id: UUID

    def __post_init__(self) -> None:
        _normalize_times(self, "occurred_at")

    @classmethod
    def of(cls, transaction: StoredTransaction) -> TransactionPosition:
        return cls(transaction.occurred_at, transaction.id)

    def encode(self, owner: UUID) -> str:
        """The cursor of this position in ``owner``'s listing."""
        return _encode("transactions", owner.hex, self.occurred_at.isoformat(), self.id.hex)

    @classmethod
    def decode(cls, text: str, owner: UUID) -> TransactionPosition:
        made_for, occurred_at, identifier = _decode(text, "transactions", 3)
        if made_for != owner.hex:
            raise invalid_cursor()
        try:
            when = datetime.fromisoformat(occurred_at)
            position = cls(when, UUID(hex=identifier))
        except (ValueError, InvalidInput) as exc:
            raise invalid_cursor() from exc
        return position

    def is_before(self, transaction: StoredTransaction) -> bool:
        """Whether ``transaction`` comes after this position in listing order."""
        return (transaction.occurred_at, transaction.id) < (self.occurred_at, self.id)


def keyset_page(rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """The page from ``rows`` fetched in listing order, ``limit + 1`` at most: the extra row
    only tells that another page exists."""
    items = tuple(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items, cursor_of(items[-1]) if more else None)


def encode_change_cursor(owner: UUID, seq: int) -> str:
    return _encode("changes", owner.hex, str(seq))


def decode_change_cursor(owner: UUID, text: str | None) -> int:
    """The last seq ``owner`` saw (``0`` without a cursor or with an empty one, as Plaid's
    feed has it: from the beginning)."""
    if text is None or text == "":
        return 0
    made_for, seq = _decode(text, "changes", 2)
    if made_for != owner.hex or not (seq.isascii() and seq.isdigit() and len(seq) <= 18):
        raise invalid_cursor()
    return int(seq)


@dataclass(frozen=True, slots=True)
class TransactionChanges:
    """One page of the change feed (Plaid-style): what was added, modified and removed after
    the client's cursor, each transaction once in its latest state. ``next_cursor`` is where
    to continue (the same cursor again when nothing changed); ``has_more`` asks to call again
    at once."""

    added: tuple[StoredTransaction, ...]
    modified: tuple[StoredTransaction, ...]
    removed: tuple[StoredTransaction, ...]
    next_cursor: str
    has_more: bool

    @classmethod
    def of(
        cls, owner: UUID, rows: Sequence[StoredTransaction], after_seq: int, limit: int
    ) -> TransactionChanges:
        """From up to ``limit + 1`` rows of ``owner`` with ``change_seq > after_seq`` in seq
        order."""
        page = rows[:limit]
        added: list[StoredTransaction] = []
        modified: list[StoredTransaction] = []
        removed: list[StoredTransaction] = []
        last = after_seq
        for row in page:
            if row.change_seq <= last:
                raise ValueError("changes come in increasing seq order, after the cursor")
            last = row.change_seq
            if row.is_removed:
                removed.append(row)
            elif row.created_seq > after_seq:
                added.append(row)
            else:
                modified.append(row)
        return cls(
            tuple(added),
            tuple(modified),
            tuple(removed),
            encode_change_cursor(owner, last),
            len(rows) > limit,
        )


# ------------------------------------------------------------------------------ sync runs


class SyncTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"


class SyncRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_SYNC_STATUSES = frozenset({SyncRunStatus.QUEUED, SyncRunStatus.RUNNING})

_SYNC_TRANSITIONS: dict[SyncRunStatus, frozenset[SyncRunStatus]] = {
    SyncRunStatus.QUEUED: frozenset({SyncRunStatus.RUNNING, SyncRunStatus.FAILED}),
    SyncRunStatus.RUNNING: frozenset({SyncRunStatus.SUCCEEDED, SyncRunStatus.FAILED}),
    SyncRunStatus.SUCCEEDED: frozenset(),
    SyncRunStatus.FAILED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class SyncFailure:
    """Why a run failed: a stable ``code`` and words for people (never a secret)."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > 64:
            raise ValueError("a failure code is 1-64 characters")
        object.__setattr__(self, "message", self.message[:NOTE_MAX])


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """What a run wrote: accounts seen, snapshot lines stored, transactions changed."""

    accounts: int = 0
    holdings: int = 0
    positions: int = 0
    transactions_added: int = 0
    transactions_modified: int = 0
    transactions_removed: int = 0

    def __post_init__(self) -> None:
        if any(getattr(self, name) < 0 for name in self.__dataclass_fields__):
            raise ValueError("counts are never negative")

    def __add__(self, other: SyncCounts) -> SyncCounts:
        return SyncCounts(
            *(getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__)
        )


@dataclass(frozen=True, slots=True)
class SyncRun:
    """One sync of one connection. ``heartbeat_at`` moves while it runs; a run whose heartbeat
    is too old is failed as ``stale_run`` by the cleanup."""

    id: UUID
    connection_id: UUID
    user_id: UUID
    trigger: SyncTrigger
    status: SyncRunStatus
    queued_at: datetime
    heartbeat_at: datetime
    counts: SyncCounts = field(default_factory=SyncCounts)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: SyncFailure | None = None
    suspicious: tuple[str, ...] = ()
    """Notes on answers that looked wrong (data kept), e.g. holdings that went empty."""
    job_id: str | None = None

    def __post_init__(self) -> None:
        _normalize_times(self, "queued_at", "heartbeat_at", "started_at", "finished_at")

    @classmethod
    def queued(
        cls,
        run_id: UUID,
        connection_id: UUID,
        user_id: UUID,
        trigger: SyncTrigger,
        now: datetime,
    ) -> SyncRun:
        return cls(
            id=run_id,
            connection_id=connection_id,
            user_id=user_id,
            trigger=trigger,
            status=SyncRunStatus.QUEUED,
            queued_at=now,
            heartbeat_at=now,
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_SYNC_STATUSES

    @property
    def is_suspicious(self) -> bool:
        return bool(self.suspicious)

    def _to(self, status: SyncRunStatus, **changes: object) -> SyncRun:
        if status not in _SYNC_TRANSITIONS[self.status]:
            raise Conflict(
                f"A {self.status} sync run cannot become {status}.",
                code="invalid_sync_transition",
            )
        return replace(self, status=status, **changes)  # type: ignore[arg-type]

    def with_job(self, job_id: str) -> SyncRun:
        return replace(self, job_id=job_id)

    def started(self, now: datetime) -> SyncRun:
        return self._to(SyncRunStatus.RUNNING, started_at=now, heartbeat_at=now)

    def progressed(self, counts: SyncCounts, now: datetime) -> SyncRun:
        """Counts so far, and a heartbeat (only while running)."""
        if self.status is not SyncRunStatus.RUNNING:
            raise Conflict(
                f"A {self.status} sync run is not running.", code="invalid_sync_transition"
            )
        return replace(self, counts=counts, heartbeat_at=now)

    def flagged(self, note: str) -> SyncRun:
        """Record an answer that looked wrong (the run goes on; the old data is kept)."""
        return replace(self, suspicious=(*self.suspicious, note[:NOTE_MAX]))

    def succeeded(self, now: datetime) -> SyncRun:
        return self._to(SyncRunStatus.SUCCEEDED, finished_at=now, heartbeat_at=now)

    def failed(self, now: datetime, error: SyncFailure) -> SyncRun:
        return self._to(SyncRunStatus.FAILED, finished_at=now, heartbeat_at=now, error=error)


# -------------------------------------------------------------------------- raw payloads


@dataclass(frozen=True, slots=True)
class RawPayload:
    """A provider's response body as a sync received it, zlib-compressed, so normalized data
    can be derived again after a mapper fix. ``kind`` says what was read (the request path).
    Bodies above the cap keep their first ``cap`` bytes and are marked ``truncated``; ``size``
    is the original size."""

    id: UUID
    run_id: UUID
    kind: str
    captured_at: datetime
    size: int
    body: bytes = field(repr=False)
    truncated: bool = False

    def __post_init__(self) -> None:
        _normalize_times(self, "captured_at")
        if not self.kind or len(self.kind) > KIND_MAX or self.size < 0:
            raise ValueError(f"a payload has a kind of 1-{KIND_MAX} characters and a size")

    @classmethod
    def capture(
        cls,
        payload_id: UUID,
        run_id: UUID,
        kind: str,
        body: bytes,
        now: datetime,
        *,
        cap: int,
    ) -> RawPayload:
        if cap < 0:
            raise ValueError("a cap is at least zero")
        kept = body[:cap]
        return cls(
            id=payload_id,
            run_id=run_id,
            kind=kind,
            captured_at=now,
            size=len(body),
            body=zlib.compress(kept),
            truncated=len(kept) < len(body),
        )

    def content(self) -> bytes:
        """The body as received (its first ``cap`` bytes when truncated)."""
        return zlib.decompress(self.body)
