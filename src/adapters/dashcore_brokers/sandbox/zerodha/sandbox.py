"""The Kite Connect simulator: browser login with a request token, checksum session exchange,
session refresh (approved apps only), logout, the user profile, and — over the exchange engine
(``sandbox.exchange``, seeded with the Indian market) — funds, holdings, positions, orders,
trades and last prices.

Wire facts (``reference/brokers.md`` §2.2-2.3, §2.7): every API call carries
``X-Kite-Version: 3``; bodies are form-encoded; answers are ``{"status": "success", "data": …}``
or ``{"status": "error", "message", "data": null, "error_type"}``. The login page
(``kite.zerodha.com/connect/login``) and the API (``api.kite.trade``) share one sandbox app.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.apps import AppRegistry, RegisteredApp, SandboxUser
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.credentials import KITE_API_KEY, KITE_API_SECRET, KITE_REDIRECT_URI
from dashcore_brokers.sandbox.exchange import Exchange
from dashcore_brokers.sandbox.settings import ConsentMode
from dashcore_brokers.sandbox.zerodha.orders import orders_router
from dashcore_brokers.sandbox.zerodha.portfolio import margins_router, portfolio_router
from dashcore_brokers.sandbox.zerodha.quotes import quotes_router
from dashcore_brokers.sandbox.zerodha.session import session_router
from dashcore_brokers.sandbox.zerodha.user import user_router
from dashcore_brokers.sandbox.zerodha.wire import kite_error, kite_error_type

__all__ = ["KITE_USER", "KiteSandbox"]

KITE_USER = SandboxUser(
    user_id="SB0001",
    user_name="Sandbox Kite Trader",
    short_name="Sandbox",
    email="trader@kite.sandbox.invalid",
)


class KiteSandbox(BrokerSandbox):
    """Kite's login page (``/connect/login``) and API (``/session/*``, ``/user/*``,
    ``/portfolio/*``, ``/orders*``, ``/trades``, ``/quote/ltp``).

    ``exchange`` is the market the API trades on (default: a fresh Indian market, whose account
    numbered ``SB0001`` is the sandbox user's). ``status_overrides`` maps a Kite order id to the
    status spelling to show instead of the engine's (any of Kite's transient states, or an
    undocumented one to test a client's refusal of it).
    """

    name = "zerodha"

    def __init__(
        self,
        clock: Clock,
        *,
        consent: ConsentMode = ConsentMode.APPROVE,
        redirect_uri: str | None = None,
        sleep: Sleep | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.apps = AppRegistry(
            RegisteredApp(KITE_API_KEY, KITE_API_SECRET, redirect_uri or KITE_REDIRECT_URI)
        )
        self.user = KITE_USER
        self.status_overrides: dict[str, str] = {}
        self.modified_orders: set[str] = set()
        super().__init__(clock, consent=consent, sleep=sleep, exchange=exchange)

    def routers(self) -> Sequence[Router]:
        return [
            session_router(self),
            user_router(self),
            margins_router(self),
            portfolio_router(self),
            orders_router(self),
            quotes_router(self),
        ]

    def error_body(self, status: int, message: str, path: str) -> object:
        return kite_error(message, kite_error_type(status))
