"""How a broker adapter plugs into dashcore: its configuration and its plugin object.

Each broker package exposes one module-level ``PLUGIN`` (``dashcore_brokers.schwab:PLUGIN``),
registered in the ``dashcore.providers`` entry-point group, so an out-of-tree package adds a
provider the same way. A plugin describes the provider (:meth:`ProviderPlugin.descriptor`),
proposes a configuration for the real broker or for a sandbox
(:meth:`ProviderPlugin.default_config`) and builds the provider's ports from a configuration
(:meth:`ProviderPlugin.create`). What it builds is a :class:`BrokerAuth`: the ports the broker
supports (``None`` where it has no such operation), a ``profile`` read that proves credentials
work, and ``aclose`` for its HTTP client.

Real brokers are reached over HTTPS only; plain ``http`` is accepted for a sandbox, which the
embedded server mounts on a local address.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import ClassVar, Protocol
from urllib.parse import urlsplit

import httpx

from dashcore.domain.connections import (
    ExpiryRule,
    LoginStyle,
    ProviderCredentials,
    ProviderDescriptor,
)
from dashcore.domain.hosts import is_loopback_host
from dashcore.ports.brokers import BrokerGateway
from dashcore.ports.clock import Clock
from dashcore.ports.providers import (
    CredentialRefresher,
    CredentialRevoker,
    KeyLogin,
    OAuthCodeLogin,
    ProviderAuth,
    RequestTokenLogin,
)
from dashcore_brokers.http import DEFAULT_RATE_LIMIT, HttpPolicy, ProviderHttp, RateLimit, Timing

__all__ = [
    "BrokerAuth",
    "BrokerPlugin",
    "ProfileReader",
    "ProviderConfig",
    "ProviderPlugin",
]


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider's settings: the app's credentials at the broker, where the broker is, and
    its HTTP policy.

    ``client_id`` is the app key (Schwab), API key (Kite) or client id (Upstox); Groww needs
    none (users bring their own keys). ``refresh_enabled`` is Kite's "approved platform" flag:
    only such apps receive refresh tokens. The secret never shows in a ``repr``.
    """

    api_base_url: str
    login_base_url: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    sandbox: bool = False
    http: HttpPolicy = field(default_factory=HttpPolicy)
    refresh_enabled: bool = False

    def __post_init__(self) -> None:
        for name in ("api_base_url", "login_base_url"):
            url = urlsplit(getattr(self, name))
            plain_http_ok = self.sandbox or is_loopback_host(url.hostname)
            allowed = ("https", "http") if plain_http_ok else ("https",)
            if url.scheme not in allowed or not url.netloc or url.query or url.fragment:
                raise ValueError(
                    f"{name} must be an https URL without query"
                    + (" (http is accepted on a loopback host)" if not plain_http_ok else "")
                )

    def require_app_credentials(self, provider: str) -> None:
        """Brokers that register apps (Schwab, Kite, Upstox) cannot work without them."""
        if not self.client_id or not self.client_secret:
            raise ValueError(f"{provider} needs the app's client id and client secret")


class ProfileReader(Protocol):
    async def profile(self, credentials: ProviderCredentials) -> str:
        """The provider's user id for these credentials: a cheap read proving they work
        (``ReauthRequired`` when the provider refuses them)."""
        ...


class ProviderPlugin(Protocol):
    """A provider as installed: what it is and how to build its ports."""

    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def login_style(self) -> LoginStyle: ...

    def default_config(
        self, *, client_id: str = "", client_secret: str = "", sandbox_url: str | None = None
    ) -> ProviderConfig:
        """The broker's real base URLs and documented HTTP policy; with ``sandbox_url``, the
        sandbox mounted there instead (and, unless given, the sandbox's test credentials)."""
        ...

    def descriptor(
        self, configured: bool, config: ProviderConfig | None = None
    ) -> ProviderDescriptor:
        """What the provider is and can do (some capabilities depend on ``config``)."""
        ...

    def create(
        self,
        config: ProviderConfig,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timing: Timing | None = None,
    ) -> BrokerAuth:
        """The provider's ports on one HTTP client (``transport`` reaches a sandbox in-process;
        ``timing`` replaces the monotonic clock and sleep of the HTTP policy in tests)."""
        ...


class BrokerAuth(ProviderAuth):
    """The ports of one configured broker, sharing one HTTP client (close with ``aclose`` or
    ``async with``)."""

    def __init__(
        self,
        descriptor: ProviderDescriptor,
        http: ProviderHttp,
        profile: ProfileReader,
        *,
        oauth: OAuthCodeLogin | None = None,
        request_token: RequestTokenLogin | None = None,
        key_login: KeyLogin | None = None,
        refresher: CredentialRefresher | None = None,
        revoker: CredentialRevoker | None = None,
        gateway: BrokerGateway | None = None,
    ) -> None:
        self._descriptor = descriptor
        self._gateway = gateway
        self._http = http
        self._profile = profile
        self._oauth = oauth
        self._request_token = request_token
        self._key_login = key_login
        self._refresher = refresher
        self._revoker = revoker

    def __repr__(self) -> str:
        return f"BrokerAuth(provider={self._descriptor.key!r}, sandbox={self._descriptor.sandbox})"

    @property
    def descriptor(self) -> ProviderDescriptor:
        return self._descriptor

    @property
    def oauth(self) -> OAuthCodeLogin | None:
        return self._oauth

    @property
    def request_token(self) -> RequestTokenLogin | None:
        return self._request_token

    @property
    def key_login(self) -> KeyLogin | None:
        return self._key_login

    @property
    def refresher(self) -> CredentialRefresher | None:
        return self._refresher

    @property
    def revoker(self) -> CredentialRevoker | None:
        return self._revoker

    @property
    def gateway(self) -> BrokerGateway | None:
        """The broker's data and trading side (accounts, orders, quotes) on the same HTTP
        client, or ``None`` for a provider that only logs in."""
        return self._gateway

    @property
    def http(self) -> ProviderHttp:
        """The provider's HTTP client under its policy (for its circuit state)."""
        return self._http

    async def profile(self, credentials: ProviderCredentials) -> str:
        return await self._profile.profile(credentials)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> BrokerAuth:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class BrokerPlugin(ProviderPlugin):
    """What the built-in plugins share: a broker states its facts as class attributes and
    builds its ports in :meth:`build`; configuration, descriptor and HTTP client follow."""

    key: str
    name: str
    login_style: LoginStyle
    expiry: ExpiryRule
    api_url: ClassVar[str]
    login_url: ClassVar[str]
    rate_limit: ClassVar[RateLimit] = DEFAULT_RATE_LIMIT
    headers: ClassVar[Mapping[str, str]] = MappingProxyType({"Accept": "application/json"})
    sandbox_credentials: ClassVar[tuple[str, str]] = ("", "")
    needs_app_credentials: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r})"

    @abstractmethod
    def refreshable(self, config: ProviderConfig | None) -> bool: ...

    @abstractmethod
    def revocable(self, config: ProviderConfig | None) -> bool: ...

    @abstractmethod
    def build(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> BrokerAuth:
        """The broker's ports on ``http``."""

    def default_config(
        self, *, client_id: str = "", client_secret: str = "", sandbox_url: str | None = None
    ) -> ProviderConfig:
        http = HttpPolicy(rate_limit=self.rate_limit)
        if sandbox_url is None:
            return ProviderConfig(self.api_url, self.login_url, client_id, client_secret, http=http)
        test_id, test_secret = self.sandbox_credentials
        return ProviderConfig(
            sandbox_url,
            sandbox_url,
            client_id or test_id,
            client_secret or test_secret,
            sandbox=True,
            http=http,
        )

    def descriptor(
        self, configured: bool, config: ProviderConfig | None = None
    ) -> ProviderDescriptor:
        return ProviderDescriptor(
            key=self.key,
            name=self.name,
            login_style=self.login_style,
            expiry=self.expiry,
            refreshable=self.refreshable(config),
            revocable=self.revocable(config),
            configured=configured,
            sandbox=config is not None and config.sandbox,
        )

    def create(
        self,
        config: ProviderConfig,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timing: Timing | None = None,
    ) -> BrokerAuth:
        if self.needs_app_credentials:
            config.require_app_credentials(self.name)
        http = ProviderHttp(
            self.key,
            base_url=config.api_base_url,
            policy=config.http,
            clock=clock,
            headers=self.headers,
            transport=transport,
            timing=timing,
        )
        return self.build(config, http, clock)
