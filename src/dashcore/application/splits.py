"""Stock splits a user records for the ledger of their own trades (issue #8; AUD-1).

A split changes how many units every holder has from its instant on: 2-for-1 doubles every open
lot of the instrument, in every account of the user, and halves its unit cost; the cost basis
does not move (:mod:`dashcore.domain.ledger`). Brokers report splits in their own ways, or not
at all, so the user records them, as they record trades made outside connected brokers.

Rules:
- A split names its instrument like a manual trade does (symbol and exchange, 1 to 32
  printable characters without spaces, kept upper-case), a ratio of two whole numbers from 1 to
  :data:`MAX_RATIO_TERM` that are not equal (``numerator`` new units for every ``denominator``
  old ones: 2-for-1 is 2/1, a 1-for-10 reverse split 1/10), and the instant it took effect,
  with a zone and not in the future (a split still to come would change today's valuation).
  Every problem is named by its field (422).
- Trades at or after that instant are in the new units; the ledger applies the split before
  them. So a trade recorded after the split must be recorded in new units.
- One split per instrument and instant per user (409 ``split_already_recorded``), and at most
  :data:`MAX_SPLITS` splits per user (409 ``split_limit_reached``).
- Recording or deleting a split is a rewrite of the user's trade book: the next portfolio is
  built afresh with it, by every cost method.
- Another user's split id is a 404 (``split_not_found``), like one that does not exist.
- Every change is audited (``split_recorded``, ``split_deleted``) in the unit of work that
  makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.trades import instrument_code_problem
from dashcore.domain.audit import MetadataValue
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from dashcore.domain.instruments import InstrumentKey, instrument_code
from dashcore.domain.time import ensure_utc
from dashcore.domain.trades import RecordedSplit, Split
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.trades import TradeRepository
from dashcore.ports.uow import UnitOfWork

__all__ = ["MAX_RATIO_TERM", "MAX_SPLITS", "SplitDetails", "Splits"]

MAX_RATIO_TERM: Final = 1_000_000
MAX_SPLITS: Final = 1_000


@dataclass(frozen=True, slots=True)
class SplitDetails:
    """What a person records about a split."""

    symbol: str
    exchange: str
    numerator: int
    denominator: int
    effective_at: datetime

    def split(self, now: datetime) -> Split:
        """The split these details describe; ``InvalidInput`` naming every problem."""
        problems: list[FieldError] = []
        for name in ("symbol", "exchange"):
            problem = instrument_code_problem(name, getattr(self, name))
            if problem is not None:
                problems.append(problem)
        for name in ("numerator", "denominator"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(FieldError(name, f"The {name} is a whole number."))
            elif not 1 <= value <= MAX_RATIO_TERM:
                problems.append(FieldError(name, f"The {name} is 1 to {MAX_RATIO_TERM:,}."))
        if self.numerator == self.denominator:
            problems.append(FieldError("numerator", "A split changes the number of units."))
        try:
            effective_at = ensure_utc(self.effective_at, field="effective_at")
        except InvalidInput as error:
            problems.append(FieldError("effective_at", error.message))
        else:
            if effective_at > now:
                problems.append(
                    FieldError("effective_at", "Record a split once it has taken effect.")
                )
        if problems:
            raise InvalidInput("The split is not valid.", errors=tuple(problems))
        instrument = InstrumentKey(instrument_code(self.symbol), instrument_code(self.exchange))
        return Split(instrument, self.numerator, self.denominator, effective_at)


def split_not_found() -> NotFound:
    return NotFound("No such split.", code="split_not_found")


def _audit_facts(recorded: RecordedSplit) -> dict[str, MetadataValue]:
    split = recorded.split
    return {
        "symbol": split.instrument.symbol,
        "exchange": split.instrument.exchange,
        "ratio": f"{split.numerator}:{split.denominator}",
        "effective_at": split.effective_at.isoformat(),
    }


class Splits:
    """Recording, listing and deleting a user's splits."""

    def __init__(
        self,
        trades: TradeRepository,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._trades = trades
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def record(
        self, user_id: UUID, details: SplitDetails, caller: CallerContext
    ) -> RecordedSplit:
        now = self._clock.now()
        recorded = RecordedSplit(self._ids.new_id(), user_id, details.split(now), now)
        if len(await self._trades.splits(user_id)) >= MAX_SPLITS:
            raise Conflict(
                f"A user records at most {MAX_SPLITS:,} splits.", code="split_limit_reached"
            )
        try:
            await self._trades.add_split(recorded)
            await self._audit.record(
                "split_recorded",
                caller=caller,
                target=f"split:{recorded.id}",
                metadata=_audit_facts(recorded),
            )
            await self._uow.commit()
        except Conflict as error:
            if error.code != "splits_instrument_at_taken":
                raise
            raise Conflict(
                "A split of this instrument at this instant is already recorded.",
                code="split_already_recorded",
            ) from None
        return recorded

    async def list(self, user_id: UUID) -> Sequence[RecordedSplit]:
        """Every split of the user, oldest effective first."""
        return await self._trades.splits(user_id)

    async def get(self, user_id: UUID, split_id: UUID) -> RecordedSplit:
        recorded = await self._trades.get_split(split_id)
        if recorded is None or recorded.user_id != user_id:
            raise split_not_found()
        return recorded

    async def delete(self, user_id: UUID, split_id: UUID, caller: CallerContext) -> None:
        recorded = await self.get(user_id, split_id)
        if not await self._trades.delete_split(split_id):
            raise split_not_found()
        await self._audit.record(
            "split_deleted",
            caller=caller,
            target=f"split:{split_id}",
            metadata=_audit_facts(recorded),
        )
        await self._uow.commit()
