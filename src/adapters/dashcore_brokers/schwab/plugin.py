"""The Schwab plugin: OAuth 2.0 code login, refresh for 7 days from consent, no revoke; the
Trader API gateway (accounts, orders, quotes) on the same HTTP client."""

from __future__ import annotations

from datetime import timedelta

from dashcore.domain.connections import FixedLifetimes, LoginStyle
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp
from dashcore_brokers.plugin import BrokerAuth, BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox.credentials import SCHWAB_APP_KEY, SCHWAB_APP_SECRET
from dashcore_brokers.schwab.auth import SchwabClient
from dashcore_brokers.schwab.gateway import SchwabGateway

__all__ = ["SCHWAB_EXPIRY", "SchwabPlugin"]

SCHWAB_EXPIRY = FixedLifetimes(access=timedelta(minutes=30), refresh=timedelta(days=7))


class SchwabPlugin(BrokerPlugin):
    """Charles Schwab. Schwab publishes no read quota (only an order throttle of up to
    120/min per account), so the default rate applies."""

    key = "schwab"
    name = "Charles Schwab"
    login_style = LoginStyle.OAUTH2_CODE
    expiry = SCHWAB_EXPIRY
    api_url = "https://api.schwabapi.com"
    login_url = "https://api.schwabapi.com"
    sandbox_credentials = (SCHWAB_APP_KEY, SCHWAB_APP_SECRET)

    def refreshable(self, config: ProviderConfig | None) -> bool:
        return True

    def revocable(self, config: ProviderConfig | None) -> bool:
        return False

    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        client = SchwabClient(config, http, clock)
        return BrokerAuth(
            self.descriptor(True, config),
            http,
            client,
            oauth=client,
            refresher=client,
            gateway=SchwabGateway(http, clock),
        )
