"""A world for the account and transaction use cases: a fake clock, sequential ids and the
memory aggregated-data store. Each builder takes the unit of work the use case runs in; the
arranging helpers (``synced``, ``balance``…) write through the memory repositories in a fresh
unit of work and commit, as a finished sync would have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from dashcore.application.accounts import (
    BalanceTotals,
    GetAccount,
    GetBalances,
    ListAccounts,
    ListHoldings,
    ListPositions,
    ManualAccounts,
)
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.transactions import (
    EntryInput,
    ListTransactions,
    ManualTransactions,
    TransactionChangeFeed,
)
from dashcore.domain.aggregation import (
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
)
from dashcore.domain.context import CallerContext
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, ActivityType, Holding, Position
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.aggregation import (
    MemoryBalanceRepository,
    MemoryHoldingRepository,
    MemoryPositionRepository,
    MemoryStoredAccountRepository,
    MemoryTransactionRepository,
)
from tests.unit.aggregation_factories import T0, equity, synced_account, synced_transaction

__all__ = ["CALLER", "OTHER", "OWNER", "AccountsWorld"]

OWNER = UUID("00000000-0000-7000-8000-00000000aa01")
OTHER = UUID("00000000-0000-7000-8000-00000000bb02")
CALLER = CallerContext(actor=f"user:{OWNER}", ip="203.0.113.9", request_id="req-1")


@dataclass
class AccountsWorld:
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))
    database: MemoryDatabase = field(default_factory=MemoryDatabase)
    ids: SequentialIds = field(default_factory=lambda: SequentialIds(1000))

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.database)

    # -- use cases -------------------------------------------------------------------------
    def audit(self, uow: MemoryUnitOfWork) -> AuditTrail:
        return AuditTrail(MemoryAuditLog(uow), self.clock, self.ids)

    def list_accounts(self) -> ListAccounts:
        return ListAccounts(MemoryStoredAccountRepository(self.uow()))

    def get_account(self) -> GetAccount:
        return GetAccount(MemoryStoredAccountRepository(self.uow()))

    def get_balances(self) -> GetBalances:
        uow = self.uow()
        return GetBalances(MemoryStoredAccountRepository(uow), MemoryBalanceRepository(uow))

    def balance_totals(self) -> BalanceTotals:
        uow = self.uow()
        return BalanceTotals(MemoryStoredAccountRepository(uow), MemoryBalanceRepository(uow))

    def list_holdings(self) -> ListHoldings:
        uow = self.uow()
        return ListHoldings(MemoryStoredAccountRepository(uow), MemoryHoldingRepository(uow))

    def list_positions(self) -> ListPositions:
        uow = self.uow()
        return ListPositions(MemoryStoredAccountRepository(uow), MemoryPositionRepository(uow))

    def list_transactions(self) -> ListTransactions:
        uow = self.uow()
        return ListTransactions(
            MemoryStoredAccountRepository(uow), MemoryTransactionRepository(uow)
        )

    def change_feed(self) -> TransactionChangeFeed:
        return TransactionChangeFeed(MemoryTransactionRepository(self.uow()))

    def manual_accounts(self, uow: MemoryUnitOfWork | None = None) -> ManualAccounts:
        uow = uow or self.uow()
        return ManualAccounts(
            MemoryStoredAccountRepository(uow),
            MemoryTransactionRepository(uow),
            MemoryBalanceRepository(uow),
            self.audit(uow),
            uow,
            self.clock,
            self.ids,
        )

    def manual_transactions(self, uow: MemoryUnitOfWork | None = None) -> ManualTransactions:
        uow = uow or self.uow()
        return ManualTransactions(
            MemoryStoredAccountRepository(uow),
            MemoryTransactionRepository(uow),
            MemoryBalanceRepository(uow),
            self.audit(uow),
            uow,
            self.clock,
            self.ids,
        )

    # -- arranging -------------------------------------------------------------------------
    async def synced(
        self, user_id: UUID = OWNER, *, provider_account_id: str = "ACC-1", **overrides: Any
    ) -> StoredAccount:
        """A synced account, freshly synced at the clock's time."""
        uow = self.uow()
        account = synced_account(
            self.ids.new_id(),
            user_id=user_id,
            connection_id=self.ids.new_id(),
            now=self.clock.now(),
            provider_account_id=provider_account_id,
            **overrides,
        ).sync_finished(self.clock.now())
        stored = await MemoryStoredAccountRepository(uow).upsert_synced(account)
        await uow.commit()
        return stored

    async def save(self, account: StoredAccount) -> None:
        uow = self.uow()
        await MemoryStoredAccountRepository(uow).save(account)
        await uow.commit()

    async def balance(self, account: StoredAccount, cash: str, currency: str = "USD") -> None:
        uow = self.uow()
        money = Money.of(cash, currency)
        await MemoryBalanceRepository(uow).put(
            StoredBalance(
                account.id, account.user_id, money, money, Money.zero(currency), self.clock.now()
            )
        )
        await uow.commit()

    async def holdings(self, account: StoredAccount, symbols: Sequence[str]) -> None:
        uow = self.uow()
        lines = StoredHolding.snapshot(
            account,
            [
                Holding(account.provider_account_id or "", equity(s), Decimal(1), None, None, None)
                for s in symbols
            ],
            self.clock.now(),
        )
        await MemoryHoldingRepository(uow).replace(account.id, lines)
        await uow.commit()

    async def positions(self, account: StoredAccount, symbols: Sequence[str]) -> None:
        uow = self.uow()
        lines = StoredPosition.snapshot(
            account,
            [
                Position(
                    account.provider_account_id or "",
                    equity(s),
                    Decimal(-2),
                    "intraday",
                    None,
                    None,
                    None,
                )
                for s in symbols
            ],
            self.clock.now(),
        )
        await MemoryPositionRepository(uow).replace(account.id, lines)
        await uow.commit()

    async def synced_transactions(
        self, account: StoredAccount, rows: Sequence[tuple[str, datetime, str]], **overrides: Any
    ) -> list[StoredTransaction]:
        """Provider rows ``(provider id, occurred_at, amount)`` upserted into ``account``."""
        uow = self.uow()
        stored = [
            synced_transaction(
                self.ids.new_id(),
                account,
                pid,
                at=at,
                now=self.clock.now(),
                amount=amount,
                **overrides,
            )
            for pid, at, amount in rows
        ]
        await MemoryTransactionRepository(uow).upsert(stored)
        await uow.commit()
        return stored

    async def manual(
        self, user_id: UUID = OWNER, *, name: str = "Cash box", currency: str = "USD"
    ) -> StoredAccount:
        return await self.manual_accounts().create(
            user_id,
            CALLER,
            name=name,
            account_type=AccountType.CASH,
            base_currency=Currency(currency),
        )

    async def entry(
        self,
        account: StoredAccount,
        amount: str,
        *,
        at: datetime | None = None,
        activity: ActivityType = ActivityType.DEPOSIT,
        **fields: Any,
    ) -> StoredTransaction:
        entry = EntryInput(
            activity=activity,
            occurred_at=at or self.clock.now(),
            amount=Decimal(amount),
            **fields,
        )
        return await self.manual_transactions().create(account.user_id, account.id, entry, CALLER)

    async def cash(self, account: StoredAccount) -> Decimal:
        balance = await MemoryBalanceRepository(self.uow()).get(account.id)
        assert balance is not None
        return balance.cash.amount

    def actions(self) -> list[str]:
        records = self.database.table("audit_events").values()
        return [r.event.action for r in sorted(records, key=lambda r: (r.chain, r.seq))]
