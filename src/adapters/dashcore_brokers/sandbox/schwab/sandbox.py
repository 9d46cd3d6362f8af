"""The Schwab simulator: OAuth 2.0 authorization-code login and the Trader API.

Wire facts (``reference/brokers.md`` §1.2-1.3, §1.7): OAuth errors are
``{"error", "error_description"}``; Trader API errors are ``{"message", "errors": [...]}``;
bodies carry no envelope; every Trader API response has a ``Schwab-Client-CorrelId`` header.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.apps import AppRegistry, RegisteredApp, SandboxUser
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.credentials import (
    SCHWAB_APP_KEY,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
)
from dashcore_brokers.sandbox.exchange import Exchange, us_market
from dashcore_brokers.sandbox.schwab.accounts import accounts_router
from dashcore_brokers.sandbox.schwab.marketdata import marketdata_router
from dashcore_brokers.sandbox.schwab.oauth import oauth_router
from dashcore_brokers.sandbox.schwab.orders import orders_router
from dashcore_brokers.sandbox.schwab.trader import trader_router
from dashcore_brokers.sandbox.settings import ConsentMode

__all__ = ["SCHWAB_USER", "SchwabSandbox"]

SCHWAB_USER = SandboxUser(
    user_id="sandbox-schwab-customer-0001",
    user_name="Sandbox Schwab Investor",
    short_name="Sandbox",
    email="investor@schwab.sandbox.invalid",
)

_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    429: "temporarily_unavailable",
    503: "temporarily_unavailable",
    504: "temporarily_unavailable",
}


class SchwabSandbox(BrokerSandbox):
    """Schwab's OAuth endpoints (``/v1/oauth/*``) and Trader API (``/trader/v1/*``), over an
    exchange engine (``exchange``: by default the seeded US market)."""

    name = "schwab"

    def __init__(
        self,
        clock: Clock,
        *,
        consent: ConsentMode = ConsentMode.APPROVE,
        redirect_uri: str | None = None,
        sleep: Sleep | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.exchange = exchange or us_market(clock)
        self.apps = AppRegistry(
            RegisteredApp(SCHWAB_APP_KEY, SCHWAB_APP_SECRET, redirect_uri or SCHWAB_REDIRECT_URI)
        )
        self.user = SCHWAB_USER
        super().__init__(clock, consent=consent, sleep=sleep)

    def routers(self) -> Sequence[Router]:
        return [
            oauth_router(self),
            trader_router(self),
            accounts_router(self),
            orders_router(self),
            marketdata_router(self),
        ]

    def error_body(self, status: int, message: str, path: str) -> object:
        if "/oauth/" in path:
            error = _OAUTH_ERRORS.get(status, "server_error")
            return {"error": error, "error_description": message}
        return {"message": message, "errors": [message]}
