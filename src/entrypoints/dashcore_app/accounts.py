"""The account, transaction and sync-run read use cases in the container (REQUEST scope: one
unit of work each). The repositories they take come from the aggregated data store's providers
(``dashcore_app.aggregation``), memory or SQL as the settings choose."""

from __future__ import annotations

from dishka import Provider, Scope, provide

from dashcore.application.accounts import (
    BalanceTotals,
    GetAccount,
    GetBalances,
    ListAccounts,
    ListHoldings,
    ListPositions,
    ManualAccounts,
)
from dashcore.application.sync_runs import GetSyncRun
from dashcore.application.transactions import (
    ListTransactions,
    ManualTransactions,
    TransactionChangeFeed,
)

__all__ = ["AccountsProvider"]


class AccountsProvider(Provider):
    scope = Scope.REQUEST

    list_accounts = provide(ListAccounts)
    get_account = provide(GetAccount)
    get_balances = provide(GetBalances)
    balance_totals = provide(BalanceTotals)
    list_holdings = provide(ListHoldings)
    list_positions = provide(ListPositions)
    manual_accounts = provide(ManualAccounts)
    list_transactions = provide(ListTransactions)
    change_feed = provide(TransactionChangeFeed)
    manual_transactions = provide(ManualTransactions)
    get_sync_run = provide(GetSyncRun)
