"""Schwab's account routes over the exchange engine (``reference/brokers.md`` §1.4-1.5):

- ``GET /trader/v1/accounts/accountNumbers`` → ``[{accountNumber, hashValue}]``;
- ``GET /trader/v1/accounts[?fields=positions]`` and ``/accounts/{hash}[?fields=positions]``
  → ``{"securitiesAccount": {...}}`` (balances always, positions only when asked for);
- ``GET /trader/v1/accounts/{hash}/transactions?startDate=&endDate=&types=[&symbol=]``: all
  three parameters required (400 otherwise), ISO-8601 times, a range of at most a year, at most
  3,000 rows, ``types`` a comma-separated list of transaction types.

Every route checks the bearer token (401 ``{"message", "errors"}``); an unknown hash is 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from dashcore_brokers.sandbox._wire import WireError
from dashcore_brokers.sandbox.exchange import SimAccount
from dashcore_brokers.sandbox.schwab.render import (
    account_hash,
    parse_time,
    schwab_json,
    securities_account,
    transaction_body,
    transaction_type,
)
from dashcore_brokers.sandbox.schwab.trader import authorized, correl_headers

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.schwab.sandbox import SchwabSandbox

__all__ = ["MAX_TRANSACTIONS", "accounts_router", "find_account", "schwab_error"]

MAX_TRANSACTIONS = 3000
_MAX_RANGE = timedelta(days=366)


def schwab_error(status: int, message: str, *details: str) -> WireError:
    """Schwab's ``ServiceError`` body: ``{"message", "errors": [...]}``."""
    body = {"message": message, "errors": list(details) or [message]}
    return WireError(schwab_json(status, body, correl_headers()))


def find_account(sandbox: SchwabSandbox, account_hash_value: str) -> SimAccount:
    """The account behind a hash, or Schwab's 404."""
    for account in sandbox.exchange.accounts():
        if account_hash(account.number) == account_hash_value:
            return account
    raise schwab_error(404, "Account not found", "No account matches the given hash")


def _wants_positions(request: Request[Any, Any, Any]) -> bool:
    fields = request.query_params.get("fields") or ""
    return "positions" in fields.split(",")


def accounts_router(sandbox: SchwabSandbox) -> Router:
    """The account, balance, position and transaction routes of the Schwab sandbox."""

    def account_view(account: SimAccount, with_positions: bool) -> dict[str, Any]:
        return securities_account(
            account, sandbox.exchange.last_price, with_positions=with_positions
        )

    @get("/accounts/accountNumbers")
    async def account_numbers(request: Request[Any, Any, Any]) -> Response[bytes]:
        authorized(request, sandbox)
        body = [
            {"accountNumber": account.number, "hashValue": account_hash(account.number)}
            for account in sandbox.exchange.accounts()
        ]
        return schwab_json(200, body, correl_headers())

    @get("/accounts")
    async def accounts(request: Request[Any, Any, Any]) -> Response[bytes]:
        authorized(request, sandbox)
        positions = _wants_positions(request)
        body = [account_view(account, positions) for account in sandbox.exchange.accounts()]
        return schwab_json(200, body, correl_headers())

    @get("/accounts/{account_hash_value:str}")
    async def account(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str]
    ) -> Response[bytes]:
        authorized(request, sandbox)
        found = find_account(sandbox, account_hash_value)
        return schwab_json(200, account_view(found, _wants_positions(request)), correl_headers())

    @get("/accounts/{account_hash_value:str}/transactions")
    async def transactions(
        request: Request[Any, Any, Any], account_hash_value: FromPath[str]
    ) -> Response[bytes]:
        authorized(request, sandbox)
        found = find_account(sandbox, account_hash_value)
        query = request.query_params
        start = parse_time(query.get("startDate") or "")
        end = parse_time(query.get("endDate") or "")
        types = {t for t in (query.get("types") or "").split(",") if t}
        if start is None or end is None or not types:
            raise schwab_error(
                400,
                "Bad request",
                "startDate, endDate and types are required; dates in ISO-8601",
            )
        if end < start or end - start > _MAX_RANGE:
            raise schwab_error(400, "Bad request", "The date range must be within one year")
        symbol = query.get("symbol")
        rows = [
            transaction_body(entry, found)
            for entry in found.transactions
            if start <= entry.at <= end
            and transaction_type(entry) in types
            and (symbol is None or (entry.instrument and entry.instrument.symbol == symbol))
        ]
        return schwab_json(200, rows[-MAX_TRANSACTIONS:][::-1], correl_headers())

    return Router(
        path="/trader/v1",
        route_handlers=[account_numbers, accounts, account, transactions],
    )
