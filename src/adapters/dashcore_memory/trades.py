"""Trades in memory (embedded default, fast tests); answers as ``SqlTradeRepository`` does.

Trades are frozen values, stored as they are. A broker fill's ``(user_id, account,
broker_trade_id)`` is a unique index: two units of work that both found a fill missing and
staged it collide at the second one's commit (``Conflict`` ``trades_broker_trade_taken``),
where PostgreSQL would have made the second one wait and answer ``False``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from uuid import UUID

from dashcore.domain.errors import NotFound
from dashcore.domain.ledger import LedgerEntry, ledger_entry
from dashcore.domain.trades import Trade
from dashcore.ports.trades import TradeCursor, TradeFilter, TradeRepository
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemoryTradeRepository"]

TRADES = "trades"
BROKER_TRADE = "broker_trade"


def _fill_key(trade: Trade) -> tuple[tuple[str, Hashable], ...]:
    if trade.broker_trade_id is None:
        return ()
    return ((BROKER_TRADE, (trade.user_id, trade.account, trade.broker_trade_id)),)


class MemoryTradeRepository(TradeRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _of_user(self, user_id: UUID) -> list[Trade]:
        return [trade for _, trade in self._uow.rows(TRADES) if trade.user_id == user_id]

    async def add(self, trade: Trade) -> None:
        self._uow.put(TRADES, trade.id, trade, insert=True, unique=_fill_key(trade))

    async def add_fill(self, trade: Trade) -> bool:
        assert trade.broker_trade_id is not None, "a fill has the broker's trade id"
        if await self.by_broker_trade_id(trade.user_id, trade.account, trade.broker_trade_id):
            return False
        await self.add(trade)
        return True

    async def get(self, trade_id: UUID) -> Trade | None:
        trade: Trade | None = self._uow.get(TRADES, trade_id)
        return trade

    async def lock(self, trade_id: UUID) -> Trade | None:
        return await self.get(trade_id)

    async def save(self, trade: Trade) -> None:
        stored = await self.get(trade.id)
        if stored is None or stored.user_id != trade.user_id:
            raise NotFound("No such trade.", code="trade_not_found")
        self._uow.put(TRADES, trade.id, trade, unique=_fill_key(trade))

    async def delete(self, trade_id: UUID) -> bool:
        if await self.get(trade_id) is None:
            return False
        self._uow.delete(TRADES, trade_id)
        return True

    async def list_for_user(
        self,
        user_id: UUID,
        filters: TradeFilter,
        *,
        after: TradeCursor | None = None,
        limit: int = 50,
    ) -> Sequence[Trade]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        position = None if after is None else (after.executed_at, after.trade_id)
        found = [
            trade
            for trade in self._of_user(user_id)
            if filters.matches(trade)
            and (position is None or (trade.executed_at, trade.id) < position)
        ]
        found.sort(key=lambda trade: (trade.executed_at, trade.id), reverse=True)
        return found[:limit]

    async def all_for_user(self, user_id: UUID, *, account: str | None = None) -> Sequence[Trade]:
        found = [t for t in self._of_user(user_id) if account is None or t.account == account]
        found.sort(key=lambda trade: (trade.executed_at, trade.id))
        return found

    async def ledger_entries(
        self, user_id: UUID, *, account: str | None = None
    ) -> Sequence[LedgerEntry]:
        return [ledger_entry(trade) for trade in await self.all_for_user(user_id, account=account)]

    async def by_broker_trade_id(
        self, user_id: UUID, account: str, broker_trade_id: str
    ) -> Trade | None:
        return next(
            (
                trade
                for trade in self._of_user(user_id)
                if trade.account == account and trade.broker_trade_id == broker_trade_id
            ),
            None,
        )
