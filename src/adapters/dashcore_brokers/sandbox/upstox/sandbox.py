"""The Upstox simulator: OAuth 2.0 authorization code (no refresh), logout, the profile, and
funds, holdings, positions, trade history, orders, trades and last prices over an exchange
engine (``exchange``: by default the seeded Indian market, whose ``sandbox-in`` account is the
sandbox user's).

Wire facts (``reference/brokers.md`` §3.2-3.3, §3.7): the token call is form-encoded with the
secret in the body and answers a flat object; everything else is
``{"status": "success", "data": …}`` or ``{"status": "error", "errors": [{"errorCode", …}]}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.apps import AppRegistry, RegisteredApp, SandboxUser
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.credentials import (
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID, Exchange, india_market
from dashcore_brokers.sandbox.settings import ConsentMode
from dashcore_brokers.sandbox.upstox.login import login_router
from dashcore_brokers.sandbox.upstox.orders import orders_router
from dashcore_brokers.sandbox.upstox.portfolio import portfolio_router
from dashcore_brokers.sandbox.upstox.quotes import quotes_router
from dashcore_brokers.sandbox.upstox.user import user_router
from dashcore_brokers.sandbox.upstox.wire import upstox_error, upstox_error_code

__all__ = ["UPSTOX_USER", "UpstoxSandbox"]

UPSTOX_USER = SandboxUser(
    user_id="SBX001",
    user_name="Sandbox Upstox Trader",
    short_name="Sandbox",
    email="trader@upstox.sandbox.invalid",
)


class UpstoxSandbox(BrokerSandbox):
    """Upstox's login (``/v2/login/*``), logout (``/v2/logout``), user (``/v2/user/*``),
    portfolio (``/v2/portfolio/*``, ``/v2/charges/historical-trades``), orders (``/v3/order/*``
    writes, ``/v2/order/*`` reads) and quotes (``/v2|v3/market-quote/ltp``)."""

    name = "upstox"

    def __init__(
        self,
        clock: Clock,
        *,
        consent: ConsentMode = ConsentMode.APPROVE,
        redirect_uri: str | None = None,
        sleep: Sleep | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.exchange = exchange or india_market(clock)
        self.account_id = INDIA_ACCOUNT_ID
        self.apps = AppRegistry(
            RegisteredApp(
                UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET, redirect_uri or UPSTOX_REDIRECT_URI
            )
        )
        self.user = UPSTOX_USER
        super().__init__(clock, consent=consent, sleep=sleep)

    def routers(self) -> Sequence[Router]:
        return [
            login_router(self),
            user_router(self),
            portfolio_router(self),
            *orders_router(self),
            quotes_router(self),
        ]

    def error_body(self, status: int, message: str, path: str) -> object:
        return upstox_error(upstox_error_code(status), message)
