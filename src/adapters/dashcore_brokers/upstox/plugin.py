"""The Upstox plugin: OAuth 2.0 code login, daily 03:30 IST reset, logout, no refresh, and the
gateway (accounts, orders, quotes). Upstox's official rate table was not retrieved
(brokers.md §3.7), so the default rate applies. Order writes of the real Upstox go to its
order host (brokers.md §3.1); a sandbox or any other configured base URL serves them itself."""

from __future__ import annotations

from datetime import time
from types import MappingProxyType

from dashcore.domain.connections import DailyReset, LoginStyle
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox.credentials import UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET
from dashcore_brokers.upstox.auth import UpstoxClient
from dashcore_brokers.upstox.gateway import UpstoxGateway

__all__ = ["UPSTOX_EXPIRY", "UpstoxPlugin"]

UPSTOX_EXPIRY = DailyReset(time(3, 30))


class UpstoxPlugin(BrokerPlugin):
    key = "upstox"
    name = "Upstox"
    login_style = LoginStyle.OAUTH2_CODE
    expiry = UPSTOX_EXPIRY
    api_url = "https://api.upstox.com"
    order_url = "https://api-hft.upstox.com"
    login_url = "https://api.upstox.com"
    headers = MappingProxyType({"Accept": "application/json", "Api-Version": "2.0"})
    sandbox_credentials = (UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET)

    def refreshable(self, config: ProviderConfig | None) -> bool:
        return False

    def revocable(self, config: ProviderConfig | None) -> bool:
        return True

    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        client = UpstoxClient(config, http, clock)
        order_base = self.order_url if config.api_base_url == self.api_url else ""
        return BrokerAuth(
            self.descriptor(True, config),
            http,
            client,
            oauth=client,
            revoker=client,
            gateway=UpstoxGateway(http, clock, order_base_url=order_base),
        )
