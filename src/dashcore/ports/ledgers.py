"""Where lot ledgers are kept between requests (issue #8): a snapshot per user and cost method,
so that the portfolio applies only the trades executed since instead of every trade.

A stored ledger is labelled with the :class:`~dashcore.ports.trades.TradeBook` revision it was
built at and the position of the last trade it covers (``through``). The store is a cache:
whatever it holds, the portfolio is right (a snapshot older than the book's last rewrite is
never resumed); losing it costs one full build. Rules every adapter keeps:

- ``get`` gives the stored ledger of one user and method, or ``None`` (never stored, or stored
  in a form this version cannot read);
- ``put`` keeps the *higher* revision: a snapshot is replaced only by one of a greater
  revision, so a slow writer that built an older ledger never overwrites a newer one (an equal
  revision keeps what is there). Of two units of work putting at once, one may fail
  (``Conflict``) or wait: a cache write that fails is dropped by its caller;
- amounts come back exactly as they went in (every digit of every ``Decimal``), instants in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from dashcore.domain.ledger import CostMethod, LedgerSnapshot
from dashcore.ports.trades import TradeCursor

__all__ = ["LedgerSnapshots", "StoredLedger"]


@dataclass(frozen=True, slots=True)
class StoredLedger:
    """A user's ledger by one cost method as of book revision ``revision``: it covers the
    user's trades up to and including position ``through`` (``None``: no trade)."""

    revision: int
    through: TradeCursor | None
    snapshot: LedgerSnapshot

    def __post_init__(self) -> None:
        if self.revision < 0:
            raise ValueError("a revision is never negative")


class LedgerSnapshots(Protocol):
    async def get(self, user_id: UUID, method: CostMethod) -> StoredLedger | None:
        """The stored ledger of ``user_id`` by ``method``, or ``None``."""
        ...

    async def put(self, user_id: UUID, method: CostMethod, stored: StoredLedger) -> None:
        """Store ``stored`` unless a ledger of the same or a higher revision is stored (see
        the module); visible to others once the unit of work commits."""
        ...
