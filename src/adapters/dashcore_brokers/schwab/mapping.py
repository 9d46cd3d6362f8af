"""Schwab's spellings in dashcore's terms (``reference/brokers.md`` §1.4-1.6), and the fast
decode-and-map functions of the listings.

Business rules:
- every one of Schwab's 21 order statuses maps to exactly one :class:`OrderStatus`
  (:data:`STATUS`); a spelling outside the table is an ``IntegrityError``
  (``unknown_provider_status``), logged, never guessed. Schwab has no "partially filled"
  status: a ``WORKING`` order with a filled quantity is ``partially_filled``;
- ``REPLACED`` (the old order of a replace) is final: ``cancelled``. ``AWAITING_UR_OUT``,
  ``PENDING_CANCEL``, ``PENDING_REPLACE`` and ``PENDING_RECALL`` wait for the exchange to
  confirm an order's end: ``cancel_requested``;
- Schwab's account data names no trading venue, so instruments are on the composite US market
  (exchange ``US``) in USD; ``COLLECTIVE_INVESTMENT`` with type ``EXCHANGE_TRADED_FUND`` is an
  ETF; an asset type outside the table is ``other`` (an instrument is still shown);
- holdings are the long side of each position line; positions are every line, net signed
  (long minus short), the product being the account's (margin or cash/delivery);
- each ledger type maps to one :class:`ActivityType` (:data:`ACTIVITY`) with a few refinements
  by content: a ``TRADE`` is a buy when its security moves in, a ``DIVIDEND_OR_INTEREST`` on a
  security is a dividend, on cash interest, and negative a (withholding) tax; a ``JOURNAL`` of
  fee items is a fee; ``ELECTRONIC_FUND`` is a deposit or withdrawal by its sign. Schwab's own
  type is always kept in ``provider_type``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Final

import structlog

from dashcore.domain.errors import IntegrityError
from dashcore.domain.instruments import AssetClass, Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide, OrderStatus, OrderType, Product, Validity
from dashcore.domain.portfolio import AccountType, ActivityType, Holding, Position, Transaction
from dashcore_brokers.schwab.wire import (
    ACCOUNT,
    TRANSACTIONS,
    WireInstrument,
    WireTransaction,
)

__all__ = [
    "ACCOUNT_TYPE",
    "ACTIVITY",
    "DURATION",
    "EXCHANGE",
    "INSTRUCTION",
    "ORDER_TYPE",
    "SIDE_OF",
    "STATUS",
    "USD",
    "VALIDITY_OF",
    "InstrumentCache",
    "normalize_holdings",
    "normalize_positions",
    "normalize_transactions",
    "order_status",
    "order_type",
    "parse_time",
]

_log = structlog.get_logger("dashcore_brokers.schwab")

EXCHANGE: Final = "US"
USD: Final = Currency("USD")
_ZERO = Decimal(0)

STATUS: Final[dict[str, OrderStatus]] = {
    "AWAITING_PARENT_ORDER": OrderStatus.SUBMITTED,
    "AWAITING_CONDITION": OrderStatus.SUBMITTED,
    "AWAITING_STOP_CONDITION": OrderStatus.OPEN,
    "AWAITING_MANUAL_REVIEW": OrderStatus.SUBMITTED,
    "ACCEPTED": OrderStatus.SUBMITTED,
    "AWAITING_UR_OUT": OrderStatus.CANCEL_REQUESTED,
    "PENDING_ACTIVATION": OrderStatus.SUBMITTED,
    "QUEUED": OrderStatus.SUBMITTED,
    "WORKING": OrderStatus.OPEN,
    "REJECTED": OrderStatus.REJECTED,
    "PENDING_CANCEL": OrderStatus.CANCEL_REQUESTED,
    "CANCELED": OrderStatus.CANCELLED,
    "PENDING_REPLACE": OrderStatus.CANCEL_REQUESTED,
    "REPLACED": OrderStatus.CANCELLED,
    "FILLED": OrderStatus.FILLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "NEW": OrderStatus.SUBMITTED,
    "AWAITING_RELEASE_TIME": OrderStatus.SUBMITTED,
    "PENDING_ACKNOWLEDGEMENT": OrderStatus.SUBMITTED,
    "PENDING_RECALL": OrderStatus.CANCEL_REQUESTED,
    "UNKNOWN": OrderStatus.UNKNOWN,
}

ORDER_TYPE: Final[dict[OrderType, str]] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
}
DURATION: Final[dict[Validity, str]] = {
    Validity.DAY: "DAY",
    Validity.GTC: "GOOD_TILL_CANCEL",
    Validity.IOC: "IMMEDIATE_OR_CANCEL",
}
INSTRUCTION: Final[dict[OrderSide, str]] = {OrderSide.BUY: "BUY", OrderSide.SELL: "SELL"}

VALIDITY_OF: Final[dict[str, Validity]] = {
    "DAY": Validity.DAY,
    "GOOD_TILL_CANCEL": Validity.GTC,
    "IMMEDIATE_OR_CANCEL": Validity.IOC,
    "FILL_OR_KILL": Validity.IOC,
    "END_OF_WEEK": Validity.GTC,
    "END_OF_MONTH": Validity.GTC,
    "NEXT_END_OF_MONTH": Validity.GTC,
    "UNKNOWN": Validity.DAY,
}
"""Every ``duration`` as the closest validity: fill-or-kill is immediate, the period ones
outlive the day."""
SIDE_OF: Final[dict[str, OrderSide]] = {
    "BUY": OrderSide.BUY,
    "BUY_TO_COVER": OrderSide.BUY,
    "BUY_TO_OPEN": OrderSide.BUY,
    "BUY_TO_CLOSE": OrderSide.BUY,
    "SELL": OrderSide.SELL,
    "SELL_SHORT": OrderSide.SELL,
    "SELL_SHORT_EXEMPT": OrderSide.SELL,
    "SELL_TO_OPEN": OrderSide.SELL,
    "SELL_TO_CLOSE": OrderSide.SELL,
    "EXCHANGE": OrderSide.SELL,
}

ACCOUNT_TYPE: Final[dict[str, AccountType]] = {
    "CASH": AccountType.CASH,
    "MARGIN": AccountType.MARGIN,
}
_PRODUCT: Final[dict[str, Product]] = {"CASH": Product.DELIVERY, "MARGIN": Product.MARGIN}

_ASSET_CLASS: Final[dict[str, AssetClass]] = {
    "EQUITY": AssetClass.EQUITY,
    "OPTION": AssetClass.OPTION,
    "INDEX": AssetClass.OTHER,
    "MUTUAL_FUND": AssetClass.MUTUAL_FUND,
    "CASH_EQUIVALENT": AssetClass.CASH_EQUIVALENT,
    "FIXED_INCOME": AssetClass.BOND,
    "CURRENCY": AssetClass.CURRENCY,
    "COLLECTIVE_INVESTMENT": AssetClass.OTHER,
}
_ETF_TYPE = "EXCHANGE_TRADED_FUND"
_BY_TIME_AND_ID = itemgetter(0, 1)

ACTIVITY: Final[dict[str, ActivityType]] = {
    "TRADE": ActivityType.BUY,
    "RECEIVE_AND_DELIVER": ActivityType.TRANSFER,
    "DIVIDEND_OR_INTEREST": ActivityType.DIVIDEND,
    "ACH_RECEIPT": ActivityType.DEPOSIT,
    "ACH_DISBURSEMENT": ActivityType.WITHDRAWAL,
    "CASH_RECEIPT": ActivityType.DEPOSIT,
    "CASH_DISBURSEMENT": ActivityType.WITHDRAWAL,
    "ELECTRONIC_FUND": ActivityType.DEPOSIT,
    "WIRE_OUT": ActivityType.WITHDRAWAL,
    "WIRE_IN": ActivityType.DEPOSIT,
    "JOURNAL": ActivityType.TRANSFER,
    "MEMORANDUM": ActivityType.OTHER,
    "MARGIN_CALL": ActivityType.OTHER,
    "MONEY_MARKET": ActivityType.OTHER,
    "SMA_ADJUSTMENT": ActivityType.OTHER,
}
"""Each ledger type's activity before the refinements by content (see the module)."""


def order_status(spelling: str, filled_quantity: Decimal) -> OrderStatus:
    """Schwab's status as dashcore's; ``IntegrityError`` for a spelling outside the table."""
    status = STATUS.get(spelling)
    if status is None:
        _log.error("provider_unknown_status", provider="schwab", status=spelling[:64])
        raise IntegrityError(
            "Schwab reported an order status dashcore does not know.",
            code="unknown_provider_status",
        )
    if status is OrderStatus.OPEN and filled_quantity > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_type(spelling: str, *, price: bool, stop: bool) -> OrderType:
    """Schwab's ``orderType`` as dashcore's: the four basic kinds by name, any other (trailing
    stops, on-close, net debit/credit, …) by the prices it carries."""
    for kind, wire in ORDER_TYPE.items():
        if wire == spelling:
            return kind
    if stop:
        return OrderType.STOP_LIMIT if price else OrderType.STOP
    return OrderType.LIMIT if price else OrderType.MARKET


def parse_time(text: str) -> datetime:
    """Schwab's ISO-8601 times (``2024-03-29T14:30:00+0000``, with or without milliseconds or
    ``Z``) as aware UTC datetimes."""
    return datetime.fromisoformat(text)


class InstrumentCache:
    """Builds each symbol's :class:`Instrument` once per listing."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str | None], Instrument] = {}

    def __call__(self, wire: WireInstrument) -> Instrument:
        key = (wire.symbol, wire.asset_type, wire.type)
        found = self._seen.get(key)
        if found is None:
            asset_class = _ASSET_CLASS.get(wire.asset_type, AssetClass.OTHER)
            if wire.asset_type == "COLLECTIVE_INVESTMENT" and wire.type == _ETF_TYPE:
                asset_class = AssetClass.ETF
            found = Instrument(
                symbol=wire.symbol,
                exchange=EXCHANGE,
                currency=USD,
                asset_class=asset_class,
                name=wire.description,
            )
            self._seen[key] = found
        return found


def _usd(amount: Decimal | None) -> Money | None:
    return None if amount is None else Money(amount, USD)


def normalize_holdings(body: bytes, account_id: str) -> list[Holding]:
    """``GET /accounts/{hash}?fields=positions`` → the account's holdings (its long lines)."""
    instrument = InstrumentCache()
    holdings = []
    for line in ACCOUNT.decode(body).securities_account.positions:
        if line.long_quantity > 0:
            average = line.average_long_price
            if average is None:
                average = line.average_price
            holdings.append(
                Holding(
                    provider_account_id=account_id,
                    instrument=instrument(line.instrument),
                    quantity=line.long_quantity,
                    average_cost=None if average is None else Money(average, USD),
                    last_price=None,
                    market_value=_usd(line.market_value),
                )
            )
    return holdings


def normalize_positions(body: bytes, account_id: str) -> list[Position]:
    """``GET /accounts/{hash}?fields=positions`` → every position line, net signed."""
    account = ACCOUNT.decode(body).securities_account
    product = _PRODUCT.get(account.type, Product.DELIVERY)
    instrument = InstrumentCache()
    positions = []
    for line in account.positions:
        quantity = line.long_quantity - line.short_quantity
        if quantity > 0:
            average = line.average_long_price
        elif quantity < 0:
            average = line.average_short_price
        else:
            average = None
        positions.append(
            Position(
                provider_account_id=account_id,
                instrument=instrument(line.instrument),
                quantity=quantity,
                product=product.value,
                average_price=_usd(average if average is not None else line.average_price),
                last_price=None,
                market_value=_usd(line.market_value),
            )
        )
    return positions


def _activity(wire: WireTransaction, security: WireInstrument | None) -> ActivityType:
    activity = ACTIVITY.get(wire.type, ActivityType.OTHER)
    match wire.type:
        case "TRADE":
            moved = next((i.amount for i in wire.transfer_items if i.fee_type is None), None)
            bought = moved > 0 if moved is not None else wire.net_amount < 0
            return ActivityType.BUY if bought else ActivityType.SELL
        case "DIVIDEND_OR_INTEREST":
            if wire.net_amount < 0:
                return ActivityType.TAX
            return ActivityType.DIVIDEND if security is not None else ActivityType.INTEREST
        case "JOURNAL":
            if wire.transfer_items and all(i.fee_type for i in wire.transfer_items):
                return ActivityType.FEE
        case "ELECTRONIC_FUND":
            return ActivityType.DEPOSIT if wire.net_amount >= 0 else ActivityType.WITHDRAWAL
    return activity


def normalize_transactions(body: bytes, account_id: str) -> list[Transaction]:
    """``GET /accounts/{hash}/transactions`` → the ledger, oldest first (by time, then id).

    The hot path of a ledger sync: each time string is parsed and each instrument built once.
    """
    instrument = InstrumentCache()
    times: dict[str, datetime] = {}
    keyed: list[tuple[datetime, int, Transaction]] = []
    for wire in TRANSACTIONS.decode(body):
        at = times.get(wire.time)
        if at is None:
            at = times[wire.time] = parse_time(wire.time)
        security = item = None
        for candidate in wire.transfer_items:
            held = candidate.instrument
            if candidate.fee_type is None and held is not None and held.asset_type != "CURRENCY":
                security, item = held, candidate
                break
        transaction = Transaction(
            provider_transaction_id=str(wire.activity_id),
            provider_account_id=account_id,
            activity=_activity(wire, security),
            occurred_at=at,
            amount=Money(wire.net_amount, USD),
            instrument=None if security is None else instrument(security),
            quantity=None if item is None or item.amount is None else abs(item.amount),
            price=None if item is None else _usd(item.price),
            description=wire.description,
            provider_type=wire.type,
            order_ref=None if wire.order_id is None else str(wire.order_id),
        )
        keyed.append((at, wire.activity_id, transaction))
    keyed.sort(key=_BY_TIME_AND_ID)
    return [transaction for _, _, transaction in keyed]
