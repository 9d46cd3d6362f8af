"""Bodies of ``/splits``. Instants are ISO 8601 with an offset."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from dashcore_http.schemas.trades import Code

__all__ = ["SplitCreate", "SplitList", "SplitView"]


class SplitCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A split that took effect: ``numerator`` new units for every ``denominator`` old ones
    (a 2-for-1 split is 2 and 1, a 1-for-10 reverse split 1 and 10) of ``symbol`` on
    ``exchange`` from ``effective_at`` on. Trades at or after that instant are in new units."""

    symbol: Code
    exchange: Code
    numerator: int
    denominator: int
    effective_at: datetime


class SplitView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    symbol: str
    exchange: str
    numerator: int
    denominator: int
    effective_at: datetime
    recorded_at: datetime


class SplitList(msgspec.Struct, frozen=True, kw_only=True):
    """Every split the user recorded, oldest effective first."""

    items: list[SplitView]
