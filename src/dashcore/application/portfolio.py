"""The portfolio and its profit and loss, and last prices (issue #8).

**Portfolio.** ``GetPortfolio`` gives the lot ledger (:mod:`dashcore.domain.ledger`) over every
trade of the user by the cost method asked for — ``fifo``, ``lifo`` or ``average``, chosen
per request — restricted to one account's positions when one is asked for, and values the
open positions at the latest prices:

- a *quote* where one of the user's usable connections quotes the instrument in the currency
  it trades in (see prices, below);
- otherwise the instrument's *last trade price* (the price of the user's latest trade in it,
  in the account asked for, if one is), flagged ``last_trade``: a stand-in that can be stale,
  shown as such, never passed off as a quote.

**Stored ledgers.** The ledger is not rebuilt from every trade on every request: it is kept
per user and method (:class:`~dashcore.ports.ledgers.LedgerSnapshots`), labelled with the
revision of the user's trade book it was built at (:class:`~dashcore.ports.trades.TradeBook`:
``revision`` R, ``rewritten_at`` W) and ``through``, the position of the last trade it covers.
Each request reads the book *first*, then the stored ledger S:

- S's revision is R (or higher: stored meanwhile by a newer request): S is the ledger, as is;
- S's revision is lower than R and W is at most S's revision (every write since S was an
  append): S is resumed with the trades positioned after S's ``through``; then the book is
  read again, and if a rewrite has come since all the same (committed after the first read of
  the book, it may be half in what was read: an edit that moved a trade after ``through``
  would be applied twice), the ledger is built as below, labelled with the second read;
- otherwise (nothing stored, or a trade was dated back, edited or deleted since, or a split
  recorded or deleted): the ledger is built from every trade, in one query (one state of the
  table), and the user's splits, read just before. A resumed ledger needs no split read: its
  snapshot keeps the splits no trade had reached yet, and a split written since would have
  been a rewrite.

A ledger built or resumed is stored labelled R, the revision read *before* the trades, and
through the position of the last trade read (one query gives both). A write committed after
the book was read has a higher revision, so the next request sees the stored ledger as older
than the book, never as current; if it was an append, the trades after ``through`` are read
then, and an append the query saw already is not after ``through``, so none is applied twice;
anything else moves W past R and forces a full build. Storing is a cache write: when it fails
(the database, or a newer ledger stored by a concurrent request) it is rolled back and the
answer is given all the same.

Where a synced account (issue #7) holds the instrument and its broker reports an average cost,
each per-account line carries the broker's figure and the difference ours − the broker's
(brokers usually leave charges out). Totals are per currency: nothing is converted.

**Prices.** :class:`LatestPrices` asks each provider the user has a usable connection to (the
oldest connection of each provider; each provider once) for the instruments still unpriced, in
that order, through its quote port. The instrument is looked up in the provider's catalog; one
the catalog does not list is asked under the key as given (the quote port leaves out what the
provider does not know). Prices are cached briefly per provider and instrument
(:class:`~dashcore.ports.quotes.QuoteCache`). A provider that fails (credentials to renew, down,
rate limited) is skipped and named in the answer; a cache that is down is skipped. No database
transaction is open while the ledger is built or providers answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final
from uuid import UUID

from dashcore.application.orders import BrokerAccess
from dashcore.application.trades import broker_account_label
from dashcore.domain.aggregation import AccountSource
from dashcore.domain.capabilities import Operation
from dashcore.domain.connections import ConnectionStatus
from dashcore.domain.errors import (
    BadRequest,
    DashcoreError,
    DependencyUnavailable,
    InvalidInput,
    ReauthRequired,
)
from dashcore.domain.instruments import (
    Instrument,
    InstrumentKey,
    instrument_code,
    is_instrument_code,
)
from dashcore.domain.ledger import (
    CostMethod,
    LotLedger,
    Portfolio,
    PositionPnl,
    with_broker_average_costs,
)
from dashcore.domain.money import Currency, Money
from dashcore.domain.trades import parse_account
from dashcore.ports.aggregation import HoldingRepository, StoredAccountRepository
from dashcore.ports.brokers import BrokerSession
from dashcore.ports.clock import Clock
from dashcore.ports.ledgers import LedgerSnapshots, StoredLedger
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.quotes import QuoteCache
from dashcore.ports.trades import TradeRepository
from dashcore.ports.trading import InstrumentCatalog
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "MAX_SYMBOLS",
    "GetPortfolio",
    "GetQuotes",
    "LatestPrices",
    "PortfolioReport",
    "PricePoint",
    "PriceSource",
    "Quote",
    "QuoteFailure",
    "QuoteReport",
    "QuoteSources",
    "QuotedPrices",
    "parse_cost_method",
    "parse_symbol",
]

MAX_SYMBOLS: Final = 50
_UNKNOWN_CURRENCY: Final = Currency("XXX")
_NOT_LOGGED_IN: Final = frozenset({ConnectionStatus.PENDING, ConnectionStatus.DISCONNECTED})
"""ISO 4217's "no currency": an instrument asked of a quote port before its currency is known
(the price the provider gives carries the currency)."""
_HOLDINGS_PAGE: Final = 500
_ACCOUNTS_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class Quote:
    instrument: InstrumentKey
    price: Money
    provider: str


@dataclass(frozen=True, slots=True)
class QuoteFailure:
    """A provider that could not quote: the error's stable code (``reauth_required``,
    ``provider_unavailable``, ``rate_limited``, …), never its details."""

    provider: str
    code: str


@dataclass(frozen=True, slots=True)
class QuotedPrices:
    """What :meth:`LatestPrices.quote` found, and the providers that failed."""

    quotes: dict[InstrumentKey, Quote]
    failures: tuple[QuoteFailure, ...]


@dataclass(frozen=True, slots=True)
class QuoteSources:
    """A user's providers to ask, each on a session of the oldest usable connection to it, and
    the providers whose session could not be opened."""

    sessions: tuple[tuple[str, BrokerSession], ...]
    failures: tuple[QuoteFailure, ...]


class LatestPrices:
    """Last prices through a user's connections (see the module for the rules): first the
    sources (read from the database), then the prices (from the providers, no database)."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        access: BrokerAccess,
        catalog: InstrumentCatalog,
        cache: QuoteCache,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._access = access
        self._catalog = catalog
        self._cache = cache
        self._uow = uow
        self._clock = clock

    async def sources(self, user_id: UUID) -> QuoteSources:
        """Open a session per provider the user can be quoted through, then end the unit of
        work's transaction: nothing holds the database while prices are worked out."""
        now = self._clock.now()
        sessions: dict[str, BrokerSession] = {}
        failures: list[QuoteFailure] = []
        stale: set[str] = set()
        for connection in await self._connections.list_for_user(user_id):
            provider = connection.provider
            if provider in sessions:
                continue
            if not connection.is_usable(now):
                if connection.status not in _NOT_LOGGED_IN and self._quotes(provider):
                    stale.add(provider)
                continue
            try:
                if not self._access.gateway(provider).capabilities.supports(Operation.QUOTES):
                    continue
                sessions[provider] = await self._access.session(provider, connection.id)
            except DashcoreError as error:
                failures.append(QuoteFailure(provider, error.code))
        # A provider reached only through connections whose login ended (or failed) is a
        # failure the user can act on (log in again), not a symbol nobody quotes. Found by QA:
        # an expired login and an unknown symbol read the same.
        asked = set(sessions) | {failure.provider for failure in failures}
        failures.extend(
            QuoteFailure(provider, ReauthRequired.code) for provider in sorted(stale - asked)
        )
        await self._uow.rollback()
        return QuoteSources(tuple(sessions.items()), tuple(failures))

    def _quotes(self, provider: str) -> bool:
        try:
            return self._access.gateway(provider).capabilities.supports(Operation.QUOTES)
        except DashcoreError:  # a provider this server no longer offers
            return False

    async def quote(
        self, sources: QuoteSources, wanted: Mapping[InstrumentKey, Currency | None]
    ) -> QuotedPrices:
        """Prices of ``wanted`` (each in the currency given, when one is given), asking each
        source in turn for what is still unpriced."""
        failures = list(sources.failures)
        quotes: dict[InstrumentKey, Quote] = {}
        for provider, session in sources.sessions:
            missing = {key: currency for key, currency in wanted.items() if key not in quotes}
            if not missing:
                break
            try:
                found = await self._ask(provider, session, missing)
            except DashcoreError as error:
                failures.append(QuoteFailure(provider, error.code))
                continue
            quotes.update((key, Quote(key, price, provider)) for key, price in found.items())
        return QuotedPrices(quotes, tuple(failures))

    async def _ask(
        self,
        provider: str,
        session: BrokerSession,
        wanted: Mapping[InstrumentKey, Currency | None],
    ) -> dict[InstrumentKey, Money]:
        asked: dict[InstrumentKey, Instrument] = {}
        for key, currency in wanted.items():
            listed = await self._catalog.find(provider, key)
            if listed is None:
                asked[key] = Instrument(key.symbol, key.exchange, currency or _UNKNOWN_CURRENCY)
            elif currency is None or listed.currency == currency:
                asked[key] = listed
        cache_keys = {f"{provider}|{key}": key for key in asked}
        found = {cache_keys[k]: price for k, price in (await self._cached(cache_keys)).items()}
        unknown = [asked[key] for key in asked if key not in found]
        if unknown:
            answered = await session.quotes.last_prices(unknown)
            fresh = {
                instrument.key: answered[str(instrument.key)]
                for instrument in unknown
                if str(instrument.key) in answered
            }
            await self._remember({f"{provider}|{key}": price for key, price in fresh.items()})
            found.update(fresh)
        return {
            key: price
            for key, price in found.items()
            if wanted[key] is None or price.currency == wanted[key]
        }

    async def _cached(self, keys: Iterable[str]) -> dict[str, Money]:
        try:
            return await self._cache.get_many(list(keys))
        except DependencyUnavailable:
            return {}

    async def _remember(self, prices: Mapping[str, Money]) -> None:
        try:
            await self._cache.put_many(prices)
        except DependencyUnavailable:
            return


def parse_symbol(text: str) -> InstrumentKey:
    """``EXCHANGE:SYMBOL`` (``NSE:INFY``, ``US:AAPL``), as :class:`InstrumentKey` prints it;
    kept upper-case. Anything else is ``InvalidInput`` on ``symbols``."""
    exchange, colon, symbol = text.strip().partition(":")
    exchange, symbol = instrument_code(exchange), instrument_code(symbol)
    if not (colon and is_instrument_code(exchange) and is_instrument_code(symbol)):
        raise InvalidInput(f"{text[:40]!r} is not EXCHANGE:SYMBOL.", field="symbols")
    return InstrumentKey(symbol, exchange)


@dataclass(frozen=True, slots=True)
class QuoteReport:
    quotes: tuple[Quote, ...]
    """In the order the symbols were asked for."""
    missing: tuple[InstrumentKey, ...]
    """Asked for, but no usable connection quotes them."""
    failures: tuple[QuoteFailure, ...]


class GetQuotes:
    """Last prices of up to :data:`MAX_SYMBOLS` instruments, through the user's connections."""

    def __init__(self, prices: LatestPrices) -> None:
        self._prices = prices

    async def __call__(self, user_id: UUID, symbols: Sequence[str]) -> QuoteReport:
        keys = list(dict.fromkeys(parse_symbol(text) for text in symbols))
        if not keys:
            raise InvalidInput("Ask for at least one EXCHANGE:SYMBOL.", field="symbols")
        if len(keys) > MAX_SYMBOLS:
            raise InvalidInput(f"Ask for at most {MAX_SYMBOLS} symbols.", field="symbols")
        sources = await self._prices.sources(user_id)
        quoted = await self._prices.quote(sources, dict.fromkeys(keys))
        return QuoteReport(
            quotes=tuple(quoted.quotes[key] for key in keys if key in quoted.quotes),
            missing=tuple(key for key in keys if key not in quoted.quotes),
            failures=quoted.failures,
        )


class PriceSource(StrEnum):
    QUOTE = "quote"
    LAST_TRADE = "last_trade"
    """The price of the user's latest trade in the instrument: no connection quoted it."""


@dataclass(frozen=True, slots=True)
class PricePoint:
    instrument: InstrumentKey
    price: Money
    source: PriceSource
    provider: str | None = None
    """The provider that quoted it (``None`` for a last trade price)."""


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    portfolio: Portfolio
    prices: tuple[PricePoint, ...]
    """How each open instrument was valued, by exchange and symbol."""
    quote_failures: tuple[QuoteFailure, ...]


def parse_cost_method(text: str) -> CostMethod:
    try:
        return CostMethod(text)
    except ValueError:
        raise BadRequest(
            "The method is fifo, lifo or average.", code="invalid_cost_method", field="method"
        ) from None


class GetPortfolio:
    """The user's positions and profit and loss by a cost method (see the module)."""

    def __init__(
        self,
        trades: TradeRepository,
        ledgers: LedgerSnapshots,
        accounts: StoredAccountRepository,
        holdings: HoldingRepository,
        prices: LatestPrices,
        uow: UnitOfWork,
    ) -> None:
        self._trades = trades
        self._ledgers = ledgers
        self._accounts = accounts
        self._holdings = holdings
        self._prices = prices
        self._uow = uow

    async def __call__(
        self, user_id: UUID, method: str, *, account: str | None = None
    ) -> PortfolioReport:
        cost_method = parse_cost_method(method)
        if account is not None:
            parse_account(account)
        ledger = await self._ledger(user_id, cost_method)
        if account is not None:
            ledger = ledger.for_account(account)
        broker_costs = await self._broker_average_costs(user_id, ledger.accounts())
        sources = await self._prices.sources(user_id)  # the last database read
        open_instruments = ledger.open_instruments()
        quoted = await self._prices.quote(sources, open_instruments)
        points = _price_points(open_instruments, quoted.quotes, ledger.last_trade_prices())
        portfolio = ledger.valued_at({point.instrument: point.price for point in points})
        if broker_costs:
            portfolio = replace(
                portfolio, positions=_with_broker_costs(portfolio.positions, broker_costs)
            )
        return PortfolioReport(portfolio, points, quoted.failures)

    async def _ledger(self, user_id: UUID, method: CostMethod) -> LotLedger:
        """The user's whole ledger by ``method``: stored, resumed or built (see the module).
        The transaction of the reads ends before the ledger is built; one built or resumed is
        then stored in a transaction of its own."""
        book = await self._trades.book(user_id)
        stored = await self._ledgers.get(user_id, method)
        if stored is not None and stored.revision >= book.revision:
            await self._uow.rollback()
            return LotLedger.from_snapshot(stored.snapshot)
        base = stored if stored is not None and book.rewritten_at <= stored.revision else None
        if base is not None:
            read = await self._trades.ledger_entries(user_id, after=base.through)
            since = await self._trades.book(user_id)
            if since.rewritten_at > base.revision:  # the read may have seen a rewrite: rebuild
                book, base = since, None
        if base is None:
            splits = [recorded.split for recorded in await self._trades.splits(user_id)]
            read = await self._trades.ledger_entries(user_id)
        await self._uow.rollback()
        if base is None:
            ledger = LotLedger.from_entries(read.entries, method, splits)
        else:
            ledger = LotLedger.from_snapshot(base.snapshot).extend(read.entries)
        await self._keep(
            user_id, method, StoredLedger(book.revision, read.through, ledger.snapshot())
        )
        return ledger

    async def _keep(self, user_id: UUID, method: CostMethod, stored: StoredLedger) -> None:
        """Store ``stored``, a cache write: a failure is rolled back and forgotten."""
        try:
            await self._ledgers.put(user_id, method, stored)
            await self._uow.commit()
        except DashcoreError:
            await self._uow.rollback()

    async def _broker_average_costs(
        self, user_id: UUID, labels: frozenset[str]
    ) -> dict[str, dict[InstrumentKey, Money]]:
        """The average cost each synced account's latest holdings report, by the account
        label its broker fills carry (only for accounts that hold trades here)."""
        costs: dict[str, dict[InstrumentKey, Money]] = {}
        after: UUID | None = None
        while True:
            page = await self._accounts.list_for_user(user_id, after=after, limit=_ACCOUNTS_PAGE)
            for stored in page.items:
                if stored.source is not AccountSource.SYNCED:
                    continue
                assert stored.connection_id is not None and stored.provider_account_id is not None
                label = broker_account_label(stored.connection_id, stored.provider_account_id)
                if label in labels:
                    costs[label] = await self._holding_costs(stored.id)
            if page.next_cursor is None or not page.items:
                return {label: found for label, found in costs.items() if found}
            after = page.items[-1].id

    async def _holding_costs(self, account_id: UUID) -> dict[InstrumentKey, Money]:
        costs: dict[InstrumentKey, Money] = {}
        after: str | None = None
        while True:
            page = await self._holdings.list(account_id, after=after, limit=_HOLDINGS_PAGE)
            for holding in page.items:
                if holding.average_cost is not None:
                    costs[holding.instrument.key] = holding.average_cost
            if page.next_cursor is None or not page.items:
                return costs
            after = page.items[-1].key


def _price_points(
    open_instruments: Mapping[InstrumentKey, Currency],
    quotes: Mapping[InstrumentKey, Quote],
    last_trade: Mapping[InstrumentKey, Money],
) -> tuple[PricePoint, ...]:
    points = []
    for instrument in sorted(open_instruments, key=lambda key: (key.exchange, key.symbol)):
        quote = quotes.get(instrument)
        if quote is not None:
            points.append(PricePoint(instrument, quote.price, PriceSource.QUOTE, quote.provider))
        else:
            points.append(PricePoint(instrument, last_trade[instrument], PriceSource.LAST_TRADE))
    return tuple(points)


def _with_broker_costs(
    lines: tuple[PositionPnl, ...], costs: Mapping[str, Mapping[InstrumentKey, Money]]
) -> tuple[PositionPnl, ...]:
    result: list[PositionPnl] = []
    for line in lines:
        reported = costs.get(line.account or "")
        if reported is None:
            result.append(line)
            continue
        try:
            result.extend(with_broker_average_costs([line], reported))
        except InvalidInput:  # the broker reports it in another currency: nothing to compare
            result.append(line)
    return tuple(result)
