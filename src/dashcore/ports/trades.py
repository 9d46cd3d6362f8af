"""Where a user's trades are kept (issue #8): the manual records of ``/api/v1/trades`` and the
broker fills that orders turn into trades, read back whole for the lot ledger.

Rules every adapter keeps:

- a trade belongs to one user; nothing here checks ownership (the use cases do), but every
  listing is of one user's trades only;
- listings are keyset-paginated on ``(executed_at, id)``, newest first, never with OFFSET: a
  page starts strictly after the :class:`TradeCursor` of the last trade of the page before, so
  a walk over every page returns each trade that existed when it began exactly once;
- ``all_for_user`` reads every trade of a user in ledger order (``executed_at``, then id) in one
  query; ``ledger_entries`` reads only what the lot ledger needs of them, in the same order and
  one query, and builds no :class:`Trade`: the portfolio of 100,000 trades is one round trip;
- a broker fill is recorded once: ``(user_id, account, broker_trade_id)`` is unique, and
  ``add_fill`` answers ``False`` instead of failing when that fill is already stored;
- every user's trades have a :class:`TradeBook`, kept by the repository itself in the unit of
  work of every write, so that no caller can forget it. Each write that changes the user's
  trades (``add``, ``add_fill`` when it inserts, ``save``, ``delete`` when it deletes) adds one
  to its ``revision``, under the book's row lock (of two writers of one user's trades, the
  second waits for the first; the memory adapter refuses it). An insert positioned after
  every trade the user ever had (``(executed_at, id)`` greater than the book's ``last``) is an
  *append*; anything else (an insert dated back, an edit, a deletion) is a *rewrite* and sets
  ``rewritten_at`` to the new revision. ``last`` is the greatest position any trade ever had
  (an edit that moves a trade later moves it; a deletion leaves it): an upper bound, so an
  insert before some existing trade is never taken for an append. Hence, when
  ``rewritten_at`` ≤ S < R, the trades of revision R are those of revision S plus trades
  positioned after every one of them;
- the splits a user records (:class:`~dashcore.domain.trades.RecordedSplit`) are kept here too,
  because they change the ledger like a trade dated back: recording or deleting one is a
  *rewrite* of the book (one more revision, ``rewritten_at`` moved to it, ``last`` unchanged),
  so no stored ledger is ever resumed across it. A user has at most one split of an
  instrument at one instant: ``(user_id, symbol, exchange, effective_at)`` is unique.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import LedgerEntry
from dashcore.domain.money import Currency
from dashcore.domain.orders import OrderSide
from dashcore.domain.time import ensure_utc
from dashcore.domain.trades import RecordedSplit, Trade

__all__ = ["LedgerRead", "TradeBook", "TradeCursor", "TradeFilter", "TradeRepository"]


@dataclass(frozen=True, slots=True)
class TradeFilter:
    """What a listing may be narrowed to (``None``: any). ``executed_from`` is inclusive,
    ``executed_before`` exclusive."""

    account: str | None = None
    instrument: InstrumentKey | None = None
    side: OrderSide | None = None
    executed_from: datetime | None = None
    executed_before: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("executed_from", "executed_before"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        if (
            self.executed_from is not None
            and self.executed_before is not None
            and self.executed_from >= self.executed_before
        ):
            raise InvalidInput(
                "The range is empty: from must be earlier than before.", field="from"
            )

    def matches(self, trade: Trade) -> bool:
        return (
            (self.account is None or trade.account == self.account)
            and (self.instrument is None or trade.instrument == self.instrument)
            and (self.side is None or trade.side is self.side)
            and (self.executed_from is None or trade.executed_at >= self.executed_from)
            and (self.executed_before is None or trade.executed_at < self.executed_before)
        )


@dataclass(frozen=True, slots=True)
class TradeCursor:
    """A position in a listing: the ``(executed_at, id)`` of the last trade seen. Its text form
    is opaque to clients (base64url); a malformed one is ``InvalidInput`` on ``cursor``."""

    executed_at: datetime
    trade_id: UUID

    def __post_init__(self) -> None:
        object.__setattr__(self, "executed_at", ensure_utc(self.executed_at, field="cursor"))

    @classmethod
    def after(cls, trade: Trade) -> TradeCursor:
        return cls(trade.executed_at, trade.id)

    def encode(self) -> str:
        text = f"{self.executed_at.isoformat()}|{self.trade_id}"
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TradeCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            stamp, trade_id = raw.split("|")
            return cls(datetime.fromisoformat(stamp), UUID(trade_id))
        except (ValueError, binascii.Error, UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput("Not a cursor of this listing.", field="cursor") from exc


@dataclass(frozen=True, slots=True)
class TradeBook:
    """Where a user's trades stand (see the module): ``revision`` counts the writes that changed
    them (0: none ever did), ``rewritten_at`` is the revision of the last one that was not an
    append (0: none), ``last`` the greatest position a trade of the user ever had (``None``:
    the user never had a trade)."""

    revision: int
    rewritten_at: int
    last: TradeCursor | None

    def __post_init__(self) -> None:
        if not 0 <= self.rewritten_at <= self.revision:
            raise ValueError("a book is rewritten at one of its revisions")


@dataclass(frozen=True, slots=True)
class LedgerRead:
    """What :meth:`TradeRepository.ledger_entries` read: the entries, and ``through``, the
    position of the last one (the ``after`` asked for when none was read): where the next
    read of what came since starts."""

    entries: Sequence[LedgerEntry]
    through: TradeCursor | None


class TradeRepository(Protocol):
    async def add(self, trade: Trade) -> None:
        """Insert a new trade (``Conflict`` ``trades_exists`` when the id is taken,
        ``trades_broker_trade_taken`` when its broker fill is already stored)."""
        ...

    async def add_fill(self, trade: Trade) -> bool:
        """Insert a broker fill unless ``(user_id, account, broker_trade_id)`` is stored
        already: ``True`` if it was inserted, ``False`` if it was there. Of two units of work
        recording the same fill at once, one inserts it and the other gets ``False`` once the
        first has committed (the memory adapter: ``Conflict`` at the second's commit)."""
        ...

    async def get(self, trade_id: UUID) -> Trade | None: ...

    async def lock(self, trade_id: UUID) -> Trade | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, trade: Trade) -> None:
        """Rewrite a stored trade; its owner never changes (``NotFound`` ``trade_not_found``
        when no trade has that id and owner)."""
        ...

    async def delete(self, trade_id: UUID) -> bool: ...

    async def list_for_user(
        self,
        user_id: UUID,
        filters: TradeFilter,
        *,
        after: TradeCursor | None = None,
        limit: int = 50,
    ) -> Sequence[Trade]:
        """The user's trades matching ``filters``, newest first by ``(executed_at, id)``; with
        ``after``, only those strictly older than that position."""
        ...

    async def all_for_user(self, user_id: UUID, *, account: str | None = None) -> Sequence[Trade]:
        """Every trade of the user (of one ``account``), oldest first by ``(executed_at, id)``,
        in one query."""
        ...

    async def ledger_entries(
        self, user_id: UUID, *, after: TradeCursor | None = None
    ) -> LedgerRead:
        """The user's trades positioned after ``after`` (``None``: every trade) as the lot
        ledger reads them (:func:`~dashcore.domain.ledger.ledger_entry`), oldest first by
        ``(executed_at, id)``, and the position of the last one, in one query: the entries
        and ``through`` are of one state of the table. Rows are not checked again as they are
        read: every stored trade was a checked :class:`Trade` when it was written, under the
        table's constraints, and the ledger reads nothing the checks would change."""
        ...

    async def book(self, user_id: UUID) -> TradeBook:
        """The user's :class:`TradeBook` (revision 0, never rewritten, no ``last``, for a user
        who never had a trade)."""
        ...

    async def by_broker_trade_id(
        self, user_id: UUID, account: str, broker_trade_id: str
    ) -> Trade | None: ...

    async def other_currency(
        self, user_id: UUID, instrument: InstrumentKey, currency: Currency, *, excluding: UUID
    ) -> Currency | None:
        """The currency of one of the user's trades of ``instrument``, other than the trade
        ``excluding``, that is not in ``currency``; ``None`` when every such trade is in
        ``currency``. It reads this unit of work's own writes and, once the user's book is
        locked by a write, every trade committed before."""
        ...

    async def add_split(self, recorded: RecordedSplit) -> None:
        """Insert a split and move the user's book as a rewrite (``Conflict``
        ``splits_exists`` when the id is taken, ``splits_instrument_at_taken`` when the user
        has a split of that instrument at that instant already)."""
        ...

    async def get_split(self, split_id: UUID) -> RecordedSplit | None: ...

    async def delete_split(self, split_id: UUID) -> bool:
        """Delete a split, moving its owner's book as a rewrite; ``False`` when there was
        none."""
        ...

    async def splits(self, user_id: UUID) -> Sequence[RecordedSplit]:
        """Every split the user recorded, by ``(effective_at, id)``: the order the ledger
        applies them in."""
        ...
