"""The Groww plugin: key or TOTP token minting, daily 06:00 IST reset, no refresh, no revoke.
Users bring their own API keys, so no app credentials are configured."""

from __future__ import annotations

from datetime import time
from types import MappingProxyType

from dashcore.domain.connections import DailyReset, LoginStyle
from dashcore.ports.clock import Clock
from dashcore_brokers.groww.auth import GrowwClient
from dashcore_brokers.groww.gateway import GrowwGateway
from dashcore_brokers.http import ProviderHttp, RateLimit
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig

__all__ = ["GROWW_EXPIRY", "GROWW_RATE_LIMIT", "GrowwPlugin"]

GROWW_EXPIRY = DailyReset(time(6, 0))
GROWW_RATE_LIMIT = RateLimit(per_second=20, burst=20)
"""Groww's "non-trading" bucket (status, lists, portfolio, margins): 20 requests a second."""


class GrowwPlugin(BrokerPlugin):
    key = "groww"
    name = "Groww"
    login_style = LoginStyle.API_KEY
    expiry = GROWW_EXPIRY
    api_url = "https://api.groww.in"
    login_url = "https://api.groww.in"
    rate_limit = GROWW_RATE_LIMIT
    headers = MappingProxyType({"Accept": "application/json", "X-API-VERSION": "1.0"})
    needs_app_credentials = False

    def refreshable(self, config: ProviderConfig | None) -> bool:
        return False

    def revocable(self, config: ProviderConfig | None) -> bool:
        return False

    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        client = GrowwClient(http, clock)
        return BrokerAuth(
            self.descriptor(True, config),
            http,
            client,
            key_login=client,
            gateway=GrowwGateway(http),
        )
