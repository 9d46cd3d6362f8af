"""The lot ledger: positions, cost basis and profit and loss from a user's trades (issue #8).

Trades are applied in order of ``executed_at`` (ties by trade id), separately for each
(account, instrument). Every trade either *opens* (adds to the position in its own direction)
or *closes* (reduces a position held the other way); a trade larger than what it closes closes
all of it and opens the rest in its own direction. So short selling is symmetric with buying:
selling more than is held leaves a short position whose lots a later buy covers.

**Charges are part of the trade's cash.** A trade's cash is ``quantity × price + charges`` for a
buy (paid) and ``quantity × price − charges`` for a sell (received); charges are the trade's
``charges`` plus its MTF charge. An opening trade's cash is the *cost basis* of the lot it opens
(a long lot's basis is what was paid, charges included; a short lot's basis is minus what was
received, charges deducted). A closing trade realizes, for the quantity it closes:

    realized = received − paid

— for a sell closing long lots: proceeds − sell charges − the basis of the lots it consumes
(their price and their buy charges, pro rata); for a buy covering short lots: the basis
credited when they opened − (price × quantity + buy charges). A trade that both closes and
opens splits its cash, charges included, pro rata by quantity.

**Cost methods** decide which lots a closing trade consumes: ``fifo`` the oldest first, ``lifo``
the newest first, ``average`` one pooled lot per position whose basis is the sum of what opened
it (so its unit cost is the quantity-weighted average, charges included); a partly consumed
lot gives up ``basis × consumed / quantity`` of its basis and keeps the rest.

**Splits** multiply the quantity of every open lot of the instrument, in every account, by
``numerator / denominator`` from ``effective_at`` on (before any trade at that instant); lot
bases do not change, so the unit cost divides. Fractional units a split leaves stay in the
ledger: cash paid in lieu is recorded as a sell. A split restates the last trade price in new
units too (× ``denominator / numerator``), so a position valued at its last trade price is worth
the same just before and just after a split.

**Valuation** at a last price per instrument: market value = signed quantity × last price;
unrealized P&L = market value − cost basis. A position with nothing open is worth zero and has
no unrealized P&L whatever the price; an open position without a price has market value and
unrealized P&L ``None`` (unknown, never zero), and so does any total it is part of. Hence, for
every method and every sequence of trades (the identity the property tests hold):

    realized + unrealized == (market value of the open quantity + sell proceeds − sell charges)
                             − (buy cost + buy charges)

**Currencies never mix**: an instrument's trades are all in the currency of its first trade, its
last price must be too, and totals are per currency. A trade in another currency (a broker fill
disagreeing with a manual trade recorded first: manual trades are checked when recorded, fills
never refused) puts the instrument in *conflict*: it is left out of every line and total, in
every account, and listed in :attr:`Portfolio.conflicts` until the trades agree, so one wrong
trade neither stops the whole portfolio nor adds amounts of two currencies.

**Precision**: everything is ``Decimal``, in money's 100-digit arithmetic; sums and products of
the amounts dashcore takes are exact. The only inexact steps are divisions (a partly consumed
lot, a flip's split cash, a split ratio, an average cost): a quotient that does not end is
rounded half-even to :data:`QUOTIENT_PLACES` decimal places, far below any currency's smallest
unit, and keeps no trailing zeros. Fixed places (not significant digits) are what keep every
later sum and difference exact: a partly consumed lot's two parts add back to its basis to the
last digit, so every method realizes exactly the same total once everything is closed. Nothing
else is rounded: rounding for display belongs to whoever displays.

**Dust**: a closing trade within 10**-18 units (the finest quantity a trade can carry) of the
open quantity closes all of it, with its whole cash: a split leaves fractions no trade can name
(1 share after a 1:3 split is 0.333…), and the sale of that fraction, recorded to 18 places,
closes the position instead of leaving 10**-19 of a share open forever.

A ledger is built from one user's trades; ``account`` labels group them. It reads each trade as
a :data:`LedgerEntry` (only what the rules above use): :meth:`LotLedger.build` makes them from
:class:`Trade` values, :meth:`LotLedger.from_entries` takes them as a repository reads them.

**Resuming.** Applying trades in execution order is all a ledger does, so one built from a
user's first trades can go on with the later ones (:meth:`LotLedger.extend`): a ledger kept as a
:class:`LedgerSnapshot` (plain values, for a store) and restored, then extended with the
trades executed since, is the ledger of all of them, to the last digit. A trade executed
*before* the last one applied cannot be added that way (the ledger refuses it): whoever keeps
snapshots builds afresh after a change that is not an append. The ledger also remembers each
position's last trade price, the fallback when no quote prices an open instrument.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from itertools import compress, islice
from operator import attrgetter, eq
from typing import TypeAlias

from dashcore.domain.errors import InvalidInput
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.money import ARITHMETIC, MAX_INPUT_PLACES, Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import Split, Trade

__all__ = [
    "PRECISION",
    "QUOTIENT_PLACES",
    "CostMethod",
    "CurrencyConflict",
    "LedgerEntry",
    "LedgerSnapshot",
    "LotLedger",
    "OpenLot",
    "PnlTotals",
    "Portfolio",
    "PositionPnl",
    "build_portfolio",
    "ledger_entry",
    "with_broker_average_costs",
]

PRECISION = ARITHMETIC.prec
"""Significant digits of the ledger's arithmetic, money's own: its sums and products of the
amounts dashcore takes are exact; only its divisions (average costs) round."""
QUOTIENT_PLACES = 50
"""Decimal places a quotient that does not end is rounded to."""
_QUOTIENT_UNIT = Decimal(1).scaleb(-QUOTIENT_PLACES)
_DUST = Decimal(1).scaleb(-MAX_INPUT_PLACES)

_ZERO = Decimal(0)
_BUY = OrderSide.BUY
_by_time = attrgetter("executed_at")
_by_id = attrgetter("id")
_by_effect = attrgetter("effective_at")

_Key = tuple[str, str, str]  # account, symbol, exchange

LedgerEntry: TypeAlias = tuple[str, str, str, str, bool, Decimal, Decimal, Decimal, datetime]
"""One trade as the ledger reads it: ``(account, symbol, exchange, currency code, buys,
quantity, price, charges, executed_at)``, where ``buys`` is ``True`` for a buy and ``charges``
is the trade's :attr:`~Trade.total_charges` (charges plus the MTF charge). A plain tuple, not a
class: a ledger reads 100,000 of them, and a tuple of immutable values costs the least to make
and to unpack. Its values are a checked trade's (see :func:`ledger_entry`)."""


SnapshotPosition: TypeAlias = tuple[
    str, str, str, str, int, Decimal, Decimal, Decimal, Decimal, int,
    tuple[Decimal, ...], tuple[Decimal, ...], tuple[datetime, ...],
]  # fmt: skip
"""One position of a :class:`LedgerSnapshot`: ``(account, symbol, exchange, currency code,
sign, held, basis, realized, last price, last entry, sizes, bases, opened)``: ``sign`` 1
long, -1 short, 0 flat; ``held`` the unsigned open quantity and ``basis`` the signed cost
basis (running sums, kept as they are rather than summed again, so that every digit
survives); ``realized`` the realized P&L; ``last price`` the price of the position's latest
entry and ``last entry`` that entry's number (1 for the ledger's first entry); the open lots
oldest first as three parallel tuples: unsigned sizes, signed bases, opening instants."""


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """A ledger as plain values (strings, ``Decimal``, UTC ``datetime``, ``int``, tuples of
    them), for a store to keep: :meth:`LotLedger.from_snapshot` gives back a ledger equal to
    the one :meth:`LotLedger.snapshot` took it of, digit for digit."""

    method: str
    """The :class:`CostMethod`'s value."""
    positions: tuple[SnapshotPosition, ...]
    entries: int
    """How many entries the ledger applied."""
    pending_splits: tuple[tuple[str, str, int, int, datetime], ...]
    """``(symbol, exchange, numerator, denominator, effective_at)`` of the splits no entry has
    reached yet, in order of ``effective_at``."""
    last_executed_at: datetime | None
    """The instant of the last entry applied (``None``: none was); an entry to extend the
    ledger with may not be earlier."""
    conflicts: tuple[tuple[str, str, str, str, datetime], ...] = ()
    """``(symbol, exchange, currency, other currency, at)`` of each instrument in conflict
    (see :class:`CurrencyConflict`)."""


class CostMethod(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"
    AVERAGE = "average"


@dataclass(frozen=True, slots=True)
class OpenLot:
    """What is still open of one opening (``fifo``/``lifo``) or of the pool (``average``).
    ``quantity`` is signed (short < 0); ``cost_basis`` is signed the same way."""

    quantity: Decimal
    cost_basis: Money
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class PositionPnl:
    """One instrument in one account (``account`` is ``None`` on the all-accounts line).

    ``quantity`` and ``cost_basis`` are signed (short < 0); ``average_cost`` is cost basis per
    unit, charges included (``None`` when nothing is open); ``market_value`` and
    ``unrealized_pnl`` are ``None`` when something is open and there is no price.
    ``broker_average_cost`` and ``average_cost_difference`` (ours − the broker's) are filled
    by :func:`with_broker_average_costs`."""

    account: str | None
    instrument: InstrumentKey
    currency: Currency
    quantity: Decimal
    cost_basis: Money
    average_cost: Money | None
    realized_pnl: Money
    last_price: Money | None
    market_value: Money | None
    unrealized_pnl: Money | None
    broker_average_cost: Money | None = None
    average_cost_difference: Money | None = None


@dataclass(frozen=True, slots=True)
class PnlTotals:
    """Sums over one currency, for one account or (``account`` ``None``) for all of them.
    ``market_value`` and ``unrealized_pnl`` are ``None`` when an open position in it has no
    price; ``unpriced`` names those instruments."""

    account: str | None
    currency: Currency
    cost_basis: Money
    realized_pnl: Money
    market_value: Money | None
    unrealized_pnl: Money | None
    unpriced: tuple[InstrumentKey, ...] = ()


@dataclass(frozen=True, slots=True)
class CurrencyConflict:
    """An instrument with trades in two currencies: ``currency`` of its first trade, and
    ``other``, first seen in the trade at ``at``. Left out of the portfolio until they agree."""

    instrument: InstrumentKey
    currency: Currency
    other: Currency
    at: datetime

    @property
    def message(self) -> str:
        return (
            f"{self.instrument} has trades in {self.currency} and, from {self.at.isoformat()}, "
            f"in {self.other}: correct the currency of the manual trades that are wrong. It is "
            "left out of the portfolio until then."
        )


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The ledger valued at a set of prices. Lines are sorted by account, exchange, symbol;
    totals by account and currency code."""

    method: CostMethod
    positions: tuple[PositionPnl, ...]
    """Per account and instrument, closed positions included (they carry realized P&L)."""
    instruments: tuple[PositionPnl, ...]
    """Per instrument, every account together (net quantity and basis)."""
    account_totals: tuple[PnlTotals, ...]
    """Per account and currency."""
    totals: tuple[PnlTotals, ...]
    """Per currency, every account together."""
    conflicts: tuple[CurrencyConflict, ...] = ()
    """Instruments left out because their trades are in two currencies."""


class _Position:
    """One (account, instrument) while the ledger is built, in plain ``Decimal``s. Its open lots,
    all in one direction (``sign``), are three parallel deques, oldest on the left: unsigned
    sizes, signed bases, opening instants. ``held`` and ``basis`` are their running sums."""

    __slots__ = (
        "account",
        "bases",
        "basis",
        "currency",
        "held",
        "instrument",
        "last_price",
        "last_seq",
        "newest_first",
        "opened",
        "pooled",
        "realized",
        "sign",
        "sizes",
    )

    def __init__(
        self, account: str, instrument: InstrumentKey, currency: Currency, method: CostMethod
    ) -> None:
        self.account = account
        self.instrument = instrument
        self.currency = currency
        self.pooled = method is CostMethod.AVERAGE
        self.newest_first = method is CostMethod.LIFO
        self.sizes: deque[Decimal] = deque()
        self.bases: deque[Decimal] = deque()
        self.opened: deque[datetime] = deque()
        self.held = _ZERO
        self.basis = _ZERO
        self.sign = 0  # 1 long, -1 short, 0 flat
        self.realized = _ZERO
        self.last_price = _ZERO  # of the position's latest entry, the ledger's entry last_seq
        self.last_seq = 0

    def apply(self, sign: int, quantity: Decimal, cash: Decimal, at: datetime) -> None:
        """``sign`` 1 buys, -1 sells; ``cash`` is signed: paid > 0, received < 0."""
        held = self.held
        if not held or sign == self.sign:
            self._open(sign, quantity, cash, at)
        elif abs(quantity - held) < _DUST:  # closes all, dust included
            self.realized -= cash + self._consume(held)
        elif quantity < held:
            self.realized -= cash + self._consume(quantity)
        else:
            closing_cash = _quotient(cash * held, quantity)
            self.realized -= closing_cash + self._consume(held)
            self._open(sign, quantity - held, cash - closing_cash, at)

    def _open(self, sign: int, quantity: Decimal, cash: Decimal, at: datetime) -> None:
        if self.pooled and self.sizes:
            self.sizes[0] += quantity
            self.bases[0] += cash
        else:
            self.sizes.append(quantity)
            self.bases.append(cash)
            self.opened.append(at)
        self.held += quantity
        self.basis += cash
        self.sign = sign

    def _consume(self, quantity: Decimal) -> Decimal:
        """Take ``quantity`` out of the lots, newest or oldest first; the basis taken."""
        sizes, bases, opened = self.sizes, self.bases, self.opened
        end = -1 if self.newest_first else 0
        taken = _ZERO
        remaining = quantity
        while remaining and sizes:
            size = sizes[end]
            if size <= remaining:
                taken += bases[end]
                remaining -= size
                if end:
                    sizes.pop()
                    bases.pop()
                    opened.pop()
                else:
                    sizes.popleft()
                    bases.popleft()
                    opened.popleft()
            else:
                basis = bases[end]
                part = _quotient(basis * remaining, size)
                taken += part
                sizes[end] = size - remaining
                bases[end] = basis - part
                break
        if sizes:
            self.held -= quantity
            self.basis -= taken
        else:  # exact, even where a split's last digit left the sums off by a rounding
            self.held = self.basis = _ZERO
            self.sign = 0
        return taken

    def copy(self) -> _Position:
        """An independent copy (its lots are its own)."""
        clone = _Position.__new__(_Position)
        for name in _Position.__slots__:
            setattr(clone, name, getattr(self, name))
        clone.sizes, clone.bases, clone.opened = (
            self.sizes.copy(), self.bases.copy(), self.opened.copy(),
        )  # fmt: skip
        return clone

    def quantity(self) -> Decimal:
        """Signed: short < 0 (negated exactly, whatever the context's precision)."""
        return self.held.copy_negate() if self.sign < 0 else self.held

    def split(self, numerator: int, denominator: int) -> None:
        """Every lot times ``numerator / denominator``. The position's quantity is the split
        of its whole (three lots of 1 split 1:3 hold 1, as a broker would report), and the last
        lot takes what rounding each lot on its own left over (at most a few units of the
        50th place). Found by QA: FIFO and LIFO held the sum of the rounded lots,
        0.999…9, where the average method held 1."""
        sizes = self.sizes
        if not sizes:
            self.last_price = _quotient(self.last_price * denominator, numerator)
            return
        for index, size in enumerate(sizes):
            sizes[index] = _quotient(size * numerator, denominator)
        held = _quotient(self.held * numerator, denominator)
        sizes[-1] = _plain(sizes[-1] + (held - sum(sizes, _ZERO)))
        self.held = held
        self.last_price = _quotient(self.last_price * denominator, numerator)


class LotLedger:
    """Open lots and realized P&L of every (account, instrument), by one cost method.

    A ledger is *resumable*: :meth:`extend` applies entries later than every entry applied
    before (an earlier one is a ``ValueError``), so a ledger built from a user's first trades,
    kept as a :meth:`snapshot` and restored by :meth:`from_snapshot`, then extended with the
    trades executed since, equals the ledger built from all of them at once, digit for digit.
    Splits given when the ledger is made apply as entries reach them; those not reached yet
    apply to what is valued (:meth:`valued_at`, :meth:`open_lots`) and stay pending, so a
    later entry still sees them at their instant.

    It also keeps each instrument's *last trade price*: the price of the latest entry in it
    (execution order), in any account."""

    __slots__ = (
        "_applied",
        "_conflicts",
        "_currencies",
        "_last_at",
        "_pending",
        "_positions",
        "method",
    )

    def __init__(self, method: CostMethod | str, splits: Iterable[Split] = ()) -> None:
        """An empty ledger under ``method``, with ``splits`` to apply as entries reach them."""
        self.method = _method(method)
        self._positions: dict[_Key, _Position] = {}
        self._currencies: dict[tuple[str, str], Currency] = {}
        self._conflicts: dict[tuple[str, str], CurrencyConflict] = {}
        self._applied = 0
        self._pending: list[Split] = sorted(splits, key=_by_effect)
        self._last_at: datetime | None = None

    @classmethod
    def build(
        cls, trades: Iterable[Trade], method: CostMethod | str, splits: Iterable[Split] = ()
    ) -> LotLedger:
        """Apply ``trades`` (any order: they are sorted) and ``splits`` under ``method``."""
        return cls.from_entries(map(ledger_entry, _in_execution_order(trades)), method, splits)

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[LedgerEntry],
        method: CostMethod | str,
        splits: Iterable[Split] = (),
    ) -> LotLedger:
        """An empty ledger under ``method`` and ``splits``, extended with ``entries`` (in
        execution order, see :meth:`extend`)."""
        return cls(method, splits).extend(entries)

    def extend(self, entries: Iterable[LedgerEntry]) -> LotLedger:
        """Apply ``entries``, which must come in execution order (``executed_at``, ties by
        trade id, as ``TradeRepository.ledger_entries`` reads them; they are not sorted here)
        and no earlier than the last entry this ledger applied: an entry earlier than the one
        before it is a ``ValueError``. A split takes effect before the first entry at or after
        its instant. A trade in another currency than its instrument's earlier trades puts the
        instrument in conflict and is not applied. Returns the ledger itself, so that calls
        chain."""
        method = self.method
        positions = self._positions
        currencies = self._currencies
        applied = entries if isinstance(entries, Sequence) else list(entries)
        pending = self._pending
        next_split = 0
        split_at = pending[0].effective_at if pending else None
        previous_at = self._last_at
        try:
            with localcontext(prec=PRECISION):
                for entry in applied:
                    account, symbol, exchange, code, buys, quantity, price, charges, at = entry
                    if previous_at is not None and at < previous_at:
                        raise ValueError("ledger entries must come in execution order")
                    previous_at = at
                    while split_at is not None and split_at <= at:
                        _split(positions, pending[next_split])
                        next_split += 1
                        split_at = (
                            pending[next_split].effective_at if next_split < len(pending) else None
                        )
                    key = (account, symbol, exchange)
                    position = positions.get(key)
                    if position is None:
                        position = positions[key] = _Position(
                            account, *_instrument_of(currencies, symbol, exchange, code), method
                        )
                    if code != position.currency.code:
                        self._conflict(position, code, at)
                        continue
                    if buys:
                        position.apply(1, quantity, quantity * price + charges, at)
                    else:
                        position.apply(-1, quantity, charges - quantity * price, at)
        finally:
            reached = pending[:next_split]
            del pending[:next_split]
            self._last_at = previous_at
        self._note_last_trades(applied, reached)
        return self

    def _conflict(self, position: _Position, code: str, at: datetime) -> None:
        """Note that ``position``'s instrument has a trade in ``code`` (the first such only)."""
        instrument = position.instrument
        self._conflicts.setdefault(
            (instrument.symbol, instrument.exchange),
            CurrencyConflict(instrument, position.currency, Currency(code), at),
        )

    def _note_last_trades(self, entries: Sequence[LedgerEntry], splits: Sequence[Split]) -> None:
        """Give each position its latest entry's price and number, reading the entries
        just applied from the newest back until every position has been seen (a pass after
        the fact: a store per entry in the loop above costs the full build several times
        more). ``splits`` are those the entries reached: a price from before one of them is
        restated in its new units."""
        positions = self._positions
        number = self._applied + len(entries)
        self._applied = number
        seen: set[_Key] = set()
        for entry in reversed(entries):
            key = entry[:3]
            if key not in seen:
                seen.add(key)
                position = positions[key]
                position.last_price = (
                    _restated(entry[6], entry[8], key, splits) if splits else entry[6]
                )
                position.last_seq = number
                if len(seen) == len(positions):
                    return
            number -= 1

    def snapshot(self) -> LedgerSnapshot:
        """Everything this ledger holds, as plain values (see :class:`LedgerSnapshot`)."""
        return LedgerSnapshot(
            method=self.method.value,
            positions=tuple(
                (
                    p.account,
                    p.instrument.symbol,
                    p.instrument.exchange,
                    p.currency.code,
                    p.sign,
                    p.held,
                    p.basis,
                    p.realized,
                    p.last_price,
                    p.last_seq,
                    tuple(p.sizes),
                    tuple(p.bases),
                    tuple(p.opened),
                )
                for p in self._positions.values()
            ),
            entries=self._applied,
            pending_splits=tuple(
                (
                    s.instrument.symbol,
                    s.instrument.exchange,
                    s.numerator,
                    s.denominator,
                    s.effective_at,
                )
                for s in self._pending
            ),
            last_executed_at=self._last_at,
            conflicts=tuple(
                (c.instrument.symbol, c.instrument.exchange, c.currency.code, c.other.code, c.at)
                for c in self._conflicts.values()
            ),
        )

    @classmethod
    def from_snapshot(cls, snapshot: LedgerSnapshot) -> LotLedger:
        """The ledger :meth:`snapshot` took ``snapshot`` of, ready to :meth:`extend`. A
        snapshot whose parts do not fit together is a ``ValueError``."""
        ledger = cls(
            snapshot.method,
            (
                Split(InstrumentKey(symbol, exchange), numerator, denominator, effective_at)
                for symbol, exchange, numerator, denominator, effective_at in (
                    snapshot.pending_splits
                )
            ),
        )
        currencies = ledger._currencies
        for (
            account,
            symbol,
            exchange,
            code,
            sign,
            held,
            basis,
            realized,
            last_price,
            last_seq,
            sizes,
            bases,
            opened,
        ) in snapshot.positions:
            if sign not in (-1, 0, 1) or not len(sizes) == len(bases) == len(opened):
                raise ValueError("not a ledger snapshot: a position's lots do not fit together")
            instrument, currency = _instrument_of(currencies, symbol, exchange, code)
            if currency.code != code:
                raise ValueError("not a ledger snapshot: an instrument in two currencies")
            position = _Position(account, instrument, currency, ledger.method)
            position.sign = sign
            position.held = held
            position.basis = basis
            position.realized = realized
            position.last_price = last_price
            position.last_seq = last_seq
            position.sizes.extend(sizes)
            position.bases.extend(bases)
            position.opened.extend(opened)
            ledger._positions[account, symbol, exchange] = position
        for symbol, exchange, code, other, at in snapshot.conflicts:
            instrument, currency = _instrument_of(currencies, symbol, exchange, code)
            ledger._conflicts[symbol, exchange] = CurrencyConflict(
                instrument, currency, Currency(other), at
            )
        ledger._applied = snapshot.entries
        ledger._last_at = snapshot.last_executed_at
        return ledger

    def for_account(self, account: str) -> LotLedger:
        """This ledger restricted to ``account``'s positions (a copy: extending either leaves
        the other as it was); its last trade prices are the account's."""
        restricted = LotLedger(self.method, self._pending)
        restricted._positions = {
            key: position.copy() for key, position in self._positions.items() if key[0] == account
        }
        restricted._currencies = dict(self._currencies)
        held = {key[1:] for key in restricted._positions}
        restricted._conflicts = {k: c for k, c in self._conflicts.items() if k in held}
        restricted._applied = self._applied
        restricted._last_at = self._last_at
        return restricted

    def accounts(self) -> frozenset[str]:
        """The labels of the accounts that have a position (open or closed)."""
        return frozenset(key[0] for key in self._positions)

    def open_instruments(self) -> dict[InstrumentKey, Currency]:
        """The instruments something is open in, in some account (even where long and short
        accounts net to zero), each with its currency: those a valuation needs a price of."""
        return {p.instrument: p.currency for p in self._settled().values() if p.held}

    def last_trade_prices(self) -> dict[InstrumentKey, Money]:
        """Each instrument's last trade price: the price of its latest entry, in any account,
        in the units of after every split (pending ones included)."""
        latest: dict[tuple[str, str], _Position] = {}
        for (_, symbol, exchange), position in self._settled().items():
            seen = latest.get((symbol, exchange))
            if seen is None or position.last_seq > seen.last_seq:
                latest[symbol, exchange] = position
        return {p.instrument: Money(p.last_price, p.currency) for p in latest.values()}

    def open_lots(self, account: str, instrument: InstrumentKey) -> tuple[OpenLot, ...]:
        """The open lots of one position, oldest first (none when flat or never traded)."""
        position = self._settled().get((account, instrument.symbol, instrument.exchange))
        if position is None:
            return ()
        short, currency = position.sign < 0, position.currency
        return tuple(
            OpenLot(size.copy_negate() if short else size, Money(basis, currency), at)
            for size, basis, at in zip(position.sizes, position.bases, position.opened, strict=True)
        )

    def valued_at(self, prices: Mapping[InstrumentKey, Money]) -> Portfolio:
        """Value every position at ``prices`` (last price per instrument, in its currency)."""
        with localcontext(prec=PRECISION):
            rows = sorted(
                self._settled().values(),
                key=lambda p: (p.account, p.instrument.exchange, p.instrument.symbol),
            )
            positions = tuple(
                _line(
                    p.account,
                    p.instrument,
                    p.currency,
                    p.quantity(),
                    p.basis,
                    p.realized,
                    prices,
                )
                for p in rows
            )
            merged: dict[InstrumentKey, list[Decimal]] = {}
            for p in rows:
                sums = merged.setdefault(p.instrument, [_ZERO, _ZERO, _ZERO])
                sums[0] += p.quantity()
                sums[1] += p.basis
                sums[2] += p.realized
            currency_of = {p.instrument: p.currency for p in rows}
            instruments = tuple(
                _line(None, key, currency_of[key], quantity, basis, realized, prices)
                for key, (quantity, basis, realized) in sorted(
                    merged.items(), key=lambda item: (item[0].exchange, item[0].symbol)
                )
            )
            return Portfolio(
                method=self.method,
                positions=positions,
                instruments=instruments,
                account_totals=_totals(positions, by_account=True),
                totals=_totals(instruments, by_account=False),
                conflicts=tuple(
                    sorted(
                        self._conflicts.values(),
                        key=lambda c: (c.instrument.exchange, c.instrument.symbol),
                    )
                ),
            )

    def _settled(self) -> dict[_Key, _Position]:
        """The positions to read, those of instruments in conflict left out, with the pending
        splits applied: copies of those they change (a pending split stays pending, for the
        entries still to come)."""
        conflicts = self._conflicts
        if conflicts:
            positions = {k: p for k, p in self._positions.items() if k[1:] not in conflicts}
        else:
            positions = self._positions
        if not self._pending:
            return positions
        split_instruments = {(s.instrument.symbol, s.instrument.exchange) for s in self._pending}
        settled = {
            key: position.copy() if key[1:] in split_instruments else position
            for key, position in positions.items()
        }
        with localcontext(prec=PRECISION):
            for split in self._pending:
                _split(settled, split)
        return settled


def build_portfolio(
    trades: Iterable[Trade],
    method: CostMethod | str,
    prices: Mapping[InstrumentKey, Money],
    splits: Iterable[Split] = (),
) -> Portfolio:
    """The ledger of ``trades`` (and ``splits``) under ``method``, valued at ``prices``."""
    return LotLedger.build(trades, method, splits).valued_at(prices)


def with_broker_average_costs(
    lines: Iterable[PositionPnl], broker_average_costs: Mapping[InstrumentKey, Money]
) -> tuple[PositionPnl, ...]:
    """``lines`` with the broker's reported average cost per instrument and the difference
    ours − the broker's (``None`` when we hold nothing). Brokers usually leave charges out of
    their average, so a positive difference of about the charges per unit is expected. Pass
    the lines of the account the broker reported on; a line the broker says nothing about is
    returned unchanged, and so is one the broker reports in another currency than ours: amounts
    are never compared across currencies, and the broker's data must not stop the valuation."""
    result = []
    for line in lines:
        broker = broker_average_costs.get(line.instrument)
        if broker is not None and broker.currency == line.currency:
            difference = None if line.average_cost is None else line.average_cost - broker
            line = replace(line, broker_average_cost=broker, average_cost_difference=difference)
        result.append(line)
    return tuple(result)


def ledger_entry(trade: Trade) -> LedgerEntry:
    """What the ledger reads of ``trade``."""
    price = trade.price
    return (
        trade.account,
        trade.instrument.symbol,
        trade.instrument.exchange,
        price.currency.code,
        trade.side is _BUY,
        trade.quantity,
        price.amount,
        trade.total_charges.amount,
        trade.executed_at,
    )


def _instrument_of(
    currencies: dict[tuple[str, str], Currency], symbol: str, exchange: str, code: str
) -> tuple[InstrumentKey, Currency]:
    """The key of a position's instrument and its currency: the currency of the instrument's
    first trade in any account (``currencies`` remembers it)."""
    currency = currencies.get((symbol, exchange))
    if currency is None:
        currency = currencies[(symbol, exchange)] = Currency(code)
    return InstrumentKey(symbol, exchange), currency


def _in_execution_order(trades: Iterable[Trade]) -> list[Trade]:
    """By ``executed_at``, ties by id. Sorting on the instant alone and then ordering each run
    of equal instants keeps the sort from allocating a key tuple per trade (100,000 live
    tuples wake the garbage collector, which then walks every trade: 5× the sort itself)."""
    ordered = sorted(trades, key=_by_time)
    times = list(map(_by_time, ordered))
    ordered_up_to = 0
    # each ``index`` whose trade has the same instant as the one before it:
    for index in compress(range(1, len(times)), map(eq, times, islice(times, 1, None))):
        if index < ordered_up_to:
            continue
        first, end = index - 1, index + 1
        while end < len(times) and times[end] == times[first]:
            end += 1
        ordered[first:end] = sorted(ordered[first:end], key=_by_id)
        ordered_up_to = end
    return ordered


def _method(method: CostMethod | str) -> CostMethod:
    try:
        return CostMethod(method)
    except ValueError:
        raise InvalidInput(
            "The cost method is fifo, lifo or average.", code="invalid_cost_method", field="method"
        ) from None


def _quotient(dividend: Decimal, divisor: Decimal | int) -> Decimal:
    """``dividend / divisor`` in the current context, rounded half-even to
    :data:`QUOTIENT_PLACES` places, without trailing zeros (``1950 / 3`` is ``650``)."""
    return _plain((dividend / divisor).quantize(_QUOTIENT_UNIT))


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and with an exponent of at most 0."""
    # normalize() drops trailing zeros but writes 650 as 6.5E+2; adding 0 brings the exponent
    # back to at most 0 (an exact sum takes the smaller exponent)
    return value.normalize() + _ZERO


def _restated(price: Decimal, at: datetime, key: _Key, splits: Sequence[Split]) -> Decimal:
    """``price``, of a trade in ``key``'s instrument at ``at``, in the units of after
    ``splits`` (only those of the instrument that take effect after ``at`` change it)."""
    _, symbol, exchange = key
    with localcontext(prec=PRECISION):
        for split in splits:
            instrument = split.instrument
            if (
                split.effective_at > at
                and instrument.symbol == symbol
                and instrument.exchange == exchange
            ):
                price = _quotient(price * split.denominator, split.numerator)
    return price


def _split(positions: Mapping[_Key, _Position], split: Split) -> None:
    symbol, exchange = split.instrument.symbol, split.instrument.exchange
    for (_, position_symbol, position_exchange), position in positions.items():
        if position_symbol == symbol and position_exchange == exchange:
            position.split(split.numerator, split.denominator)


def _line(
    account: str | None,
    instrument: InstrumentKey,
    currency: Currency,
    quantity: Decimal,
    basis: Decimal,
    realized: Decimal,
    prices: Mapping[InstrumentKey, Money],
) -> PositionPnl:
    last = prices.get(instrument)
    if last is not None and last.currency != currency:
        raise InvalidInput(
            f"The price of {instrument} is in {last.currency}, its trades in {currency}.",
            code="currency_mismatch",
            field="prices",
        )
    if not quantity:
        value: Decimal | None = _ZERO
        # flat; a basis is left only where long and short accounts net out (whatever the price)
        unrealized: Decimal | None = -basis
    elif last is None:
        value = unrealized = None
    else:
        value = quantity * last.amount
        unrealized = value - basis
    return PositionPnl(
        account=account,
        instrument=instrument,
        currency=currency,
        quantity=quantity,
        cost_basis=Money(basis, currency),
        average_cost=Money(_quotient(basis, quantity), currency) if quantity else None,
        realized_pnl=Money(realized, currency),
        last_price=last,
        market_value=None if value is None else Money(value, currency),
        unrealized_pnl=None if unrealized is None else Money(unrealized, currency),
    )


def _totals(lines: tuple[PositionPnl, ...], *, by_account: bool) -> tuple[PnlTotals, ...]:
    groups: dict[tuple[str | None, str], list[PositionPnl]] = {}
    for line in lines:
        account = line.account if by_account else None
        groups.setdefault((account, line.currency.code), []).append(line)
    totals = []
    for (account, _), members in sorted(groups.items(), key=lambda g: (g[0][0] or "", g[0][1])):
        currency = members[0].currency
        unpriced = tuple(line.instrument for line in members if line.market_value is None)
        values = [line.market_value.amount for line in members if line.market_value is not None]
        gains = [line.unrealized_pnl.amount for line in members if line.unrealized_pnl is not None]
        value = None if unpriced else sum(values, _ZERO)
        unrealized = None if unpriced else sum(gains, _ZERO)
        totals.append(
            PnlTotals(
                account=account,
                currency=currency,
                cost_basis=Money(
                    sum((line.cost_basis.amount for line in members), _ZERO), currency
                ),
                realized_pnl=Money(
                    sum((line.realized_pnl.amount for line in members), _ZERO), currency
                ),
                market_value=None if value is None else Money(value, currency),
                unrealized_pnl=None if unrealized is None else Money(unrealized, currency),
                unpriced=unpriced,
            )
        )
    return tuple(totals)
