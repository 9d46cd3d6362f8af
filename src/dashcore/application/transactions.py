"""Reading a user's transactions and their change feed; recording manual ones (issue #7).

Rules:
- Owner-checked like accounts: another user's transaction is a 404 ``transaction_not_found``,
  another user's account a 404 ``account_not_found`` (never 403).
- ``GET /transactions`` lists newest first, ``(occurred_at desc, id desc)``, by keyset; filters:
  accounts, ``[since, until)``, activity types, symbol, amount range (signed, inclusive).
- The change feed (Plaid-style) reports every insert, change and removal after the client's
  cursor, each transaction once in its latest state; see :mod:`dashcore.domain.aggregation`.
- Only manual accounts take entries by hand. Synced transactions are read-only (``Conflict``
  ``synced_transaction_read_only``); a synced account takes no manual entry (``Conflict``
  ``synced_account_read_only``).
- An entry is in its account's currency (``currency_mismatch`` otherwise), happened at a
  time-zone-aware instant (naive ones are refused) between 1900 and one year from now (further
  is a typo, not a plan), and moves the account's balance by its amount.
- Every write is audited in the same unit of work, and commits once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Literal
from uuid import UUID

from dashcore.application.accounts import ManualBalance, owned_account
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.trades import instrument_code_problem
from dashcore.domain.aggregation import (
    DEFAULT_PAGE_SIZE,
    ManualEntry,
    StoredAccount,
    StoredTransaction,
    TransactionChanges,
    TransactionFilter,
    TransactionPosition,
    check_page_size,
    decode_change_cursor,
)
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import InvalidInput, NotFound
from dashcore.domain.instruments import Instrument, instrument_code
from dashcore.domain.money import Currency, Money, input_decimal
from dashcore.domain.portfolio import ActivityType, Page
from dashcore.domain.time import ensure_utc
from dashcore.ports.aggregation import (
    BalanceRepository,
    StoredAccountRepository,
    TransactionRepository,
)
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "EARLIEST_ENTRY",
    "LATEST_ENTRY_AHEAD",
    "UNCHANGED",
    "EntryChange",
    "EntryInput",
    "ListTransactions",
    "ManualTransactions",
    "TransactionChangeFeed",
    "Unchanged",
    "transaction_not_found",
]

EARLIEST_ENTRY = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_ENTRY_AHEAD = timedelta(days=366)


def transaction_not_found() -> NotFound:
    return NotFound("No such transaction.", code="transaction_not_found")


class ListTransactions:
    """The user's transactions matching a filter, newest first."""

    def __init__(
        self, accounts: StoredAccountRepository, transactions: TransactionRepository
    ) -> None:
        self._accounts = accounts
        self._transactions = transactions

    async def __call__(
        self,
        user_id: UUID,
        query: TransactionFilter,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[StoredTransaction]:
        check_page_size(limit)
        after = None if cursor is None else TransactionPosition.decode(cursor, user_id)
        for account_id in sorted(query.account_ids):
            await owned_account(self._accounts, user_id, account_id)
        return await self._transactions.list(user_id, query, after=after, limit=limit)


class TransactionChangeFeed:
    """``GET /transactions/changes``: what changed after the client's cursor (none: from the
    beginning). Call again with ``next_cursor`` while ``has_more``."""

    def __init__(self, transactions: TransactionRepository) -> None:
        self._transactions = transactions

    async def __call__(
        self, user_id: UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> TransactionChanges:
        check_page_size(limit)
        return await self._transactions.changes(
            user_id, decode_change_cursor(user_id, cursor), limit
        )


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


UNCHANGED = _Unchanged.UNCHANGED
"""An :class:`EntryChange` field left as it is."""
Unchanged = Literal[_Unchanged.UNCHANGED]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryInput:
    """What a person types for a manual entry. ``amount`` is the signed cash effect (money
    out is negative) in ``currency`` (default: the account's); an instrument is a ``symbol``
    on an ``exchange``, with a ``quantity`` and optionally a unit ``price``."""

    activity: ActivityType
    occurred_at: datetime
    amount: Decimal
    currency: Currency | None = None
    symbol: str | None = None
    exchange: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    description: str = ""

    @classmethod
    def of(cls, transaction: StoredTransaction) -> EntryInput:
        instrument = transaction.instrument
        return cls(
            activity=transaction.activity,
            occurred_at=transaction.occurred_at,
            amount=transaction.amount.amount,
            currency=transaction.amount.currency,
            symbol=None if instrument is None else instrument.symbol,
            exchange=None if instrument is None else instrument.exchange,
            quantity=transaction.quantity,
            price=None if transaction.price is None else transaction.price.amount,
            description=transaction.description,
        )

    def entry(self, account: StoredAccount, now: datetime) -> ManualEntry:
        """The validated entry for ``account`` at ``now`` (``InvalidInput`` naming the field)."""
        occurred_at = ensure_utc(self.occurred_at, field="occurred_at")
        if not EARLIEST_ENTRY <= occurred_at <= now + LATEST_ENTRY_AHEAD:
            raise InvalidInput(
                "The date is not plausible: between 1900 and a year from now.",
                code="implausible_date",
                field="occurred_at",
            )
        currency = self.currency or account.base_currency
        instrument = None
        if self.symbol is not None or self.exchange is not None:
            symbol, exchange = self.symbol or "", self.exchange or ""
            problems = [
                problem
                for name, text in (("symbol", symbol), ("exchange", exchange))
                if (problem := instrument_code_problem(name, text)) is not None
            ]
            if problems:
                raise InvalidInput("The instrument is not valid.", errors=tuple(problems))
            instrument = Instrument(
                symbol=instrument_code(symbol),
                exchange=instrument_code(exchange),
                currency=currency,
            )
        return ManualEntry(
            activity=self.activity,
            occurred_at=occurred_at,
            amount=Money(input_decimal(self.amount), currency),
            instrument=instrument,
            quantity=None
            if self.quantity is None
            else input_decimal(self.quantity, field="quantity"),
            price=None
            if self.price is None
            else Money(input_decimal(self.price, field="price"), currency),
            description=self.description,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryChange:
    """A ``PATCH`` of a manual entry: each field :data:`UNCHANGED` unless given (``None``
    clears an optional one)."""

    activity: ActivityType | Unchanged = UNCHANGED
    occurred_at: datetime | Unchanged = UNCHANGED
    amount: Decimal | Unchanged = UNCHANGED
    currency: Currency | Unchanged = UNCHANGED
    symbol: str | Unchanged | None = UNCHANGED
    exchange: str | Unchanged | None = UNCHANGED
    quantity: Decimal | Unchanged | None = UNCHANGED
    price: Decimal | Unchanged | None = UNCHANGED
    description: str | Unchanged = UNCHANGED

    def applied_to(self, current: EntryInput) -> EntryInput:
        given = {
            name: value
            for name in EntryChange.__dataclass_fields__
            if (value := getattr(self, name)) is not UNCHANGED
        }
        return replace(current, **given)


class ManualTransactions:
    """Recording, editing and deleting entries of manual accounts (``POST /transactions``,
    ``PATCH``/``DELETE /transactions/{id}``). Each write holds the account's row lock until it
    commits, so the account's balance moves by exactly the entries that stand. An edit that
    changes nothing writes nothing: no change-feed entry, no audit event."""

    def __init__(
        self,
        accounts: StoredAccountRepository,
        transactions: TransactionRepository,
        balances: BalanceRepository,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._accounts = accounts
        self._transactions = transactions
        self._balance = ManualBalance(balances)
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def create(
        self, user_id: UUID, account_id: UUID, entry: EntryInput, caller: CallerContext
    ) -> StoredTransaction:
        account = await owned_account(self._accounts, user_id, account_id, lock=True)
        now = self._clock.now()
        transaction = StoredTransaction.manual(
            self._ids.new_id(), account, entry.entry(account, now), now
        )
        stored = await self._transactions.add(transaction)
        await self._balance.moved(account, stored.amount.amount, now)
        await self._record("manual_transaction_created", stored, caller)
        await self._uow.commit()
        return stored

    async def update(
        self, user_id: UUID, transaction_id: UUID, change: EntryChange, caller: CallerContext
    ) -> StoredTransaction:
        account, current = await self._locked(user_id, transaction_id)
        now = self._clock.now()
        entry = change.applied_to(EntryInput.of(current)).entry(account, now)
        edited = current.edited(account, entry, now)
        if edited.content() == current.content():  # nothing to write, feed or audit
            await self._uow.rollback()
            return current
        stored = await self._transactions.save(edited)
        await self._balance.moved(account, (stored.amount - current.amount).amount, now)
        await self._record("manual_transaction_updated", stored, caller)
        await self._uow.commit()
        return stored

    async def delete(self, user_id: UUID, transaction_id: UUID, caller: CallerContext) -> None:
        account, current = await self._locked(user_id, transaction_id)
        now = self._clock.now()
        stored = await self._transactions.save(current.deleted(now))
        await self._balance.moved(account, (-current.amount).amount, now)
        await self._record("manual_transaction_deleted", stored, caller)
        await self._uow.commit()

    async def _locked(
        self, user_id: UUID, transaction_id: UUID
    ) -> tuple[StoredAccount, StoredTransaction]:
        """The transaction's account under its lock, then the transaction as it stands now
        (read after the lock: a concurrent edit of the same entry has committed by then)."""
        found = await self._transactions.get(transaction_id)
        if found is None or found.user_id != user_id:
            raise transaction_not_found()
        account = await self._accounts.lock(found.account_id)
        current = await self._transactions.get(transaction_id)
        if account is None or current is None:
            raise transaction_not_found()
        return account, current

    async def _record(
        self, action: str, transaction: StoredTransaction, caller: CallerContext
    ) -> None:
        await self._audit.record(
            action,
            caller=caller,
            target=f"transaction:{transaction.id}",
            metadata={"account": str(transaction.account_id)},
        )
