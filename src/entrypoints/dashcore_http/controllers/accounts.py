"""``/api/v1/accounts`` and ``/api/v1/balances``: the signed-in user's aggregated accounts.

Owner-checked: another user's account answers 404 ``account_not_found``, as a missing one does.
Listings page by keyset: ``?cursor=&limit=`` (1-500, 50 by default), answer
``{"items", "next_cursor"}``; a cursor not made by this listing is a 400 ``invalid_cursor``.
Manual accounts are created, edited and deleted here; synced ones are read-only (409
``synced_account_read_only``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from dishka import FromDishka
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from dashcore.application.accounts import (
    BalanceTotals,
    CurrencyTotal,
    GetAccount,
    GetBalances,
    ListAccounts,
    ListHoldings,
    ListPositions,
    ManualAccounts,
)
from dashcore.domain.aggregation import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    StoredAccount,
    StoredHolding,
    StoredPosition,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.accounts import (
    AccountPage,
    AccountSummary,
    AccountView,
    BalanceTotalsView,
    BalanceView,
    CurrencyTotalView,
    HoldingPage,
    HoldingView,
    InstrumentView,
    ManualAccountCreate,
    ManualAccountUpdate,
    MoneyView,
    PositionPage,
    PositionView,
)
from dashcore_http.schemas.numbers import decimal_string

__all__ = [
    "AccountsController",
    "Cursor",
    "Limit",
    "account_view",
    "given",
    "instrument_view",
    "money_view",
    "optional_money",
]

Cursor = Annotated[
    str | None, QueryParameter(description="`next_cursor` of the previous page", max_length=1024)
]
T = TypeVar("T")
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]


def given(value: T | msgspec.UnsetType) -> T | None:
    """A ``PATCH`` field's value; ``None`` when it was left out."""
    return None if isinstance(value, msgspec.UnsetType) else value


def money_view(money: Money) -> MoneyView:
    return MoneyView(decimal_string(money.amount), money.currency.code)


def optional_money(money: Money | None) -> MoneyView | None:
    return None if money is None else money_view(money)


def instrument_view(instrument: Instrument) -> InstrumentView:
    return InstrumentView(
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        currency=instrument.currency.code,
        asset_class=instrument.asset_class.value,
        isin=instrument.isin,
        name=instrument.name,
    )


def account_view(account: StoredAccount) -> AccountView:
    return AccountView(
        id=account.id,
        source=account.source.value,
        provider=account.provider,
        connection_id=account.connection_id,
        provider_account_id=account.provider_account_id,
        name=account.name,
        type=account.type.value,
        currency=account.base_currency.code,
        masked_number=account.masked_number,
        created_at=account.created_at,
        updated_at=account.updated_at,
        closed_at=account.closed_at,
        last_synced_at=account.last_synced_at,
        sync_status=account.sync_status.value,
    )


def _holding_view(holding: StoredHolding) -> HoldingView:
    return HoldingView(
        instrument=instrument_view(holding.instrument),
        quantity=decimal_string(holding.quantity),
        average_cost=optional_money(holding.average_cost),
        last_price=optional_money(holding.last_price),
        market_value=optional_money(holding.market_value),
        as_of=holding.as_of,
    )


def _position_view(position: StoredPosition) -> PositionView:
    return PositionView(
        instrument=instrument_view(position.instrument),
        quantity=decimal_string(position.quantity),
        product=position.product,
        average_price=optional_money(position.average_price),
        last_price=optional_money(position.last_price),
        market_value=optional_money(position.market_value),
        realised_pnl=optional_money(position.realised_pnl),
        as_of=position.as_of,
    )


def _summary(account: StoredAccount) -> AccountSummary:
    return AccountSummary(
        id=account.id,
        name=account.name,
        source=account.source.value,
        last_synced_at=account.last_synced_at,
        sync_status=account.sync_status.value,
    )


def _total_view(total: CurrencyTotal) -> CurrencyTotalView:
    return CurrencyTotalView(
        currency=total.total.currency.code,
        cash=decimal_string(total.total.cash.amount),
        buying_power=decimal_string(total.total.buying_power.amount),
        margin_used=decimal_string(total.total.margin_used.amount),
        accounts=[_summary(account) for account in total.accounts],
        oldest_synced_at=total.oldest_synced_at,
    )


class AccountsController(Controller):
    path = "/"
    tags = ("accounts",)

    @get("/accounts", summary="This user's accounts, synced and manual")
    @inject
    async def list_accounts(
        self,
        request: Request[Any, Any, Any],
        accounts: FromDishka[ListAccounts],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> AccountPage:
        page = await accounts(principal(request).subject, cursor=cursor, limit=limit)
        return AccountPage(
            items=[account_view(a) for a in page.items], next_cursor=page.next_cursor
        )

    @post("/accounts", status_code=HTTP_201_CREATED, summary="Add a manual account")
    @inject
    async def create_manual(
        self,
        data: JSONBody[ManualAccountCreate],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualAccounts],
    ) -> AccountView:
        account = await manual.create(
            principal(request).subject,
            caller_of(request),
            name=data.name,
            account_type=AccountType(data.type),
            base_currency=Currency.issued(data.currency),
            last4=data.last4,
        )
        return account_view(account)

    @get("/accounts/{account_id:uuid}", summary="One account")
    @inject
    async def get_account(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        accounts: FromDishka[GetAccount],
    ) -> AccountView:
        return account_view(await accounts(principal(request).subject, account_id))

    @patch(
        "/accounts/{account_id:uuid}",
        summary="Edit a manual account",
        responses=problems(
            {
                409: "`synced_account_read_only`, `account_currency_in_use` (the currency of an "
                "account with transactions)"
            }
        ),
    )
    @inject
    async def update_manual(
        self,
        account_id: FromPath[UUID],
        data: JSONBody[ManualAccountUpdate],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualAccounts],
    ) -> AccountView:
        account = await manual.update(
            principal(request).subject,
            account_id,
            caller_of(request),
            name=given(data.name),
            account_type=None if (kind := given(data.type)) is None else AccountType(kind),
            base_currency=None if (code := given(data.currency)) is None else Currency.issued(code),
            last4=given(data.last4),
        )
        return account_view(account)

    @delete(
        "/accounts/{account_id:uuid}",
        status_code=204,
        summary="Delete a manual account",
        responses=problems({409: "`synced_account_read_only`: a synced account stays"}),
    )
    @inject
    async def delete_manual(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manual: FromDishka[ManualAccounts],
    ) -> None:
        """Its transactions go with it (the change feed reports them removed)."""
        await manual.delete(principal(request).subject, account_id, caller_of(request))

    @get("/accounts/{account_id:uuid}/balances", summary="An account's latest balance")
    @inject
    async def balances(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        balances: FromDishka[GetBalances],
    ) -> BalanceView:
        found = await balances(principal(request).subject, account_id)
        account, balance = found.account, found.balance
        return BalanceView(
            account_id=account.id,
            currency=(account.base_currency if balance is None else balance.cash.currency).code,
            cash=None if balance is None else decimal_string(balance.cash.amount),
            buying_power=None if balance is None else decimal_string(balance.buying_power.amount),
            margin_used=None if balance is None else decimal_string(balance.margin_used.amount),
            as_of=None if balance is None else balance.as_of,
            synced_at=None if balance is None else balance.synced_at,
            last_synced_at=account.last_synced_at,
            sync_status=account.sync_status.value,
        )

    @get("/accounts/{account_id:uuid}/holdings", summary="An account's holdings")
    @inject
    async def holdings(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        holdings: FromDishka[ListHoldings],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> HoldingPage:
        page = await holdings(principal(request).subject, account_id, cursor=cursor, limit=limit)
        return HoldingPage(
            items=[_holding_view(h) for h in page.items], next_cursor=page.next_cursor
        )

    @get("/accounts/{account_id:uuid}/positions", summary="An account's open positions")
    @inject
    async def positions(
        self,
        account_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        positions: FromDishka[ListPositions],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PositionPage:
        page = await positions(principal(request).subject, account_id, cursor=cursor, limit=limit)
        return PositionPage(
            items=[_position_view(p) for p in page.items], next_cursor=page.next_cursor
        )

    @get("/balances", summary="Balances summed per currency across accounts")
    @inject
    async def totals(
        self, request: Request[Any, Any, Any], totals: FromDishka[BalanceTotals]
    ) -> BalanceTotalsView:
        """One total per currency (never converted), each naming the accounts it sums and the
        oldest ``last_synced_at`` among them. Closed accounts are left out."""
        found = await totals(principal(request).subject)
        return BalanceTotalsView(totals=[_total_view(total) for total in found])
