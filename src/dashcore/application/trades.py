"""Trades a user records by hand, and broker fills recorded as trades (issue #8; AUD-1).

Rules:
- A trade belongs to one user; another user's trade id is a 404 (``trade_not_found``), exactly
  like one that does not exist.
- A manual trade is validated as a whole, every problem named by its field: symbol and
  exchange are 1 to 32 printable characters without spaces (kept upper-case, so ``infy`` and
  ``INFY`` are one instrument in the ledger); quantity and price are finite decimals above
  zero; charges, the MTF charge and the capital used are zero or more (every amount within
  :func:`~dashcore.domain.money.input_decimal`'s range); the currency is an ISO
  4217 code; the execution time carries a zone and is not in the future. Its account is
  :data:`~dashcore.domain.trades.MANUAL_ACCOUNT` unless the user names one.
- A trade that came from a broker fill is the broker's record: it cannot be changed or deleted
  here (409 ``broker_trade_read_only``).
- An instrument's trades are all in one currency: a manual trade in another currency than the
  instrument's other trades is refused (422 ``currency_mismatch``, field ``currency``), so
  that one mistyped trade never stops the portfolio from being valued. Broker fills are the
  broker's record and are never refused.
- Every change is audited (``trade_recorded``, ``trade_updated``, ``trade_deleted``) in the
  unit of work that makes it.
- Broker fills are recorded by :class:`RecordFills` once each, under the account label
  :func:`broker_account_label` gives the broker account they were made in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.audit import MetadataValue
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from dashcore.domain.instruments import (
    INSTRUMENT_CODE_MAX,
    AssetClass,
    InstrumentKey,
    instrument_code,
    is_instrument_code,
    is_positive_decimal,
)
from dashcore.domain.money import Currency, Money, input_decimal
from dashcore.domain.orders import Fill, OrderSide
from dashcore.domain.portfolio import Page
from dashcore.domain.time import ensure_utc
from dashcore.domain.trades import MANUAL_ACCOUNT, Trade, TradeSource, TradeType, parse_account
from dashcore.domain.trading import PlacedOrder
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.trades import TradeCursor, TradeFilter, TradeRepository
from dashcore.ports.trading import OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "KEEP",
    "MAX_PAGE",
    "Keep",
    "RecordFills",
    "TradeChanges",
    "TradeDetails",
    "Trades",
    "broker_account_label",
    "instrument_code_problem",
    "trade_type_of",
]

_by_trade_id = attrgetter("trade_id")

MAX_PAGE: Final = 200
_ACCOUNT_NAMESPACE: Final = uuid5(NAMESPACE_URL, "https://dashcore.invalid/broker-accounts")


def broker_account_label(connection_id: UUID, provider_account_id: str) -> str:
    """The account label of trades made in one broker account through one connection: a name-
    based UUID of the pair, as text. Stable for as long as the connection lives (it is
    repaired in place on re-authorization), distinct per connection and account, and 36
    characters whatever the broker's own id looks like (Schwab's are 64)."""
    return str(uuid5(_ACCOUNT_NAMESPACE, f"{connection_id}/{provider_account_id}"))


_TRADE_TYPES: Final = {
    AssetClass.EQUITY: TradeType.EQUITY,
    AssetClass.ETF: TradeType.EQUITY,
    AssetClass.MUTUAL_FUND: TradeType.EQUITY,
    AssetClass.FUTURE: TradeType.FUTURES,
    AssetClass.OPTION: TradeType.OPTIONS,
    AssetClass.CURRENCY: TradeType.CURRENCY,
}


def trade_type_of(asset_class: AssetClass) -> TradeType:
    """How the trade records classify what an instrument is (bonds and the rest: ``other``)."""
    return _TRADE_TYPES.get(asset_class, TradeType.OTHER)


def trade_not_found() -> NotFound:
    return NotFound("No such trade.", code="trade_not_found")


class Keep(Enum):
    """A field a change leaves as it is (distinct from ``None``, which clears it)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class TradeDetails:
    """What a person records about a trade made outside a connected broker."""

    symbol: str
    exchange: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    currency: str
    executed_at: datetime
    type: TradeType = TradeType.EQUITY
    brokerage_charge: Decimal = Decimal(0)
    """Brokerage, exchange fees and taxes: the trade's ``charges``."""
    mtf_charge: Decimal | None = None
    capital_used: Decimal | None = None
    order_id: UUID | None = None
    """The order this trade belongs to, when the user links one."""
    account: str = MANUAL_ACCOUNT

    @classmethod
    def of(cls, trade: Trade) -> TradeDetails:
        return cls(
            symbol=trade.instrument.symbol,
            exchange=trade.instrument.exchange,
            side=trade.side,
            quantity=trade.quantity,
            price=trade.price.amount,
            currency=trade.price.currency.code,
            executed_at=trade.executed_at,
            type=trade.type,
            brokerage_charge=trade.charges.amount,
            mtf_charge=None if trade.mtf_charge is None else trade.mtf_charge.amount,
            capital_used=None if trade.capital_used is None else trade.capital_used.amount,
            order_id=trade.order_id,
            account=trade.account,
        )

    def changed(self, changes: TradeChanges) -> TradeDetails:
        kept = {
            field.name: value
            for field in fields(changes)
            if (value := getattr(changes, field.name)) is not KEEP
        }
        return replace(self, **kept)

    def trade(self, trade_id: UUID, user_id: UUID, now: datetime) -> Trade:
        """The manual trade these details describe; ``InvalidInput`` naming every problem."""
        problems = self._problems(now)
        if problems:
            raise InvalidInput("The trade is not valid.", errors=tuple(problems))
        currency = Currency(self.currency)
        return Trade(
            id=trade_id,
            user_id=user_id,
            account=self.account,
            instrument=InstrumentKey(instrument_code(self.symbol), instrument_code(self.exchange)),
            side=self.side,
            quantity=self.quantity,
            price=Money(self.price, currency),
            charges=Money(self.brokerage_charge, currency),
            type=self.type,
            executed_at=self.executed_at,
            source=TradeSource.MANUAL,
            mtf_charge=_money(self.mtf_charge, currency),
            order_id=self.order_id,
            capital_used=_money(self.capital_used, currency),
        )

    def _problems(self, now: datetime) -> list[FieldError]:
        problems: list[FieldError] = []
        for name in ("symbol", "exchange"):
            problem = instrument_code_problem(name, getattr(self, name))
            if problem is not None:
                problems.append(problem)
        for name in ("quantity", "price"):
            if not is_positive_decimal(getattr(self, name)):
                problems.append(FieldError(name, f"The {name} must be a decimal above zero."))
        for name in ("brokerage_charge", "mtf_charge", "capital_used"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, Decimal) and value.is_finite() and value >= 0
            ):
                problems.append(FieldError(name, f"The {name} must be a decimal of zero or more."))
        for name in ("quantity", "price", "brokerage_charge", "mtf_charge", "capital_used"):
            value = getattr(self, name)
            if isinstance(value, Decimal) and value.is_finite():
                try:
                    input_decimal(value, field=name)
                except InvalidInput as error:
                    problems.append(FieldError(name, error.message))
        for name, check in (
            ("currency", lambda: Currency.issued(self.currency)),
            ("account", lambda: parse_account(self.account)),
        ):
            try:
                check()
            except InvalidInput as error:
                problems.append(FieldError(name, error.message))
        try:
            executed_at = ensure_utc(self.executed_at, field="executed_at")
        except InvalidInput as error:
            problems.append(FieldError("executed_at", error.message))
        else:
            if executed_at > now:
                problems.append(FieldError("executed_at", "A trade cannot be in the future."))
        return problems


@dataclass(frozen=True, slots=True)
class TradeChanges:
    """A partial change of a manual trade: what is not :data:`KEEP` replaces the stored value
    (``None`` clears an optional one)."""

    symbol: str | Keep = KEEP
    exchange: str | Keep = KEEP
    side: OrderSide | Keep = KEEP
    quantity: Decimal | Keep = KEEP
    price: Decimal | Keep = KEEP
    currency: str | Keep = KEEP
    executed_at: datetime | Keep = KEEP
    type: TradeType | Keep = KEEP
    brokerage_charge: Decimal | Keep = KEEP
    mtf_charge: Decimal | Keep | None = KEEP
    capital_used: Decimal | Keep | None = KEEP
    order_id: UUID | Keep | None = KEEP
    account: str | Keep = KEEP


def instrument_code_problem(name: str, text: str) -> FieldError | None:
    """What is wrong with a symbol or exchange (``name``), if anything
    (:func:`~dashcore.domain.instruments.is_instrument_code`)."""
    if is_instrument_code(instrument_code(text)):
        return None
    return FieldError(
        name, f"A {name} is 1 to {INSTRUMENT_CODE_MAX} characters, no spaces or colons."
    )


def _money(amount: Decimal | None, currency: Currency) -> Money | None:
    return None if amount is None else Money(amount, currency)


def _audit_facts(trade: Trade) -> dict[str, MetadataValue]:
    return {
        "symbol": trade.instrument.symbol,
        "exchange": trade.instrument.exchange,
        "side": trade.side.value,
        "account": trade.account,
    }


class Trades:
    """Recording, reading, changing and deleting a user's trades. A trade's ``order_id`` names
    one of its user's own orders: another user's order and an order that does not exist are
    refused alike (422 naming ``order_id``), so the answer tells nobody which ids exist; an order
    of another instrument or side is refused too (a fill is of what was ordered), and so is one
    whose fills the broker reported (they are trades already)."""

    def __init__(
        self,
        trades: TradeRepository,
        orders: OrderRepository,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._trades = trades
        self._orders = orders
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def record(self, user_id: UUID, details: TradeDetails, caller: CallerContext) -> Trade:
        trade = details.trade(self._ids.new_id(), user_id, self._clock.now())
        await self._check_order(trade)
        await self._trades.add(trade)
        await self._check_currency(trade)
        await self._audit.record(
            "trade_recorded",
            caller=caller,
            target=f"trade:{trade.id}",
            metadata=_audit_facts(trade),
        )
        await self._uow.commit()
        return trade

    async def get(self, user_id: UUID, trade_id: UUID) -> Trade:
        trade = await self._trades.get(trade_id)
        if trade is None or trade.user_id != user_id:
            raise trade_not_found()
        return trade

    async def list(
        self,
        user_id: UUID,
        filters: TradeFilter,
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Trade]:
        """Newest first; ``next_cursor`` continues after the page's last trade."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"The limit is 1 to {MAX_PAGE}.", field="limit")
        after = None if cursor is None else TradeCursor.decode(cursor)
        found = await self._trades.list_for_user(user_id, filters, after=after, limit=limit + 1)
        items = tuple(found[:limit])
        more = len(found) > limit
        return Page(items, TradeCursor.after(items[-1]).encode() if more else None)

    async def replace(
        self, user_id: UUID, trade_id: UUID, details: TradeDetails, caller: CallerContext
    ) -> Trade:
        """``PUT``: the trade becomes ``details`` (same id)."""
        stored = await self._editable(user_id, trade_id)
        trade = details.trade(trade_id, user_id, self._clock.now())
        if trade.order_id != stored.order_id:
            await self._check_order(trade)
        return await self._save(trade, caller)

    async def update(
        self, user_id: UUID, trade_id: UUID, changes: TradeChanges, caller: CallerContext
    ) -> Trade:
        """``PATCH``: the fields given change, the rest stay; the result is checked whole."""
        stored = await self._editable(user_id, trade_id)
        details = TradeDetails.of(stored).changed(changes)
        trade = details.trade(trade_id, user_id, self._clock.now())
        if trade.order_id != stored.order_id:
            await self._check_order(trade)
        return await self._save(trade, caller)

    async def delete(self, user_id: UUID, trade_id: UUID, caller: CallerContext) -> None:
        trade = await self._editable(user_id, trade_id)
        await self._trades.delete(trade_id)
        await self._audit.record(
            "trade_deleted", caller=caller, target=f"trade:{trade_id}", metadata=_audit_facts(trade)
        )
        await self._uow.commit()

    async def _editable(self, user_id: UUID, trade_id: UUID) -> Trade:
        trade = await self._trades.lock(trade_id)
        if trade is None or trade.user_id != user_id:
            raise trade_not_found()
        if trade.source is TradeSource.BROKER_FILL:
            raise Conflict(
                "This trade is the broker's record of a fill; it cannot be changed here.",
                code="broker_trade_read_only",
            )
        return trade

    async def _save(self, trade: Trade, caller: CallerContext) -> Trade:
        await self._trades.save(trade)
        await self._check_currency(trade)
        await self._audit.record(
            "trade_updated", caller=caller, target=f"trade:{trade.id}", metadata=_audit_facts(trade)
        )
        await self._uow.commit()
        return trade

    async def _check_order(self, trade: Trade) -> None:
        if trade.order_id is None:
            return
        order = await self._orders.get(trade.order_id)
        if order is None or order.user_id != trade.user_id:
            raise InvalidInput("You have no order with this id.", field="order_id")
        request = order.request
        ordered = InstrumentKey(request.instrument.symbol, request.instrument.exchange)
        if (ordered, request.side) != (trade.instrument, trade.side):
            raise InvalidInput(
                f"This order is a {request.side} of {ordered}; the trade is a {trade.side} of "
                f"{trade.instrument}.",
                field="order_id",
            )
        if order.filled_quantity > 0 or order.fills:
            # Found by QA: a manual trade of 2 linked to a filled order of 2 put 4 in the
            # portfolio, beside the broker fill recorded for the same execution.
            raise InvalidInput(
                "The broker reported fills of this order; they are recorded as trades of their "
                "own, so this trade would count them twice.",
                field="order_id",
            )

    async def _check_currency(self, trade: Trade) -> None:
        """Refuse ``trade`` (written, not committed) if another trade of its instrument is in
        another currency. Asked after the write, which locks the user's book: a concurrent
        writer of this user's trades has committed by then, and its trade is seen."""
        other = await self._trades.other_currency(
            trade.user_id, trade.instrument, trade.price.currency, excluding=trade.id
        )
        if other is not None:
            raise InvalidInput(
                f"{trade.instrument} trades in {other}: record this trade in {other}, or "
                "change the other trades first.",
                code="currency_mismatch",
                field="currency",
            )


class RecordFills:
    """Turns an order's broker fills into trades, each once (by the broker's trade id).

    It writes in the caller's unit of work and does not commit: the order use case that learnt
    of the fills commits them together with the order's new state, so a fill is never recorded
    for a state change that rolled back. The trades are labelled with the broker account
    (:func:`broker_account_label` of the order's connection and account), linked to the order,
    classified by the instrument's asset class; a fill without charges has zero charges. One
    audit event (``trades_recorded_from_fills``) names the order and how many were new. Fills
    are written in the order of the broker's trade ids, so two units of work recording
    overlapping fills of one order wait on the first fill they share instead of each holding
    one the other needs.
    """

    def __init__(self, trades: TradeRepository, audit: AuditTrail, ids: IdGenerator) -> None:
        self._trades = trades
        self._audit = audit
        self._ids = ids

    async def __call__(
        self, order: PlacedOrder, fills: tuple[Fill, ...] | list[Fill], caller: CallerContext
    ) -> list[Trade]:
        """The trades newly recorded (fills already recorded are skipped)."""
        account = broker_account_label(order.connection_id, order.account_id)
        instrument = order.request.instrument
        recorded: list[Trade] = []
        for fill in sorted(fills, key=_by_trade_id):
            price = fill.price
            trade = Trade(
                id=self._ids.new_id(),
                user_id=order.user_id,
                account=account,
                instrument=instrument.key,
                side=order.request.side,
                quantity=fill.quantity,
                price=price,
                charges=fill.charges or Money(Decimal(0), price.currency),
                type=trade_type_of(instrument.asset_class),
                executed_at=fill.executed_at,
                source=TradeSource.BROKER_FILL,
                order_id=order.id,
                broker_trade_id=fill.trade_id,
            )
            if await self._trades.add_fill(trade):
                recorded.append(trade)
        if recorded:
            metadata: dict[str, MetadataValue] = {
                "provider": order.provider,
                "recorded": len(recorded),
            }
            await self._audit.record(
                "trades_recorded_from_fills",
                caller=caller,
                target=f"order:{order.id}",
                metadata=metadata,
            )
        return recorded
