"""The Upstox plugin: OAuth 2.0 code login, daily 03:30 IST reset, logout, no refresh.
Upstox's official rate table was not retrieved (brokers.md §3.7), so the default rate applies."""

from __future__ import annotations

from datetime import time
from types import MappingProxyType

from dashcore.domain.connections import DailyReset, LoginStyle
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox.credentials import UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET
from dashcore_brokers.upstox.auth import UpstoxClient

__all__ = ["UPSTOX_EXPIRY", "UpstoxPlugin"]

UPSTOX_EXPIRY = DailyReset(time(3, 30))


class UpstoxPlugin(BrokerPlugin):
    key = "upstox"
    name = "Upstox"
    login_style = LoginStyle.OAUTH2_CODE
    expiry = UPSTOX_EXPIRY
    api_url = "https://api.upstox.com"
    login_url = "https://api.upstox.com"
    headers = MappingProxyType({"Accept": "application/json", "Api-Version": "2.0"})
    sandbox_credentials = (UPSTOX_CLIENT_ID, UPSTOX_CLIENT_SECRET)

    def refreshable(self, config: ProviderConfig | None) -> bool:
        return False

    def revocable(self, config: ProviderConfig | None) -> bool:
        return True

    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        client = UpstoxClient(config, http, clock)
        return BrokerAuth(self.descriptor(True, config), http, client, oauth=client, revoker=client)
