"""``/api/v1/portfolio`` and ``/api/v1/quotes``.

``GET /portfolio?method=fifo|lifo|average&account=`` is the lot ledger over the user's trades,
valued at the latest prices (a provider's quote, else the last trade price, flagged); an
unknown method is 400 ``invalid_cost_method``. ``GET /quotes?symbols=NSE:INFY,US:AAPL`` gives
last prices through the user's connections, cached briefly.
"""

from __future__ import annotations

from typing import Annotated, Any

from dishka import FromDishka
from litestar import Controller, Request, get
from litestar.params import QueryParameter

from dashcore.application.portfolio import (
    GetPortfolio,
    GetQuotes,
    PortfolioReport,
    PriceSource,
    QuoteFailure,
    QuoteReport,
)
from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import CostMethod, PnlTotals, PositionPnl
from dashcore.domain.money import Money
from dashcore_http.authentication import principal
from dashcore_http.di import inject
from dashcore_http.schemas.numbers import decimal_string
from dashcore_http.schemas.trades import (
    CurrencyConflictView,
    PortfolioLineView,
    PortfolioTotalsView,
    PortfolioView,
    PriceView,
    QuoteFailureView,
    QuotesView,
    QuoteView,
)

__all__ = ["PortfolioController", "QuotesController"]


def _amount(money: Money | None) -> str | None:
    return None if money is None else decimal_string(money.amount)


def _line(line: PositionPnl, sources: dict[InstrumentKey, PriceSource]) -> PortfolioLineView:
    source = sources.get(line.instrument) if line.last_price is not None else None
    return PortfolioLineView(
        account=line.account,
        symbol=line.instrument.symbol,
        exchange=line.instrument.exchange,
        currency=line.currency.code,
        quantity=decimal_string(line.quantity),
        cost_basis=decimal_string(line.cost_basis.amount),
        average_cost=_amount(line.average_cost),
        realized_pnl=decimal_string(line.realized_pnl.amount),
        last_price=_amount(line.last_price),
        price_source=None if source is None else source.value,
        market_value=_amount(line.market_value),
        unrealized_pnl=_amount(line.unrealized_pnl),
        broker_average_cost=_amount(line.broker_average_cost),
        average_cost_difference=_amount(line.average_cost_difference),
    )


def _totals(totals: PnlTotals) -> PortfolioTotalsView:
    return PortfolioTotalsView(
        account=totals.account,
        currency=totals.currency.code,
        cost_basis=decimal_string(totals.cost_basis.amount),
        realized_pnl=decimal_string(totals.realized_pnl.amount),
        market_value=_amount(totals.market_value),
        unrealized_pnl=_amount(totals.unrealized_pnl),
        unpriced=[str(key) for key in totals.unpriced],
    )


def _failures(failures: tuple[QuoteFailure, ...]) -> list[QuoteFailureView]:
    return [QuoteFailureView(failure.provider, failure.code) for failure in failures]


def portfolio_view(report: PortfolioReport) -> PortfolioView:
    portfolio = report.portfolio
    sources = {point.instrument: point.source for point in report.prices}
    return PortfolioView(
        method=portfolio.method.value,
        positions=[_line(line, sources) for line in portfolio.positions],
        instruments=[_line(line, sources) for line in portfolio.instruments],
        account_totals=[_totals(totals) for totals in portfolio.account_totals],
        totals=[_totals(totals) for totals in portfolio.totals],
        prices=[
            PriceView(
                symbol=point.instrument.symbol,
                exchange=point.instrument.exchange,
                price=decimal_string(point.price.amount),
                currency=point.price.currency.code,
                source=point.source.value,
                provider=point.provider,
            )
            for point in report.prices
        ],
        quote_failures=_failures(report.quote_failures),
        currency_conflicts=[
            CurrencyConflictView(
                symbol=conflict.instrument.symbol,
                exchange=conflict.instrument.exchange,
                currency=conflict.currency.code,
                other=conflict.other.code,
                since=conflict.at,
                message=conflict.message,
            )
            for conflict in portfolio.conflicts
        ],
    )


def quotes_view(report: QuoteReport) -> QuotesView:
    return QuotesView(
        quotes=[
            QuoteView(
                symbol=quote.instrument.symbol,
                exchange=quote.instrument.exchange,
                price=decimal_string(quote.price.amount),
                currency=quote.price.currency.code,
                provider=quote.provider,
            )
            for quote in report.quotes
        ],
        missing=[str(key) for key in report.missing],
        failures=_failures(report.failures),
    )


class PortfolioController(Controller):
    path = "/portfolio"
    tags = ("portfolio",)

    @get("/", summary="Positions and profit and loss by a cost method")
    @inject
    async def portfolio(
        self,
        request: Request[Any, Any, Any],
        get_portfolio: FromDishka[GetPortfolio],
        method: Annotated[
            str, QueryParameter(max_length=16, enum=[method.value for method in CostMethod])
        ] = "fifo",
        account: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> PortfolioView:
        user_id = principal(request).subject
        return portfolio_view(await get_portfolio(user_id, method, account=account))


class QuotesController(Controller):
    path = "/quotes"
    tags = ("portfolio",)

    @get("/", summary="Last prices through the account's connections")
    @inject
    async def quotes(
        self,
        request: Request[Any, Any, Any],
        get_quotes: FromDishka[GetQuotes],
        symbols: Annotated[str, QueryParameter(max_length=2000)],
    ) -> QuotesView:
        report = await get_quotes(principal(request).subject, symbols.split(","))
        return quotes_view(report)
