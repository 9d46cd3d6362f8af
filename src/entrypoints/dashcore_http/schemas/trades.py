"""Bodies of ``/trades``, ``/portfolio`` and ``/quotes``.

Quantities, prices, charges and profit and loss travel as JSON strings (``"1450.05"``); a JSON
number where an amount is expected is refused with 400 ``amount_not_string`` naming the field
(see :func:`~dashcore_http.schemas.transactions.decimal_input`). A trade's amounts are all in
its ``currency``. Instants are ISO 8601 with an offset; instruments ``EXCHANGE:SYMBOL`` where
they are named in one string.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from dashcore_http.schemas.accounts import CurrencyCode
from dashcore_http.schemas.numbers import DecimalString
from dashcore_http.schemas.transactions import DecimalInput

__all__ = [
    "CurrencyConflictView",
    "PortfolioLineView",
    "PortfolioTotalsView",
    "PortfolioView",
    "PriceView",
    "QuoteFailureView",
    "QuoteView",
    "QuotesView",
    "TradeCreate",
    "TradePage",
    "TradeUpdate",
    "TradeView",
]

SideText = Literal["buy", "sell"]
TradeTypeText = Literal["equity", "futures", "options", "currency", "commodity", "other"]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
AccountLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TradeCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A trade made outside a connected broker (``POST``), or all of one (``PUT``).
    ``brokerage_charge`` is brokerage, exchange fees and taxes; ``mtf_charge`` the margin
    trade funding charge; ``order_id`` links an order; ``account`` labels where the trade sits
    (``manual`` unless given)."""

    symbol: Code
    exchange: Code
    side: SideText
    quantity: DecimalInput
    price: DecimalInput
    currency: CurrencyCode
    executed_at: datetime
    type: TradeTypeText = "equity"
    brokerage_charge: DecimalInput = "0"
    mtf_charge: DecimalInput | None = None
    capital_used: DecimalInput | None = None
    order_id: UUID | None = None
    account: AccountLabel | None = None


class TradeUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``PATCH``: fields left out stay; ``null`` clears ``mtf_charge``, ``capital_used`` and
    ``order_id``."""

    symbol: Code | msgspec.UnsetType = msgspec.UNSET
    exchange: Code | msgspec.UnsetType = msgspec.UNSET
    side: SideText | msgspec.UnsetType = msgspec.UNSET
    quantity: DecimalInput | msgspec.UnsetType = msgspec.UNSET
    price: DecimalInput | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    executed_at: datetime | msgspec.UnsetType = msgspec.UNSET
    type: TradeTypeText | msgspec.UnsetType = msgspec.UNSET
    brokerage_charge: DecimalInput | msgspec.UnsetType = msgspec.UNSET
    mtf_charge: DecimalInput | msgspec.UnsetType | None = msgspec.UNSET
    capital_used: DecimalInput | msgspec.UnsetType | None = msgspec.UNSET
    order_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    account: AccountLabel | msgspec.UnsetType = msgspec.UNSET


class TradeView(msgspec.Struct, frozen=True, kw_only=True):
    """``source`` ``manual`` (editable) or ``broker_fill`` (``read_only``: the broker's record,
    with its ``broker_trade_id``)."""

    id: UUID
    account: str
    symbol: str
    exchange: str
    side: str
    type: str
    quantity: DecimalString
    price: DecimalString
    currency: str
    brokerage_charge: DecimalString
    mtf_charge: DecimalString | None
    capital_used: DecimalString | None
    executed_at: datetime
    order_id: UUID | None
    source: str
    broker_trade_id: str | None
    read_only: bool


class TradePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TradeView]
    next_cursor: str | None


class PortfolioLineView(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument in one account (``account`` ``null`` on the all-accounts lines).
    ``quantity`` and ``cost_basis`` are signed (short < 0); ``average_cost`` includes charges.
    ``market_value`` and ``unrealized_pnl`` are ``null`` when the position is open and has no
    price. ``broker_average_cost`` / ``average_cost_difference`` (ours − the broker's) where
    the synced account's broker reports one."""

    account: str | None
    symbol: str
    exchange: str
    currency: str
    quantity: DecimalString
    cost_basis: DecimalString
    average_cost: DecimalString | None
    realized_pnl: DecimalString
    last_price: DecimalString | None
    price_source: Literal["quote", "last_trade"] | None
    market_value: DecimalString | None
    unrealized_pnl: DecimalString | None
    broker_average_cost: DecimalString | None = None
    average_cost_difference: DecimalString | None = None


class PortfolioTotalsView(msgspec.Struct, frozen=True, kw_only=True):
    """Sums in one currency (for one account, or all when ``account`` is ``null``);
    ``unpriced`` names the open instruments without a price (then the value sums are null)."""

    account: str | None
    currency: str
    cost_basis: DecimalString
    realized_pnl: DecimalString
    market_value: DecimalString | None
    unrealized_pnl: DecimalString | None
    unpriced: list[str]


class PriceView(msgspec.Struct, frozen=True, kw_only=True):
    """How an open instrument was valued: a provider's ``quote``, or the ``last_trade`` price
    (no connection quoted it; it may be stale)."""

    symbol: str
    exchange: str
    price: DecimalString
    currency: str
    source: Literal["quote", "last_trade"]
    provider: str | None


class QuoteFailureView(msgspec.Struct, frozen=True):
    provider: str
    code: str


class CurrencyConflictView(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument left out of the portfolio: its trades are in ``currency`` and, from the
    trade at ``since``, in ``other``. Correct the manual trades whose currency is wrong."""

    symbol: str
    exchange: str
    currency: str
    other: str
    since: datetime
    message: str


class PortfolioView(msgspec.Struct, frozen=True, kw_only=True):
    method: Literal["fifo", "lifo", "average"]
    positions: list[PortfolioLineView]
    instruments: list[PortfolioLineView]
    account_totals: list[PortfolioTotalsView]
    totals: list[PortfolioTotalsView]
    prices: list[PriceView]
    quote_failures: list[QuoteFailureView]
    currency_conflicts: list[CurrencyConflictView]


class QuoteView(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    exchange: str
    price: DecimalString
    currency: str
    provider: str


class QuotesView(msgspec.Struct, frozen=True, kw_only=True):
    """``missing``: asked for, quoted by none of the account's usable connections."""

    quotes: list[QuoteView]
    missing: list[str]
    failures: list[QuoteFailureView]
