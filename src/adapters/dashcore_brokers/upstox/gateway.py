"""The Upstox broker gateway: what Upstox can do, and sessions on one login's token.

Capabilities (``reference/brokers.md`` §3.5): market, limit, stop (``SL-M``) and stop-limit
(``SL``) orders; delivery (``D``), intraday (``I``) and margin (``MTF``) products; ``DAY`` and
``IOC`` validity (no good-till-cancelled: Upstox's GTT orders are a separate API); the client
reference is Upstox's echoed ``tag``. Upstox can POST order updates to a webhook, but unsigned
(§3.8): dashcore does not take them, so ``push_updates`` is false and orders are read back.

Order writes go to Upstox's order host (``api-hft``) when the gateway talks to the real
Upstox, and to the configured base URL (a sandbox serves both) otherwise.
"""

from __future__ import annotations

from dashcore.domain.capabilities import CapabilityMap, ClientReference, Operation
from dashcore.domain.connections import IST, ProviderCredentials
from dashcore.domain.orders import OrderType, Product, Validity
from dashcore.ports.brokers import BrokerGateway, BrokerSession, PayloadRecorder
from dashcore.ports.clock import Clock
from dashcore_brokers.http import ProviderHttp
from dashcore_brokers.upstox.accounts import UpstoxAccountReader
from dashcore_brokers.upstox.calls import UpstoxCalls
from dashcore_brokers.upstox.orders import UpstoxOrderGateway
from dashcore_brokers.upstox.quotes import UpstoxQuoteReader

__all__ = ["UPSTOX_CAPABILITIES", "UpstoxGateway", "UpstoxSession"]

UPSTOX_CAPABILITIES = CapabilityMap(
    operations=frozenset(Operation),
    order_types=frozenset(OrderType),
    products=frozenset({Product.DELIVERY, Product.INTRADAY, Product.MARGIN}),
    validities=frozenset({Validity.DAY, Validity.IOC}),
    client_reference=ClientReference.ECHOED,
    push_updates=False,
    day_order_book=IST,  # GET /v2/order/retrieve-all: the day's order book (brokers.md)
)


class UpstoxSession(BrokerSession):
    """One login's accounts, orders and quotes."""

    def __init__(self, calls: UpstoxCalls, clock: Clock) -> None:
        self._accounts = UpstoxAccountReader(calls, clock)
        self._orders = UpstoxOrderGateway(calls, clock)
        self._quotes = UpstoxQuoteReader(calls)

    @property
    def accounts(self) -> UpstoxAccountReader:
        return self._accounts

    @property
    def orders(self) -> UpstoxOrderGateway:
        return self._orders

    @property
    def quotes(self) -> UpstoxQuoteReader:
        return self._quotes


class UpstoxGateway(BrokerGateway):
    """Upstox's data and trading side on the provider's HTTP client. ``order_base_url`` is the
    order host (empty: the client's own base URL)."""

    def __init__(
        self,
        http: ProviderHttp,
        clock: Clock,
        *,
        order_base_url: str = "",
        capabilities: CapabilityMap = UPSTOX_CAPABILITIES,
    ) -> None:
        self._http = http
        self._clock = clock
        self._order_base = order_base_url.rstrip("/")
        self._capabilities = capabilities

    def __repr__(self) -> str:
        return f"UpstoxGateway(order_base_url={self._order_base!r})"

    @property
    def capabilities(self) -> CapabilityMap:
        return self._capabilities

    def session(
        self, credentials: ProviderCredentials, *, recorder: PayloadRecorder | None = None
    ) -> UpstoxSession:
        calls = UpstoxCalls(self._http, credentials, self._capabilities, self._order_base, recorder)
        return UpstoxSession(calls, self._clock)
