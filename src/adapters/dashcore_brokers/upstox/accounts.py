"""Upstox's account side: the one account of a login, its equity funds, holdings, positions and
its trades as the ledger (``reference/brokers.md`` §3.4).

Business rules:
- the account is the user (``/v2/user/profile``): its id is the Upstox user id, shown masked;
  a user enabled for ``MTF`` (margin trading) has a margin account, else a cash one; INR;
- the balance is the equity segment of ``/v2/user/get-funds-and-margin?segment=SEC``: buying
  power is ``available_margin``, margin used is ``used_margin``, cash is their sum;
- the ledger is ``/v2/charges/historical-trades`` (not in brokers.md: fields from the official
  SDK models and Upstox's trade-history page; the ``metaData.page`` paging block is
  UNCONFIRMED). Upstox keeps no cash ledger dashcore can read (deposits, dividends and charges
  are not served), so transactions are buys and sells only. The window is the current and two
  previous Indian financial years (1 April) up to today (Upstox serves "the last three
  financial years": whether that includes the current one is UNCONFIRMED), fixed in the cursor
  so that re-reading a page gives the same page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dashcore.domain.capabilities import Operation
from dashcore.domain.connections import IST
from dashcore.domain.errors import ProviderUnavailable
from dashcore.domain.money import Money
from dashcore.domain.portfolio import (
    Account,
    AccountType,
    Balance,
    Holding,
    Page,
    Position,
    Transaction,
    mask_account_number,
)
from dashcore.ports.brokers import AccountReader
from dashcore.ports.clock import Clock
from dashcore_brokers.paging import bad_cursor
from dashcore_brokers.upstox.calls import (
    PAGE_SIZE,
    UpstoxCalls,
    decode_cursor,
    encode_cursor,
    page_of,
)
from dashcore_brokers.upstox.mapping import (
    INR,
    holdings_from,
    positions_from,
    transactions_from,
)
from dashcore_brokers.upstox.wire import (
    FUNDS,
    HOLDINGS,
    POSITIONS,
    PROFILE,
    TRADE_HISTORY,
    HoldingRow,
    PositionRow,
)

__all__ = [
    "FUNDS_PATH",
    "HOLDINGS_PATH",
    "POSITIONS_PATH",
    "PROFILE_PATH",
    "TRADE_HISTORY_PATH",
    "UpstoxAccountReader",
]

PROFILE_PATH = "/v2/user/profile"
FUNDS_PATH = "/v2/user/get-funds-and-margin"
HOLDINGS_PATH = "/v2/portfolio/long-term-holdings"
POSITIONS_PATH = "/v2/portfolio/short-term-positions"
TRADE_HISTORY_PATH = "/v2/charges/historical-trades"
_FINANCIAL_YEARS = 3


def _holding_key(row: HoldingRow) -> tuple[str, ...]:
    return (row.exchange, row.trading_symbol)


def _position_key(row: PositionRow) -> tuple[str, ...]:
    return (row.exchange, row.trading_symbol, row.product)


def _window(today: date) -> tuple[str, str]:
    """From 1 April of the oldest of the last three Indian financial years, to today."""
    first = today.year - (1 if today.month < 4 else 0) - (_FINANCIAL_YEARS - 1)
    return date(first, 4, 1).isoformat(), today.isoformat()


class UpstoxAccountReader(AccountReader):
    def __init__(self, calls: UpstoxCalls, clock: Clock) -> None:
        self._calls = calls
        self._clock = clock

    async def accounts(self) -> Sequence[Account]:
        self._calls.check(Operation.ACCOUNTS)
        profile = (await self._calls.read(PROFILE, PROFILE_PATH, "accounts")).data
        kind = AccountType.MARGIN if "MTF" in profile.products else AccountType.CASH
        return [
            Account(
                profile.user_id,
                mask_account_number(profile.user_id),
                kind,
                INR.code,
                name=profile.user_name or None,
            )
        ]

    async def balance(self, account_id: str) -> Balance:
        self._calls.check(Operation.BALANCES, account_id)
        funds = await self._calls.read(FUNDS, FUNDS_PATH, "balance", {"segment": "SEC"})
        equity = funds.data.equity
        if equity is None:
            raise ProviderUnavailable("Upstox sent no equity funds.", code="provider_bad_response")
        return Balance(
            account_id,
            cash=Money(equity.available_margin + equity.used_margin, INR),
            buying_power=Money(equity.available_margin, INR),
            margin_used=Money(equity.used_margin, INR),
            as_of=self._clock.now(),
        )

    async def holdings(self, account_id: str, *, cursor: str | None = None) -> Page[Holding]:
        self._calls.check(Operation.HOLDINGS, account_id)
        rows = (await self._calls.read(HOLDINGS, HOLDINGS_PATH, "holdings")).data
        return page_of(rows, cursor, _holding_key, lambda part: holdings_from(part, account_id))

    async def positions(self, account_id: str, *, cursor: str | None = None) -> Page[Position]:
        self._calls.check(Operation.POSITIONS, account_id)
        rows = (await self._calls.read(POSITIONS, POSITIONS_PATH, "positions")).data
        return page_of(rows, cursor, _position_key, lambda part: positions_from(part, account_id))

    async def transactions(
        self, account_id: str, *, cursor: str | None = None
    ) -> Page[Transaction]:
        self._calls.check(Operation.TRANSACTIONS, account_id)
        if cursor is None:
            start, end = _window(self._clock.now().astimezone(IST).date())
            number = 1
        else:
            start, end, page = decode_cursor(cursor, "t", 3)
            if not page.isdigit():
                bad_cursor()
            number = int(page)
        answer = await self._calls.read(
            TRADE_HISTORY,
            TRADE_HISTORY_PATH,
            "transactions",
            {
                "start_date": start,
                "end_date": end,
                "page_number": str(number),
                "page_size": str(PAGE_SIZE),
            },
        )
        info = answer.meta.page if answer.meta is not None else None
        more = number < info.total_pages if info is not None else len(answer.data) >= PAGE_SIZE
        return Page(
            tuple(transactions_from(answer.data, account_id)),
            encode_cursor("t", start, end, number + 1) if more else None,
        )
