"""Small factories of aggregated-data entities with defaults a test overrides one field at a
time (domain, contract and sync tests share them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from dashcore.domain.aggregation import (
    ManualAccountDetails,
    StoredAccount,
    StoredTransaction,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import Account, AccountType, ActivityType, Transaction

USD = Currency("USD")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
USER_ID = UUID("00000000-0000-7000-8000-0000000000a1")
CONNECTION_ID = UUID("00000000-0000-7000-8000-0000000000c1")
ACCOUNT_ID = UUID("00000000-0000-7000-8000-0000000000d1")


def uuid7(n: int) -> UUID:
    """A deterministic time-ordered id: larger ``n`` sorts later."""
    return UUID(f"00000000-0000-7000-8000-{n:012x}")


def provider_account(**overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "provider_account_id": "ACC-1",
        "masked_number": "****1234",
        "type": AccountType.MARGIN,
        "base_currency": "USD",
        "name": "Brokerage",
    }
    fields.update(overrides)
    return Account(**fields)


def synced_account(
    account_id: UUID = ACCOUNT_ID,
    *,
    user_id: UUID = USER_ID,
    connection_id: UUID = CONNECTION_ID,
    provider: str = "schwab",
    now: datetime = T0,
    **overrides: Any,
) -> StoredAccount:
    return StoredAccount.from_provider(
        account_id, user_id, connection_id, provider, provider_account(**overrides), now
    )


def manual_account(
    account_id: UUID = ACCOUNT_ID, *, user_id: UUID = USER_ID, now: datetime = T0, **overrides: Any
) -> StoredAccount:
    fields: dict[str, Any] = {
        "name": "Cash box",
        "type": AccountType.CASH,
        "base_currency": USD,
    }
    fields.update(overrides)
    return StoredAccount.manual(account_id, user_id, ManualAccountDetails(**fields), now)


def equity(symbol: str = "AAPL", exchange: str = "XNAS") -> Instrument:
    return Instrument(symbol=symbol, exchange=exchange, currency=USD)


def provider_transaction(
    provider_id: str = "T-1", *, at: datetime = T0, amount: str = "-100.00", **overrides: Any
) -> Transaction:
    fields: dict[str, Any] = {
        "provider_transaction_id": provider_id,
        "provider_account_id": "ACC-1",
        "activity": ActivityType.BUY,
        "occurred_at": at,
        "amount": Money.of(amount, "USD"),
        "instrument": equity(),
        "quantity": Decimal("1"),
        "price": Money.of("100.00", "USD"),
        "description": "Bought AAPL",
    }
    fields.update(overrides)
    return Transaction(**fields)


def synced_transaction(
    transaction_id: UUID,
    account: StoredAccount,
    provider_id: str = "T-1",
    *,
    at: datetime = T0,
    now: datetime = T0,
    **overrides: Any,
) -> StoredTransaction:
    return StoredTransaction.from_provider(
        transaction_id, account, provider_transaction(provider_id, at=at, **overrides), now
    )


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
