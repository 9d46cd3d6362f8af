"""The aggregated data store in SQL, with explicit row <-> entity mapping (issue #7).

Rules kept here (see the ports for the contracts):

- Synced accounts and balances are upserted with ``INSERT … ON CONFLICT … DO UPDATE`` on their
  natural keys (PostgreSQL and SQLite 3.35+ alike), so an account keeps its id for life.
- Change seqs: a transaction write first adds the number of rows it changes to the user's row
  in ``transaction_change_counters`` (``INSERT … ON CONFLICT DO UPDATE SET seq = seq + n
  RETURNING seq``). On PostgreSQL that row stays locked until the writer commits, and SQLite
  runs one writer at a time, so a later seq is always committed later: a feed reader never
  skips a change committed late. Rows whose content did not change are not written.
- Listings are keyset scans: ``(occurred_at, id) < (:at, :id)`` as a row comparison over the
  ``(user_id | account_id, occurred_at, id)`` indexes read backwards; snapshots and accounts by
  their keys. Never an offset.
- Amount bounds compare exactly on PostgreSQL (``NUMERIC``); SQLite keeps amounts as text and
  compares them as 64-bit floats, exact in order and equality up to 15 significant digits.
- :class:`SqlTransactionStream` reads an export through a server-side cursor in one
  ``REPEATABLE READ`` snapshot on PostgreSQL; on SQLite (where every transaction takes the
  write lock) it reads keyset batches, each in its own short transaction.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    REAL,
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncResult

from dashcore.domain.aggregation import (
    ACTIVE_SYNC_STATUSES,
    AccountSource,
    RawPayload,
    StoredAccount,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
    SyncCounts,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    SyncStatus,
    SyncTrigger,
    TransactionChanges,
    TransactionFilter,
    TransactionPosition,
    UpsertCounts,
    check_page_size,
    encode_key_cursor,
    keyset_page,
    upsert_batch_owner,
)
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, ActivityType, Page
from dashcore.ports.aggregation import (
    BalanceRepository,
    HoldingRepository,
    PositionRepository,
    RawPayloadRepository,
    StoredAccountRepository,
    SyncRunRepository,
    TransactionRepository,
    TransactionStream,
)
from dashcore_sql.engine import first_round_trip
from dashcore_sql.errors import database_errors
from dashcore_sql.tables import (
    account_balances,
    holdings,
    positions,
    raw_payloads,
    stored_accounts,
    sync_runs,
    transaction_change_counters,
    transactions,
)
from dashcore_sql.uow import SqlUnitOfWork, unit_of_work
from dashcore_sql.upserts import conflict_insert

__all__ = [
    "SqlBalanceRepository",
    "SqlHoldingRepository",
    "SqlPositionRepository",
    "SqlRawPayloadRepository",
    "SqlStoredAccountRepository",
    "SqlSyncRunRepository",
    "SqlTransactionRepository",
    "SqlTransactionStream",
    "filtered_transactions",
]

_accounts = stored_accounts.c
_balances = account_balances.c
_transactions = transactions.c
_runs = sync_runs.c
_payloads = raw_payloads.c
_ACTIVE = [status.value for status in ACTIVE_SYNC_STATUSES]
IN_CHUNK = 500
"""Provider ids per ``IN (…)`` list."""


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


# ---------------------------------------------------------------------------------- accounts


class SqlStoredAccountRepository(StoredAccountRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, account: StoredAccount) -> None:
        await self._uow.execute(insert(stored_accounts).values(_account_row(account)))

    async def upsert_synced(self, account: StoredAccount) -> StoredAccount:
        account.ensure_synced()
        row = _account_row(account)
        kept = {"id", "user_id", "connection_id", "provider_account_id", "created_at"}
        insert = conflict_insert(self._uow.dialect_name, stored_accounts).values(row)
        statement = insert.on_conflict_do_update(
            index_elements=[_accounts.connection_id, _accounts.provider_account_id],
            set_={name: insert.excluded[name] for name in row if name not in kept},
        ).returning(*stored_accounts.c)
        return _account((await self._uow.execute(statement)).one())

    async def get(self, account_id: UUID) -> StoredAccount | None:
        query = select(stored_accounts).where(_accounts.id == account_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _account(row)

    async def lock(self, account_id: UUID) -> StoredAccount | None:
        query = select(stored_accounts).where(_accounts.id == account_id).with_for_update()
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _account(row)

    async def save(self, account: StoredAccount) -> None:
        row = _account_row(account)
        statement = (
            update(stored_accounts)
            .where(_accounts.id == account.id, _accounts.user_id == account.user_id)
            .values({name: value for name, value in row.items() if name not in ("id", "user_id")})
        )
        if (await self._uow.execute(statement)).rowcount != 1:
            raise NotFound("No such account.", code="account_not_found")

    async def list_for_user(
        self, user_id: UUID, *, after: UUID | None = None, limit: int
    ) -> Page[StoredAccount]:
        check_page_size(limit)
        query = select(stored_accounts).where(
            _accounts.user_id == user_id, _accounts.deleted_at.is_(None)
        )
        if after is not None:
            query = query.where(_accounts.id > after)
        query = query.order_by(_accounts.id).limit(limit + 1)
        rows = [_account(row) for row in await self._uow.execute(query)]
        return keyset_page(rows, limit, lambda a: encode_key_cursor("accounts", user_id, str(a.id)))

    async def list_for_connection(self, connection_id: UUID) -> Sequence[StoredAccount]:
        query = (
            select(stored_accounts)
            .where(_accounts.connection_id == connection_id)
            .order_by(_accounts.id)
        )
        return [_account(row) for row in await self._uow.execute(query)]

    async def reached_elsewhere(
        self, connection: ProviderConnection, provider_account_ids: Collection[str]
    ) -> Sequence[StoredAccount]:
        if not provider_account_ids:
            return []
        query = (
            select(stored_accounts)
            .where(
                _accounts.user_id == connection.user_id,
                _accounts.provider == connection.provider,
                _accounts.connection_id != connection.id,
                _accounts.provider_account_id.in_(sorted(provider_account_ids)),
                _accounts.deleted_at.is_(None),
            )
            .order_by(_accounts.id)
        )
        return [_account(row) for row in await self._uow.execute(query)]


def _account_row(account: StoredAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "user_id": account.user_id,
        "connection_id": account.connection_id,
        "provider": account.provider,
        "provider_account_id": account.provider_account_id,
        "source": account.source.value,
        "name": account.name,
        "masked_number": account.masked_number,
        "type": account.type.value,
        "base_currency": account.base_currency.code,
        "sync_status": account.sync_status.value,
        "last_synced_at": account.last_synced_at,
        "closed_at": account.closed_at,
        "deleted_at": account.deleted_at,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


def _account(row: Row[Any]) -> StoredAccount:
    return StoredAccount(
        id=row.id,
        user_id=row.user_id,
        source=AccountSource(row.source),
        type=AccountType(row.type),
        base_currency=Currency(row.base_currency),
        masked_number=row.masked_number,
        created_at=row.created_at,
        updated_at=row.updated_at,
        connection_id=row.connection_id,
        provider=row.provider,
        provider_account_id=row.provider_account_id,
        name=row.name,
        sync_status=SyncStatus(row.sync_status),
        last_synced_at=row.last_synced_at,
        closed_at=row.closed_at,
        deleted_at=row.deleted_at,
    )


# ---------------------------------------------------------------------------------- balances


class SqlBalanceRepository(BalanceRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def put(self, balance: StoredBalance) -> None:
        row = {
            "account_id": balance.account_id,
            "user_id": balance.user_id,
            "currency": balance.currency.code,
            "cash": balance.cash.amount,
            "buying_power": balance.buying_power.amount,
            "margin_used": balance.margin_used.amount,
            "synced_at": balance.synced_at,
            "as_of": balance.as_of,
        }
        statement = conflict_insert(self._uow.dialect_name, account_balances).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=[_balances.account_id],
            set_={name: statement.excluded[name] for name in row if name != "account_id"},
        )
        await self._uow.execute(statement)

    async def get(self, account_id: UUID) -> StoredBalance | None:
        query = select(account_balances).where(_balances.account_id == account_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _balance(row)

    async def list_for_user(self, user_id: UUID) -> Sequence[StoredBalance]:
        query = (
            select(account_balances)
            .join(stored_accounts, _accounts.id == _balances.account_id)
            .where(_balances.user_id == user_id, _accounts.deleted_at.is_(None))
            .order_by(_balances.account_id)
        )
        return [_balance(row) for row in await self._uow.execute(query)]


def _balance(row: Row[Any]) -> StoredBalance:
    currency = Currency(row.currency)
    return StoredBalance(
        account_id=row.account_id,
        user_id=row.user_id,
        cash=Money(row.cash, currency),
        buying_power=Money(row.buying_power, currency),
        margin_used=Money(row.margin_used, currency),
        synced_at=row.synced_at,
        as_of=row.as_of,
    )


# --------------------------------------------------------------------------------- snapshots


def _instrument_row(instrument: Instrument | None) -> dict[str, Any]:
    if instrument is None:
        return dict.fromkeys(
            (
                "symbol",
                "exchange",
                "instrument_currency",
                "asset_class",
                "isin",
                "instrument_name",
                "lot_size",
                "tick_size",
            )
        )
    return {
        "symbol": instrument.symbol,
        "exchange": instrument.exchange,
        "instrument_currency": instrument.currency.code,
        "asset_class": instrument.asset_class.value,
        "isin": instrument.isin,
        "instrument_name": instrument.name,
        "lot_size": instrument.lot_size,
        "tick_size": instrument.tick_size,
    }


def _instrument(row: Row[Any]) -> Instrument | None:
    if row.symbol is None:
        return None
    return Instrument(
        symbol=row.symbol,
        exchange=row.exchange,
        currency=Currency(row.instrument_currency),
        asset_class=AssetClass(row.asset_class),
        isin=row.isin,
        name=row.instrument_name,
        lot_size=row.lot_size,
        tick_size=row.tick_size,
    )


def _amount(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


def _money(amount: Decimal | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount, Currency(currency))


def _required_instrument(row: Row[Any]) -> Instrument:
    instrument = _instrument(row)
    assert instrument is not None, "a snapshot line has an instrument (NOT NULL columns)"
    return instrument


def _holding_row(line: StoredHolding) -> dict[str, Any]:
    currency = line.price_currency
    return {
        "account_id": line.account_id,
        "key": line.key,
        "user_id": line.user_id,
        **_instrument_row(line.instrument),
        "quantity": line.quantity,
        "average_cost": _amount(line.average_cost),
        "price_currency": None if currency is None else currency.code,
        "last_price": _amount(line.last_price),
        "market_value": _amount(line.market_value),
        "as_of": line.as_of,
    }


def _holding(row: Row[Any]) -> StoredHolding:
    return StoredHolding(
        account_id=row.account_id,
        user_id=row.user_id,
        instrument=_required_instrument(row),
        quantity=row.quantity,
        average_cost=_money(row.average_cost, row.price_currency),
        last_price=_money(row.last_price, row.price_currency),
        market_value=_money(row.market_value, row.price_currency),
        as_of=row.as_of,
    )


def _position_row(line: StoredPosition) -> dict[str, Any]:
    currency = line.price_currency
    return {
        "account_id": line.account_id,
        "key": line.key,
        "user_id": line.user_id,
        **_instrument_row(line.instrument),
        "quantity": line.quantity,
        "product": line.product,
        "average_price": _amount(line.average_price),
        "realised_pnl": _amount(line.realised_pnl),
        "price_currency": None if currency is None else currency.code,
        "last_price": _amount(line.last_price),
        "market_value": _amount(line.market_value),
        "as_of": line.as_of,
    }


def _position(row: Row[Any]) -> StoredPosition:
    return StoredPosition(
        account_id=row.account_id,
        user_id=row.user_id,
        instrument=_required_instrument(row),
        quantity=row.quantity,
        product=row.product,
        average_price=_money(row.average_price, row.price_currency),
        last_price=_money(row.last_price, row.price_currency),
        market_value=_money(row.market_value, row.price_currency),
        realised_pnl=_money(row.realised_pnl, row.price_currency),
        as_of=row.as_of,
    )


class _SqlSnapshots:
    """Per-account snapshot lines of one table, keyed by ``(account_id, key)``."""

    def __init__(self, uow: SqlUnitOfWork, table: Table, listing: str) -> None:
        self._uow = uow
        self._table = table
        self._listing = listing

    async def replace(self, account_id: UUID, rows: Sequence[dict[str, Any]]) -> None:
        if any(row["account_id"] != account_id for row in rows):
            raise ValueError("every line of a snapshot belongs to its account")
        if len({row["key"] for row in rows}) != len(rows):
            raise ValueError("the keys of a snapshot are unique")
        columns = self._table.c
        await self._uow.execute(delete(self._table).where(columns.account_id == account_id))
        if rows:
            await self._uow.execute(insert(self._table), rows)

    async def list(self, account_id: UUID, after: str | None, limit: int) -> list[Row[Any]]:
        check_page_size(limit)
        columns = self._table.c
        query = select(self._table).where(columns.account_id == account_id)
        if after is not None:
            query = query.where(columns.key > after)
        query = query.order_by(columns.key).limit(limit + 1)
        return list(await self._uow.execute(query))

    def cursor(self, account_id: UUID, key: str) -> str:
        return encode_key_cursor(self._listing, account_id, key)

    async def count(self, account_id: UUID) -> int:
        columns = self._table.c
        query = select(func.count()).select_from(self._table)
        return int(
            (await self._uow.execute(query.where(columns.account_id == account_id))).scalar_one()
        )


class SqlHoldingRepository(HoldingRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._snapshots = _SqlSnapshots(uow, holdings, "holdings")

    async def replace(self, account_id: UUID, holdings: Sequence[StoredHolding]) -> None:
        await self._snapshots.replace(account_id, [_holding_row(line) for line in holdings])

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredHolding]:
        rows = [_holding(row) for row in await self._snapshots.list(account_id, after, limit)]
        return keyset_page(rows, limit, lambda line: self._snapshots.cursor(account_id, line.key))

    async def count(self, account_id: UUID) -> int:
        return await self._snapshots.count(account_id)


class SqlPositionRepository(PositionRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._snapshots = _SqlSnapshots(uow, positions, "positions")

    async def replace(self, account_id: UUID, positions: Sequence[StoredPosition]) -> None:
        await self._snapshots.replace(account_id, [_position_row(line) for line in positions])

    async def list(
        self, account_id: UUID, *, after: str | None = None, limit: int
    ) -> Page[StoredPosition]:
        rows = [_position(row) for row in await self._snapshots.list(account_id, after, limit)]
        return keyset_page(rows, limit, lambda line: self._snapshots.cursor(account_id, line.key))

    async def count(self, account_id: UUID) -> int:
        return await self._snapshots.count(account_id)


# ------------------------------------------------------------------------------ transactions


def _content_row(row: StoredTransaction) -> dict[str, Any]:
    """The columns an update may change (never the identity, the owner nor ``created_*``)."""
    return {
        "activity": row.activity.value,
        "occurred_at": row.occurred_at,
        "amount": row.amount.amount,
        "currency": row.amount.currency.code,
        **_instrument_row(row.instrument),
        "quantity": row.quantity,
        "price": _amount(row.price),
        "price_currency": None if row.price is None else row.price.currency.code,
        "description": row.description,
        "provider_type": row.provider_type,
        "order_ref": row.order_ref,
        "updated_at": row.updated_at,
        "removed_at": row.removed_at,
        "change_seq": row.change_seq,
    }


def _transaction_row(row: StoredTransaction) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_id": row.account_id,
        "user_id": row.user_id,
        "source": row.source.value,
        "provider_transaction_id": row.provider_transaction_id,
        "created_at": row.created_at,
        "created_seq": row.created_seq,
        **_content_row(row),
    }


def _transaction(row: Row[Any]) -> StoredTransaction:
    return StoredTransaction(
        id=row.id,
        account_id=row.account_id,
        user_id=row.user_id,
        source=AccountSource(row.source),
        provider_transaction_id=row.provider_transaction_id,
        activity=ActivityType(row.activity),
        occurred_at=row.occurred_at,
        amount=Money(row.amount, Currency(row.currency)),
        created_at=row.created_at,
        updated_at=row.updated_at,
        instrument=_instrument(row),
        quantity=row.quantity,
        price=_money(row.price, row.price_currency),
        description=row.description,
        provider_type=row.provider_type,
        order_ref=row.order_ref,
        removed_at=row.removed_at,
        created_seq=row.created_seq,
        change_seq=row.change_seq,
    )


_UPDATE_BY_ID = update(transactions).where(_transactions.id == bindparam("row_id"))


def filtered_transactions(
    query: Select[Any], user_id: UUID, rule: TransactionFilter, dialect: str
) -> Select[Any]:
    """``rule`` as SQL (``TransactionFilter.matches`` is the reference)."""
    conditions: list[ColumnElement[bool]] = [_transactions.user_id == user_id]
    if not rule.include_removed:
        conditions.append(_transactions.removed_at.is_(None))
    if rule.account_ids:
        conditions.append(_transactions.account_id.in_(sorted(rule.account_ids)))
    if rule.since is not None:
        conditions.append(_transactions.occurred_at >= rule.since)
    if rule.until is not None:
        conditions.append(_transactions.occurred_at < rule.until)
    if rule.activities:
        conditions.append(_transactions.activity.in_(sorted(a.value for a in rule.activities)))
    if rule.symbol is not None:
        conditions.append(_transactions.symbol == rule.symbol)
    amount: ColumnElement[Any] = _transactions.amount
    if dialect == "sqlite":
        amount = cast(amount, REAL)
    if rule.min_amount is not None:
        bound = rule.min_amount if dialect != "sqlite" else float(rule.min_amount)
        conditions.append(amount >= bound)
    if rule.max_amount is not None:
        bound = rule.max_amount if dialect != "sqlite" else float(rule.max_amount)
        conditions.append(amount <= bound)
    return query.where(and_(*conditions))


class SqlTransactionRepository(TransactionRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def _take_seqs(self, user_id: UUID, count: int) -> int:
        """Reserve ``count`` seqs of the user; returns the first. The counter row stays
        locked until the unit of work ends (see the module docstring)."""
        insert = conflict_insert(self._uow.dialect_name, transaction_change_counters).values(
            user_id=user_id, seq=count
        )
        statement = insert.on_conflict_do_update(
            index_elements=[transaction_change_counters.c.user_id],
            set_={"seq": transaction_change_counters.c.seq + insert.excluded.seq},
        ).returning(transaction_change_counters.c.seq)
        last = int((await self._uow.execute(statement)).scalar_one())
        return last - count + 1

    async def _rewrite(self, rows: Sequence[StoredTransaction]) -> list[StoredTransaction]:
        """Write changed existing rows with fresh seqs (their ``created_seq`` kept)."""
        if not rows:
            return []
        first = await self._take_seqs(rows[0].user_id, len(rows))
        stamped = [replace(row, change_seq=first + n) for n, row in enumerate(rows)]
        await self._uow.execute(
            _UPDATE_BY_ID, [{"row_id": row.id, **_content_row(row)} for row in stamped]
        )
        return stamped

    async def _existing(
        self, account_id: UUID, provider_ids: Sequence[str]
    ) -> dict[str, StoredTransaction]:
        found: dict[str, StoredTransaction] = {}
        for chunk in _chunks(provider_ids):
            query = select(transactions).where(
                _transactions.account_id == account_id,
                _transactions.provider_transaction_id.in_(chunk),
            )
            for row in await self._uow.execute(query):
                found[row.provider_transaction_id] = _transaction(row)
        return found

    async def upsert(self, transactions_: Sequence[StoredTransaction]) -> UpsertCounts:
        if not transactions_:
            return UpsertCounts()
        account_id, user_id = upsert_batch_owner(transactions_)
        existing = await self._existing(
            account_id, [row.provider_transaction_id for row in transactions_]
        )
        added: list[StoredTransaction] = []
        modified: list[StoredTransaction] = []
        for incoming in transactions_:
            stored = existing.get(incoming.provider_transaction_id)
            if stored is None:
                added.append(incoming)
            elif (updated := stored.updated_from(incoming, incoming.updated_at)) is not None:
                modified.append(updated)
        if added:
            first = await self._take_seqs(user_id, len(added))
            await self._uow.execute(
                insert(transactions),
                [
                    _transaction_row(replace(row, created_seq=first + n, change_seq=first + n))
                    for n, row in enumerate(added)
                ],
            )
        await self._rewrite(modified)
        return UpsertCounts(added=len(added), modified=len(modified))

    async def add(self, transaction: StoredTransaction) -> StoredTransaction:
        seq = await self._take_seqs(transaction.user_id, 1)
        stamped = replace(transaction, created_seq=seq, change_seq=seq)
        await self._uow.execute(insert(transactions).values(_transaction_row(stamped)))
        return stamped

    async def get(self, transaction_id: UUID) -> StoredTransaction | None:
        query = select(transactions).where(_transactions.id == transaction_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _transaction(row)

    async def save(self, transaction: StoredTransaction) -> StoredTransaction:
        query = select(_transactions.created_seq).where(
            _transactions.id == transaction.id,
            _transactions.account_id == transaction.account_id,
            _transactions.user_id == transaction.user_id,
        )
        created_seq = (await self._uow.execute(query)).scalar_one_or_none()
        if created_seq is None:
            raise NotFound("No such transaction.", code="transaction_not_found")
        (stamped,) = await self._rewrite([replace(transaction, created_seq=created_seq)])
        return stamped

    async def live_provider_ids(self, account_id: UUID, *, since: datetime) -> set[str]:
        query = select(_transactions.provider_transaction_id).where(
            _transactions.account_id == account_id,
            _transactions.removed_at.is_(None),
            _transactions.occurred_at >= since,
        )
        return set((await self._uow.execute(query)).scalars())

    async def mark_removed(
        self, account_id: UUID, provider_transaction_ids: Collection[str], at: datetime
    ) -> int:
        existing = await self._existing(account_id, sorted(set(provider_transaction_ids)))
        doomed = [row.removed(at) for _, row in sorted(existing.items()) if not row.is_removed]
        return len(await self._rewrite(doomed))

    async def mark_account_removed(self, account_id: UUID, at: datetime) -> int:
        query = (
            select(transactions)
            .where(_transactions.account_id == account_id, _transactions.removed_at.is_(None))
            .order_by(_transactions.provider_transaction_id)
        )
        doomed = [_transaction(row).removed(at) for row in await self._uow.execute(query)]
        return len(await self._rewrite(doomed))

    async def list(
        self,
        user_id: UUID,
        query: TransactionFilter,
        *,
        after: TransactionPosition | None = None,
        limit: int,
    ) -> Page[StoredTransaction]:
        check_page_size(limit)
        statement = filtered_transactions(
            select(transactions), user_id, query, self._uow.dialect_name
        )
        if after is not None:
            statement = statement.where(
                tuple_(_transactions.occurred_at, _transactions.id)
                < tuple_(
                    bindparam("after_at", after.occurred_at, type_=_transactions.occurred_at.type),
                    bindparam("after_id", after.id, type_=_transactions.id.type),
                )
            )
        statement = statement.order_by(
            _transactions.occurred_at.desc(), _transactions.id.desc()
        ).limit(limit + 1)
        rows = [_transaction(row) for row in await self._uow.execute(statement)]
        return keyset_page(rows, limit, lambda row: TransactionPosition.of(row).encode(user_id))

    async def changes(self, user_id: UUID, after_seq: int, limit: int) -> TransactionChanges:
        check_page_size(limit)
        query = (
            select(transactions)
            .where(_transactions.user_id == user_id, _transactions.change_seq > after_seq)
            .order_by(_transactions.change_seq)
            .limit(limit + 1)
        )
        rows = [_transaction(row) for row in await self._uow.execute(query)]
        return TransactionChanges.of(user_id, rows, after_seq, limit)


class SqlTransactionStream(TransactionStream):
    """Exports in constant memory, on its own connection (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def stream_transactions(
        self, user_id: UUID, query: TransactionFilter, *, batch_size: int = 1000
    ) -> AsyncIterator[StoredTransaction]:
        if batch_size < 1:
            raise ValueError("a batch holds at least one row")
        if self._engine.dialect.name == "postgresql":
            async for row in self._snapshot_cursor(user_id, query, batch_size):
                yield row
            return
        async for row in self._keyset_batches(user_id, query, batch_size):
            yield row

    def _oldest_first(self, user_id: UUID, query: TransactionFilter) -> Select[Any]:
        return filtered_transactions(
            select(transactions), user_id, query, self._engine.dialect.name
        ).order_by(_transactions.occurred_at, _transactions.id)

    async def _snapshot_cursor(
        self, user_id: UUID, query: TransactionFilter, batch_size: int
    ) -> AsyncIterator[StoredTransaction]:
        statement = self._oldest_first(user_id, query).execution_options(yield_per=batch_size)

        async def start_streaming(connection: AsyncConnection) -> AsyncResult[Any]:
            snapshot = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await snapshot.begin()
            streamed: AsyncResult[Any] = await snapshot.stream(statement)
            return streamed

        with database_errors():
            connection, result = await first_round_trip(self._engine, start_streaming)
            try:  # read-only: closing the connection ends its transaction
                # A batch per await: one trip through the async bridge per row costs more than
                # mapping the row.
                async for batch in result.partitions():
                    for row in batch:
                        yield _transaction(row)
            finally:
                await connection.close()

    async def _keyset_batches(
        self, user_id: UUID, query: TransactionFilter, batch_size: int
    ) -> AsyncIterator[StoredTransaction]:
        after: tuple[datetime, UUID] | None = None
        while True:
            statement = self._oldest_first(user_id, query).limit(batch_size)
            if after is not None:
                statement = statement.where(
                    tuple_(_transactions.occurred_at, _transactions.id)
                    > tuple_(
                        bindparam("after_at", after[0], type_=_transactions.occurred_at.type),
                        bindparam("after_id", after[1], type_=_transactions.id.type),
                    )
                )
            async with unit_of_work(self._engine) as uow:
                batch = [_transaction(row) for row in await uow.execute(statement)]
            for row in batch:
                yield row
            if len(batch) < batch_size:
                return
            after = (batch[-1].occurred_at, batch[-1].id)


# --------------------------------------------------------------------------------- sync runs


class SqlSyncRunRepository(SyncRunRepository):
    """At most one queued or running run per connection: the partial unique index
    ``uq_sync_runs_active_connection_id`` refuses a second (``Conflict``
    ``sync_already_active``)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, run: SyncRun) -> None:
        try:
            await self._uow.execute(insert(sync_runs).values(_run_row(run)))
        except Conflict as exc:
            if exc.code == "sync_runs_exists":
                raise
            raise _already_active() from exc

    async def get(self, run_id: UUID) -> SyncRun | None:
        row = (await self._uow.execute(select(sync_runs).where(_runs.id == run_id))).one_or_none()
        return None if row is None else _run(row)

    async def lock(self, run_id: UUID) -> SyncRun | None:
        query = select(sync_runs).where(_runs.id == run_id).with_for_update()
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _run(row)

    async def save(self, run: SyncRun) -> None:
        row = _run_row(run)
        statement = (
            update(sync_runs)
            .where(_runs.id == run.id, _runs.connection_id == run.connection_id)
            .values({name: value for name, value in row.items() if name != "id"})
            .values(job_id=func.coalesce(row["job_id"], _runs.job_id))
        )
        try:
            changed = (await self._uow.execute(statement)).rowcount
        except Conflict as exc:
            raise _already_active() from exc
        if changed != 1:
            raise NotFound("No such sync run.", code="sync_run_not_found")

    async def active_for_connection(self, connection_id: UUID) -> SyncRun | None:
        query = select(sync_runs).where(
            _runs.connection_id == connection_id, _runs.status.in_(_ACTIVE)
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _run(row)

    async def stale(self, before: datetime, *, limit: int) -> Sequence[SyncRun]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = (
            select(sync_runs)
            .where(_runs.status.in_(_ACTIVE), _runs.heartbeat_at < before)
            .order_by(_runs.heartbeat_at, _runs.id)
            .limit(limit)
        )
        return [_run(row) for row in await self._uow.execute(query)]


def _already_active() -> Conflict:
    return Conflict(
        "A sync of this connection is already queued or running.", code="sync_already_active"
    )


def _run_row(run: SyncRun) -> dict[str, Any]:
    counts = run.counts
    return {
        "id": run.id,
        "connection_id": run.connection_id,
        "user_id": run.user_id,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "queued_at": run.queued_at,
        "heartbeat_at": run.heartbeat_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "accounts": counts.accounts,
        "holdings": counts.holdings,
        "positions": counts.positions,
        "transactions_added": counts.transactions_added,
        "transactions_modified": counts.transactions_modified,
        "transactions_removed": counts.transactions_removed,
        "error_code": None if run.error is None else run.error.code,
        "error_message": None if run.error is None else run.error.message,
        "suspicious": json.dumps(list(run.suspicious)),
        "job_id": run.job_id,
    }


def _run(row: Row[Any]) -> SyncRun:
    notes: list[str] = json.loads(row.suspicious)
    return SyncRun(
        id=row.id,
        connection_id=row.connection_id,
        user_id=row.user_id,
        trigger=SyncTrigger(row.trigger),
        status=SyncRunStatus(row.status),
        queued_at=row.queued_at,
        heartbeat_at=row.heartbeat_at,
        counts=SyncCounts(
            accounts=row.accounts,
            holdings=row.holdings,
            positions=row.positions,
            transactions_added=row.transactions_added,
            transactions_modified=row.transactions_modified,
            transactions_removed=row.transactions_removed,
        ),
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=None if row.error_code is None else SyncFailure(row.error_code, row.error_message),
        suspicious=tuple(str(note) for note in notes),
        job_id=row.job_id,
    )


# ------------------------------------------------------------------------------ raw payloads


class SqlRawPayloadRepository(RawPayloadRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, payload: RawPayload) -> None:
        row = {
            "id": payload.id,
            "run_id": payload.run_id,
            "kind": payload.kind,
            "captured_at": payload.captured_at,
            "size": payload.size,
            "truncated": payload.truncated,
            "body": payload.body,
        }
        await self._uow.execute(insert(raw_payloads).values(row))

    async def list_for_run(self, run_id: UUID) -> Sequence[RawPayload]:
        query = (
            select(raw_payloads)
            .where(_payloads.run_id == run_id)
            .order_by(_payloads.captured_at, _payloads.id)
        )
        return [
            RawPayload(
                id=row.id,
                run_id=row.run_id,
                kind=row.kind,
                captured_at=row.captured_at,
                size=row.size,
                body=row.body,
                truncated=row.truncated,
            )
            for row in await self._uow.execute(query)
        ]

    async def purge(self, before: datetime) -> int:
        statement = delete(raw_payloads).where(_payloads.captured_at < before)
        return (await self._uow.execute(statement)).rowcount
