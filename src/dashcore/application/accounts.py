"""Reading a user's aggregated accounts, and keeping manual accounts by hand (issue #7).

Rules:
- Everything is owner-checked: another user's account, like one that does not exist or a
  deleted manual account, is a 404 ``account_not_found`` — never a 403 that would confirm it
  exists.
- Listings page by keyset with opaque cursors (``limit`` 1 to 500); a cursor dashcore did not
  make for that listing is a ``BadRequest`` ``invalid_cursor``.
- Freshness is visible: every account carries ``last_synced_at`` and ``sync_status``; a total of
  balances names the accounts it sums and the oldest ``last_synced_at`` among them.
- Balances are totalled per currency, never across currencies. Closed accounts (the provider no
  longer lists them) are not in the totals: their last balance is history, and its money is
  most likely counted again wherever it went.
- A manual account's balance is the sum of its live transactions, kept up to date by every
  manual write under the account's row lock (so two concurrent writes cannot lose one).
- Every write is audited in the same unit of work, and commits once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.aggregation import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    BalanceTotal,
    ManualAccountDetails,
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    TransactionFilter,
    check_page_size,
    decode_key_cursor,
    invalid_cursor,
    totals_by_currency,
)
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Conflict, InvalidInput, NotFound
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, Page
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    StoredAccountRepository,
    TransactionRepository,
)
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "AccountBalance",
    "BalanceTotals",
    "CurrencyTotal",
    "GetAccount",
    "GetBalances",
    "ListAccounts",
    "ListHoldings",
    "ListPositions",
    "ManualAccounts",
    "ManualBalance",
    "account_not_found",
    "all_accounts",
    "masked",
    "owned_account",
]


def account_not_found() -> NotFound:
    return NotFound("No such account.", code="account_not_found")


async def owned_account(
    accounts: StoredAccountRepository, user_id: UUID, account_id: UUID, *, lock: bool = False
) -> StoredAccount:
    """The user's visible account (``lock``: under a row lock until the unit of work ends)."""
    account = await (accounts.lock(account_id) if lock else accounts.get(account_id))
    if account is None or account.user_id != user_id or not account.is_visible:
        raise account_not_found()
    return account


def masked(last4: str) -> str:
    """``"1234"`` → ``"****1234"``: a manual account keeps only the last four characters of
    its number, which is all the owner needs to recognise it."""
    if not (len(last4) == 4 and last4.isascii() and last4.isalnum()):
        raise InvalidInput(
            "The last four characters of the number: letters or digits.", field="last4"
        )
    return "****" + last4


def _account_position(user_id: UUID, cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    try:
        return UUID(decode_key_cursor("accounts", user_id, cursor))
    except ValueError as exc:
        raise invalid_cursor() from exc


def _snapshot_position(listing: str, account_id: UUID, cursor: str | None) -> str | None:
    return None if cursor is None else decode_key_cursor(listing, account_id, cursor)


class ListAccounts:
    """The user's accounts (synced and manual, closed ones included), in creation order."""

    def __init__(self, accounts: StoredAccountRepository) -> None:
        self._accounts = accounts

    async def __call__(
        self, user_id: UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[StoredAccount]:
        return await self._accounts.list_for_user(
            user_id, after=_account_position(user_id, cursor), limit=check_page_size(limit)
        )


class GetAccount:
    def __init__(self, accounts: StoredAccountRepository) -> None:
        self._accounts = accounts

    async def __call__(self, user_id: UUID, account_id: UUID) -> StoredAccount:
        return await owned_account(self._accounts, user_id, account_id)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account and its latest balance (``None`` before its first successful sync)."""

    account: StoredAccount
    balance: StoredBalance | None


class GetBalances:
    def __init__(self, accounts: StoredAccountRepository, balances: BalanceRepository) -> None:
        self._accounts = accounts
        self._balances = balances

    async def __call__(self, user_id: UUID, account_id: UUID) -> AccountBalance:
        account = await owned_account(self._accounts, user_id, account_id)
        return AccountBalance(account, await self._balances.get(account.id))


class ListHoldings:
    """An account's holdings snapshot (the last complete read of it), by instrument key."""

    def __init__(self, accounts: StoredAccountRepository, holdings: HoldingRepository) -> None:
        self._accounts = accounts
        self._holdings = holdings

    async def __call__(
        self,
        user_id: UUID,
        account_id: UUID,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[StoredHolding]:
        check_page_size(limit)
        after = _snapshot_position("holdings", account_id, cursor)
        account = await owned_account(self._accounts, user_id, account_id)
        return await self._holdings.list(account.id, after=after, limit=limit)


class ListPositions:
    """An account's open positions snapshot, by instrument key and product."""

    def __init__(self, accounts: StoredAccountRepository, positions: PositionRepository) -> None:
        self._accounts = accounts
        self._positions = positions

    async def __call__(
        self,
        user_id: UUID,
        account_id: UUID,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[StoredPosition]:
        check_page_size(limit)
        after = _snapshot_position("positions", account_id, cursor)
        account = await owned_account(self._accounts, user_id, account_id)
        return await self._positions.list(account.id, after=after, limit=limit)


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    """The sums in one currency, the accounts they include (account id order), and the oldest
    ``last_synced_at`` among the synced ones: how stale the total may be (``None`` when all are
    manual, or when one has a balance but no sync to vouch for it)."""

    total: BalanceTotal
    accounts: tuple[StoredAccount, ...]
    oldest_synced_at: datetime | None


async def all_accounts(accounts: StoredAccountRepository, user_id: UUID) -> list[StoredAccount]:
    """Every visible account of the user, walking the keyset pages."""
    found: list[StoredAccount] = []
    after: UUID | None = None
    while True:
        page = await accounts.list_for_user(user_id, after=after, limit=MAX_PAGE_SIZE)
        found.extend(page.items)
        if page.next_cursor is None or not page.items:
            return found
        after = page.items[-1].id


class BalanceTotals:
    """``GET /balances``: the user's balances summed per currency (open accounts only)."""

    def __init__(self, accounts: StoredAccountRepository, balances: BalanceRepository) -> None:
        self._accounts = accounts
        self._balances = balances

    async def __call__(self, user_id: UUID) -> tuple[CurrencyTotal, ...]:
        open_accounts = {
            a.id: a for a in await all_accounts(self._accounts, user_id) if a.closed_at is None
        }
        counted = [
            b for b in await self._balances.list_for_user(user_id) if b.account_id in open_accounts
        ]
        members: dict[Currency, list[StoredAccount]] = defaultdict(list)
        for balance in counted:
            members[balance.cash.currency].append(open_accounts[balance.account_id])
        return tuple(
            CurrencyTotal(total, tuple(members[total.currency]), _oldest(members[total.currency]))
            for total in totals_by_currency(counted)
        )


def _oldest(accounts: Sequence[StoredAccount]) -> datetime | None:
    synced = [a.last_synced_at for a in accounts if not a.is_manual]
    if any(when is None for when in synced):  # a balance without a sync: no claim of freshness
        return None
    return min((when for when in synced if when is not None), default=None)


class ManualBalance:
    """Keeps a manual account's balance equal to the sum of its live transactions: its cash
    moves by each write's change of amount (it may go below zero: a card, an overdraft); its
    buying power is the cash above zero, and no margin is used."""

    def __init__(self, balances: BalanceRepository) -> None:
        self._balances = balances

    async def opened(self, account: StoredAccount, now: datetime) -> None:
        zero = Money.zero(account.base_currency)
        await self._balances.put(StoredBalance(account.id, account.user_id, zero, zero, zero, now))

    async def moved(self, account: StoredAccount, change: Decimal, now: datetime) -> None:
        """Add ``change`` (in the account's currency); the caller holds the account's lock."""
        current = await self._balances.get(account.id)
        cash = (Money.zero(account.base_currency) if current is None else current.cash) + Money(
            change, account.base_currency
        )
        zero = Money.zero(account.base_currency)
        buying_power = max(cash, zero)
        await self._balances.put(
            StoredBalance(account.id, account.user_id, cash, buying_power, zero, now)
        )


class ManualAccounts:
    """Creating, editing and deleting accounts a person keeps by hand. Deleting one removes its
    transactions (marked removed, so the change feed reports them)."""

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
        self,
        user_id: UUID,
        caller: CallerContext,
        *,
        name: str,
        account_type: AccountType,
        base_currency: Currency,
        last4: str | None = None,
    ) -> StoredAccount:
        details = ManualAccountDetails(
            name, account_type, base_currency, "****" if last4 is None else masked(last4)
        )
        now = self._clock.now()
        account = StoredAccount.manual(self._ids.new_id(), user_id, details, now)
        await self._accounts.add(account)
        await self._balance.opened(account, now)
        await self._audit.record(
            "manual_account_created",
            caller=caller,
            target=f"account:{account.id}",
            metadata={"currency": account.base_currency.code, "type": account.type.value},
        )
        await self._uow.commit()
        return account

    async def update(
        self,
        user_id: UUID,
        account_id: UUID,
        caller: CallerContext,
        *,
        name: str | None = None,
        account_type: AccountType | None = None,
        base_currency: Currency | None = None,
        last4: str | None = None,
    ) -> StoredAccount:
        """Change what is given (``None``: unchanged). The currency changes only while the
        account has no transactions (``Conflict`` ``account_currency_in_use``): its entries
        and its balance are in it."""
        account = await owned_account(self._accounts, user_id, account_id, lock=True)
        details = ManualAccountDetails(
            name=(account.name or "") if name is None else name,
            type=account.type if account_type is None else account_type,
            base_currency=account.base_currency if base_currency is None else base_currency,
            masked_number=account.masked_number if last4 is None else masked(last4),
        )
        now = self._clock.now()
        edited = account.edited(details, now)
        moved_currency = edited.base_currency != account.base_currency
        if moved_currency:
            await self._require_no_transactions(account)
        await self._accounts.save(edited)
        if moved_currency:
            await self._balance.opened(edited, now)
        await self._audit.record(
            "manual_account_updated",
            caller=caller,
            target=f"account:{account.id}",
            metadata={"currency": edited.base_currency.code, "type": edited.type.value},
        )
        await self._uow.commit()
        return edited

    async def delete(self, user_id: UUID, account_id: UUID, caller: CallerContext) -> None:
        account = await owned_account(self._accounts, user_id, account_id, lock=True)
        now = self._clock.now()
        await self._accounts.save(account.deleted(now))
        removed = await self._transactions.mark_account_removed(account.id, now)
        await self._audit.record(
            "manual_account_deleted",
            caller=caller,
            target=f"account:{account.id}",
            metadata={"transactions_removed": removed},
        )
        await self._uow.commit()

    async def _require_no_transactions(self, account: StoredAccount) -> None:
        query = TransactionFilter(account_ids=frozenset({account.id}))
        if (await self._transactions.list(account.user_id, query, limit=1)).items:
            raise Conflict(
                "This account has transactions in its currency; it cannot change.",
                code="account_currency_in_use",
            )
