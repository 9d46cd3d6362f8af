"""The Zerodha Kite plugin: request-token login, daily 06:00 IST reset, logout; refresh only
for apps Zerodha approved (``ProviderConfig.refresh_enabled``)."""

from __future__ import annotations

from datetime import time
from types import MappingProxyType

from dashcore.domain.connections import DailyReset, LoginStyle
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp, RateLimit
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox.credentials import KITE_API_KEY, KITE_API_SECRET
from dashcore_brokers.zerodha.auth import KiteClient
from dashcore_brokers.zerodha.gateway import KiteGateway

__all__ = ["KITE_EXPIRY", "KITE_RATE_LIMIT", "KitePlugin"]

KITE_EXPIRY = DailyReset(time(6, 0))
KITE_RATE_LIMIT = RateLimit(per_second=10, burst=10)
"""Kite's limit for everything but quotes, history and orders: 10 requests a second."""


class KitePlugin(BrokerPlugin):
    key = "zerodha"
    name = "Zerodha Kite"
    login_style = LoginStyle.REQUEST_TOKEN
    expiry = KITE_EXPIRY
    api_url = "https://api.kite.trade"
    login_url = "https://kite.zerodha.com"
    rate_limit = KITE_RATE_LIMIT
    headers = MappingProxyType({"Accept": "application/json", "X-Kite-Version": "3"})
    sandbox_credentials = (KITE_API_KEY, KITE_API_SECRET)

    def refreshable(self, config: ProviderConfig | None) -> bool:
        return config is not None and config.refresh_enabled

    def revocable(self, config: ProviderConfig | None) -> bool:
        return True

    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        client = KiteClient(config, http, clock)
        return BrokerAuth(
            self.descriptor(True, config),
            http,
            client,
            request_token=client,
            refresher=client if config.refresh_enabled else None,
            revoker=client,
            gateway=KiteGateway(config, http),
        )
