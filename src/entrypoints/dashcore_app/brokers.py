"""Providers of brokerage logins: discovered plugins, their configuration, and the sandboxes.

- **Discovery.** Every installed distribution may add providers through the entry-point group
  ``dashcore.providers`` (``name = "module:object"``, the object a
  ``dashcore_brokers.plugin.ProviderPlugin``); dashcore's own four come the same way, so an
  out-of-tree provider is a first-class citizen. A plugin whose key differs from its entry
  point's name, or that fails to load, stops the start-up with a clear message.
- **Configuration.** ``DASHCORE_PROVIDER_<KEY>_CLIENT_ID`` / ``_CLIENT_SECRET`` (and optional
  ``_API_BASE_URL`` / ``_LOGIN_BASE_URL``, ``_REFRESH_APPROVED``) configure a provider; one
  without the app credentials it needs is *available* but not *configured*.
- **Sandboxes** (``DASHCORE_BROKER_SANDBOXES``, on outside production). Each built-in broker
  is then its simulator: mounted at ``/sandbox/<key>`` for browsers (consent pages), and reached
  in-process by the adapters (no network), with the simulator's test credentials and the
  app's clock. Provider callbacks are ``<public base URL>/api/v1/providers/callback/<key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

import structlog
from dishka import Provider, Scope, provide

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.connections import (
    ConnectionAuthorization,
    Connections,
    CredentialStore,
    ReauthWarnings,
    RefreshConnections,
)
from dashcore.application.notifications import Notifications
from dashcore.domain.connections import ProviderDescriptor
from dashcore.domain.errors import Conflict, NotFound
from dashcore.ports.clock import Clock
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderAuth,
    ProviderConnectionRepository,
    ProviderRegistry,
)
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app.settings import Settings, StartupError
from dashcore_brokers.plugin import BrokerAuth, ProviderConfig, ProviderPlugin
from dashcore_brokers.sandbox import (
    SANDBOX_KEYS,
    BrokerSandbox,
    ConsentMode,
    SandboxTransport,
    create_sandboxes,
    first_id_at,
)

__all__ = [
    "CALLBACK_PATH",
    "PLUGIN_GROUP",
    "SANDBOX_PATH",
    "BrokerRegistry",
    "BrokerSandboxes",
    "BrokersProvider",
    "ConnectionsProvider",
    "ProviderEntry",
    "callback_url",
    "check_provider_settings",
    "discover_plugins",
    "provider_config",
]

PLUGIN_GROUP = "dashcore.providers"
_URL_OPTIONS = ("api_base_url", "login_base_url")
SANDBOX_PATH = "/sandbox"
CALLBACK_PATH = "/api/v1/providers/callback"

_log = structlog.get_logger("dashcore_app")


def callback_url(settings: Settings) -> str:
    """Where providers send the browser back, before ``/<provider key>``."""
    return f"{settings.public_base_url.rstrip('/')}{CALLBACK_PATH}"


def discover_plugins() -> dict[str, ProviderPlugin]:
    plugins: dict[str, ProviderPlugin] = {}
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            plugin: ProviderPlugin = entry.load()
        except Exception as error:
            raise StartupError(f"provider plugin {entry.name!r} failed to load: {error}") from error
        if plugin.key != entry.name:
            raise StartupError(
                f"provider plugin {entry.value!r} says its key is {plugin.key!r}, "
                f"but it is installed as {entry.name!r}"
            )
        plugins[entry.name] = plugin
    return plugins


@dataclass(frozen=True, slots=True)
class BrokerSandboxes:
    """The simulators of this process by provider key (empty when sandboxes are off)."""

    apps: Mapping[str, BrokerSandbox]


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """One installed provider: its plugin, its configuration, and its ports when configured."""

    plugin: ProviderPlugin
    config: ProviderConfig | None
    auth: BrokerAuth | None


class BrokerRegistry(ProviderRegistry):
    """The installed providers, each built once with its HTTP client (closed by ``aclose``)."""

    def __init__(self, entries: Mapping[str, ProviderEntry]) -> None:
        self._entries = dict(sorted(entries.items()))

    def available(self) -> Sequence[ProviderDescriptor]:
        return [e.plugin.descriptor(e.auth is not None, e.config) for e in self._entries.values()]

    def configured(self) -> Sequence[ProviderDescriptor]:
        return [d for d in self.available() if d.configured]

    def get(self, provider: str) -> ProviderAuth:
        entry = self._entries.get(provider)
        if entry is None:
            raise NotFound(f"No provider {provider!r}.", code="provider_not_found")
        if entry.auth is None:
            raise Conflict(
                f"{entry.plugin.name} is not configured on this server.",
                code="provider_not_configured",
            )
        return entry.auth

    async def aclose(self) -> None:
        for entry in self._entries.values():
            if entry.auth is not None:
                await entry.auth.aclose()


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def _configure(
    plugin: ProviderPlugin, settings: Settings, sandbox_url: str | None
) -> ProviderConfig | None:
    options = settings.provider_options.get(plugin.key, {})
    if sandbox_url is not None and bool(options.get("client_id")) != bool(
        options.get("client_secret")
    ):
        # Found by QA: the missing half fell back to the sandbox's own, a pair the sandbox
        # refuses (Kite: 422 at the first login), with nothing said at start-up.
        prefix = f"DASHCORE_PROVIDER_{plugin.key.upper()}"
        raise StartupError(
            f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET go together: set both, or neither "
            "to use the sandbox's own pair"
        )
    config = plugin.default_config(
        client_id=options.get("client_id", ""),
        client_secret=options.get("client_secret", ""),
        sandbox_url=sandbox_url,
    )
    overrides: dict[str, object] = {
        "http": dataclasses.replace(
            config.http,
            connect_timeout=settings.provider_connect_timeout,
            total_timeout=max(settings.provider_timeout, settings.provider_connect_timeout),
        ),
        "refresh_enabled": _truthy(options.get("refresh_approved")),
    }
    for option in _URL_OPTIONS:
        if option in options:
            overrides[option] = options[option]
    try:
        return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
    except ValueError as error:
        named = next((o for o in _URL_OPTIONS if str(error).startswith(o)), None)
        variable = f"DASHCORE_PROVIDER_{plugin.key.upper()}_{(named or '*').upper()}"
        raise StartupError(f"{variable}: {error}") from error


def check_provider_settings(settings: Settings) -> None:
    """``StartupError`` naming the variable if a provider's settings are refused (a broker URL
    that is not https, half a client id and secret pair for a sandbox): found when the process
    starts, not by the first job that needs the provider. Sandboxed providers are judged as the
    registry will build them."""
    for key, plugin in discover_plugins().items():
        _configure(plugin, settings, _sandbox_url(settings, key))


def provider_config(settings: Settings, key: str) -> ProviderConfig | None:
    """The configuration the registry builds for provider ``key`` (the sandbox's own client id
    and secret when it is sandboxed and none are set); ``None`` when no such provider is
    installed."""
    plugin = discover_plugins().get(key)
    return None if plugin is None else _configure(plugin, settings, _sandbox_url(settings, key))


def _sandbox_url(settings: Settings, key: str) -> str | None:
    if not (settings.broker_sandboxes and key in SANDBOX_KEYS):
        return None
    return f"{settings.public_base_url.rstrip('/')}{SANDBOX_PATH}/{key}"


class BrokersProvider(Provider):
    scope = Scope.APP

    @provide
    def sandboxes(self, settings: Settings, clock: Clock) -> BrokerSandboxes:
        if not settings.broker_sandboxes:
            return BrokerSandboxes({})
        base = callback_url(settings)
        apps = create_sandboxes(
            clock,
            consent=ConsentMode.PAGE,
            redirect_uris={key: f"{base}/{key}" for key in ("schwab", "zerodha", "upstox")},
            first_id=first_id_at(clock.now()),  # the database outlives the sandboxes
        )
        return BrokerSandboxes(apps)

    @provide
    async def registry(
        self, settings: Settings, clock: Clock, sandboxes: BrokerSandboxes
    ) -> AsyncIterator[ProviderRegistry]:
        entries: dict[str, ProviderEntry] = {}
        public = settings.public_base_url.rstrip("/")
        for key, plugin in discover_plugins().items():
            sandbox = sandboxes.apps.get(key)
            mount = f"{SANDBOX_PATH}/{key}"
            config = _configure(plugin, settings, None if sandbox is None else public + mount)
            transport = None if sandbox is None else SandboxTransport(app=sandbox, root_path=mount)
            try:
                auth = None if config is None else plugin.create(config, clock, transport=transport)
            except ValueError as error:  # app credentials missing: available, not configured
                _log.info("provider_not_configured", provider=key, reason=str(error))
                auth = None
            entries[key] = ProviderEntry(plugin, config, auth)
        registry = BrokerRegistry(entries)
        yield registry
        await registry.aclose()


class ConnectionsProvider(Provider):
    """The use cases of provider connections (per request)."""

    scope = Scope.REQUEST

    credential_store = provide(CredentialStore)
    connections = provide(Connections)
    refresh_connections = provide(RefreshConnections)
    reauth_warnings = provide(ReauthWarnings)

    @provide
    def authorization(
        self,
        connections: ProviderConnectionRepository,
        pending: PendingAuthorizationRepository,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        users: UserRepository,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
    ) -> ConnectionAuthorization:
        return ConnectionAuthorization(
            connections,
            pending,
            registry,
            credentials,
            users,
            notifications,
            audit,
            uow,
            clock,
            callback_url=callback_url(settings),
        )
