"""The Groww simulator: access-token minting (key + checksum, or TOTP) and the user profile.

Groww has no browser redirect (``reference/brokers.md`` §4.2): an API key approved for the day
mints a token with ``checksum = sha256(api_secret + epoch_seconds)``, or a TOTP key mints one
with a 6-digit code. Consent mode ``DENY`` stands for "the user has not approved the key today".
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.apps import SandboxUser
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
)
from dashcore_brokers.sandbox.exchange import Exchange
from dashcore_brokers.sandbox.groww.keys import GrowwKey, KeyType
from dashcore_brokers.sandbox.groww.orders import order_router
from dashcore_brokers.sandbox.groww.portfolio import live_data_router, portfolio_router
from dashcore_brokers.sandbox.groww.routes import token_router, user_router
from dashcore_brokers.sandbox.groww.wire import groww_error, groww_error_code
from dashcore_brokers.sandbox.settings import ConsentMode

__all__ = ["GROWW_USER", "GrowwSandbox"]

GROWW_USER = SandboxUser(
    user_id="sandbox-groww-user-0001",
    user_name="Sandbox Groww Investor",
    short_name="Sandbox",
    email="investor@groww.sandbox.invalid",
)


class GrowwSandbox(BrokerSandbox):
    """Groww's token mint (``/v1/token/api/access``), user (``/v1/user/detail``), portfolio,
    order and live-data routes, over the exchange engine's first account."""

    name = "groww"

    def __init__(
        self,
        clock: Clock,
        *,
        consent: ConsentMode = ConsentMode.APPROVE,
        sleep: Sleep | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.keys = {
            GROWW_API_KEY: GrowwKey(GROWW_API_KEY, KeyType.APPROVAL, GROWW_API_SECRET),
            GROWW_TOTP_TOKEN: GrowwKey(GROWW_TOTP_TOKEN, KeyType.TOTP, GROWW_TOTP_SEED),
        }
        self.user = GROWW_USER
        super().__init__(clock, consent=consent, sleep=sleep, exchange=exchange)

    def routers(self) -> Sequence[Router]:
        return [
            token_router(self),
            user_router(self),
            portfolio_router(self),
            order_router(self),
            live_data_router(self),
        ]

    def error_body(self, status: int, message: str, path: str) -> object:
        return groww_error(groww_error_code(status), message)
