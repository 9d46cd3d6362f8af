"""A reusable world for provider-connection use-case tests: the identity world (fake clock,
memory database, vault, outbox, audit) plus one in-process sandbox per broker, the real broker
plugins wired to them through recording transports, and an in-process refresh lock.

Every builder takes the :class:`MemoryUnitOfWork` the use case runs in, as in
:mod:`tests.unit.identity_world`; the arranging helpers (``connect``, ``consent``…) run each
step in a fresh one, as separate requests would. The provider callbacks are
``CALLBACK_URL/<key>``, the redirect URIs the sandboxes accept by default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx

from dashcore.application.connections import (
    AuthorizationStarted,
    CallbackOutcome,
    ConnectionAuthorization,
    Connections,
    CredentialStore,
    ReauthWarnings,
    RefreshConnections,
)
from dashcore.domain.audit import AuditEvent
from dashcore.domain.connections import (
    KeyCredentials,
    PendingAuthorization,
    ProviderConnection,
    ProviderCredentials,
    hash_state,
)
from dashcore.domain.secrets import SealedSecret
from dashcore.domain.users import User
from dashcore.testing import FakeClock
from dashcore_app.brokers import BrokerRegistry, ProviderEntry
from dashcore_brokers.groww import PLUGIN as GROWW
from dashcore_brokers.http import HttpPolicy, Timing
from dashcore_brokers.plugin import BrokerPlugin
from dashcore_brokers.sandbox import BrokerSandbox, create_sandboxes
from dashcore_brokers.sandbox.core import Sleep
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.schwab import PLUGIN as SCHWAB
from dashcore_brokers.upstox import PLUGIN as UPSTOX
from dashcore_brokers.zerodha import PLUGIN as ZERODHA
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.connections import (
    MemoryPendingAuthorizationRepository,
    MemoryProviderConnectionRepository,
    MemoryRefreshLock,
)
from dashcore_memory.users import MemoryUserRepository
from tests.contract.brokers.harness import Recorder
from tests.unit.identity_world import CALLER, World
from tests.unit.watched_uow import WatchedUnitOfWork

__all__ = [
    "CALLBACK_URL",
    "CALLER",
    "SESSION",
    "TOKEN_PATHS",
    "ConnectionsWorld",
    "SentRequest",
    "open_world",
]

CALLBACK_URL = "https://127.0.0.1:8182/callback"
SESSION = "session-of-the-starting-browser"
PLUGINS: tuple[BrokerPlugin, ...] = (SCHWAB, ZERODHA, UPSTOX, GROWW)
TOKEN_PATHS = {
    "schwab": "/v1/oauth/token",
    "zerodha": "/session/token",
    "upstox": "/v2/login/authorization/token",
    "groww": "/v1/token/api/access",
}
"""Where each provider mints credentials from a login (``POST``)."""


@dataclass(frozen=True, slots=True)
class SentRequest:
    """A request that left for a provider, and whether the watched unit of work had a
    transaction open at that moment."""

    provider: str
    method: str
    path: str
    in_transaction: bool


@dataclass
class ConnectionsWorld:
    base: World
    sandboxes: dict[str, BrokerSandbox]
    recorders: dict[str, Recorder]
    registry: BrokerRegistry
    lock: MemoryRefreshLock

    @property
    def clock(self) -> FakeClock:
        return self.base.clock

    def uow(self) -> MemoryUnitOfWork:
        return self.base.uow()

    # -- use cases -------------------------------------------------------------------------
    def credential_store(self, uow: MemoryUnitOfWork) -> CredentialStore:
        return CredentialStore(self.base.keeper(uow))

    def connections(self, uow: MemoryUnitOfWork) -> Connections:
        return Connections(
            MemoryProviderConnectionRepository(uow),
            self.registry,
            self.credential_store(uow),
            self.base.audit(uow),
            uow,
            self.base.clock,
            self.base.ids,
        )

    def authorization(self, uow: MemoryUnitOfWork) -> ConnectionAuthorization:
        return ConnectionAuthorization(
            MemoryProviderConnectionRepository(uow),
            MemoryPendingAuthorizationRepository(uow),
            self.registry,
            self.credential_store(uow),
            MemoryUserRepository(uow),
            self.base.notifications(uow),
            self.base.audit(uow),
            uow,
            self.base.clock,
            callback_url=CALLBACK_URL,
        )

    def refresher(self, uow: MemoryUnitOfWork) -> RefreshConnections:
        return RefreshConnections(
            MemoryProviderConnectionRepository(uow),
            self.registry,
            self.credential_store(uow),
            self.lock,
            self.base.audit(uow),
            uow,
            self.base.clock,
        )

    def reauth_warnings(self, uow: MemoryUnitOfWork) -> ReauthWarnings:
        return ReauthWarnings(
            MemoryProviderConnectionRepository(uow),
            MemoryUserRepository(uow),
            self.registry,
            self.base.notifications(uow),
            self.base.audit(uow),
            uow,
            self.base.clock,
        )

    # -- arranging -------------------------------------------------------------------------
    async def add_user(self, email: str) -> User:
        return await self.base.add_user(email)

    async def create(self, user: User, provider: str) -> ProviderConnection:
        """A new pending connection of ``user`` to ``provider``."""
        return await self.connections(self.uow()).create(user.id, provider, CALLER)

    async def start(
        self, user: User, connection: ProviderConnection, *, session: str = SESSION
    ) -> AuthorizationStarted:
        return await self.authorization(self.uow()).start(user.id, session, connection.id, CALLER)

    async def consent(self, provider: str, started: AuthorizationStarted) -> dict[str, str]:
        """The browser follows the login URL; the sandbox answers (by its consent mode) with
        the redirect back to us, whose query parameters are returned."""
        assert started.authorization_url is not None
        transport = httpx.ASGITransport(app=self.sandboxes[provider])  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as browser:
            response = await browser.get(started.authorization_url)
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == (
            f"{CALLBACK_URL}/{provider}"
        )
        return {name: values[0] for name, values in parse_qs(location.query).items()}

    async def callback(
        self,
        provider: str,
        params: dict[str, str],
        *,
        user: User | None = None,
        session: str | None = SESSION,
        browser_state: str | None = None,
    ) -> CallbackOutcome:
        """The provider's redirect reaching our callback: Kite's ``request_token`` is the code;
        ``user``/``session`` are the bearer's, ``browser_state`` the state cookie's."""
        return await self.authorization(self.uow()).callback(
            provider,
            CALLER,
            state=params.get("state"),
            code=params.get("code") or params.get("request_token"),
            error=params.get("error"),
            bound_user=None if user is None else user.id,
            bound_session=None if user is None else session,
            browser_state=browser_state,
        )

    async def connect(self, user: User, provider: str) -> ProviderConnection:
        """A connection of ``user`` to ``provider``, connected through its real login flow."""
        connection = await self.create(user, provider)
        if provider == GROWW.key:
            key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
            return await self.authorization(self.uow()).submit_key_credentials(
                user.id, connection.id, key, CALLER
            )
        started = await self.start(user, connection)
        params = await self.consent(provider, started)
        outcome = await self.callback(provider, params, user=user)
        return outcome.connection

    # -- observing -------------------------------------------------------------------------
    @contextmanager
    def requests_watched(self, uow: WatchedUnitOfWork) -> Iterator[list[SentRequest]]:
        """Every request sent to any provider within the block, with whether ``uow`` had a
        transaction open when it left."""
        seen: list[SentRequest] = []
        with self._watched(uow, lambda provider, request: True, seen):
            yield seen

    @contextmanager
    def token_requests_watched(self, provider: str, uow: WatchedUnitOfWork) -> Iterator[list[bool]]:
        """For each token request sent to ``provider`` within the block, whether ``uow`` had a
        transaction open when it left."""
        seen: list[SentRequest] = []
        with self._watched(
            uow,
            lambda sent_to, request: (
                sent_to == provider and request.url.path.endswith(TOKEN_PATHS[provider])
            ),
            seen,
        ):
            in_transaction: list[bool] = []
            try:
                yield in_transaction
            finally:
                in_transaction.extend(request.in_transaction for request in seen)

    @contextmanager
    def _watched(
        self,
        uow: WatchedUnitOfWork,
        wanted: Callable[[str, httpx.Request], bool],
        seen: list[SentRequest],
    ) -> Iterator[None]:
        for provider, recorder in self.recorders.items():
            recorder.handle_async_request = self._watching(  # type: ignore[method-assign]
                provider, recorder.handle_async_request, uow, wanted, seen
            )
        try:
            yield
        finally:
            for recorder in self.recorders.values():
                del recorder.handle_async_request

    @staticmethod
    def _watching(
        provider: str,
        send: Callable[[httpx.Request], Awaitable[httpx.Response]],
        uow: WatchedUnitOfWork,
        wanted: Callable[[str, httpx.Request], bool],
        seen: list[SentRequest],
    ) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
        async def watched(request: httpx.Request) -> httpx.Response:
            if wanted(provider, request):
                seen.append(
                    SentRequest(provider, request.method, request.url.path, uow.in_transaction)
                )
            return await send(request)

        return watched

    def token_calls(self, provider: str, path: str | None = None) -> int:
        """``POST`` requests that reached ``provider``'s token endpoint (or ``path``)."""
        wanted = path or TOKEN_PATHS[provider]
        return sum(
            1
            for request in self.recorders[provider].requests
            if request.method == "POST" and request.url.path == wanted
        )

    async def stored(self, connection_id: UUID) -> ProviderConnection | None:
        return await MemoryProviderConnectionRepository(self.uow()).get(connection_id)

    async def credentials(self, connection_id: UUID) -> ProviderCredentials:
        """The connection's credentials as the vault opens them (``NotFound`` when none)."""
        return await self.credential_store(self.uow()).load(connection_id)

    def pending(self, state: str) -> PendingAuthorization | None:
        found: PendingAuthorization | None = self.base.database.table("pending_authorizations").get(
            hash_state(state)
        )
        return found

    def sealed(self, connection_id: UUID) -> list[SealedSecret]:
        owner = CredentialStore.owner(connection_id)
        rows = self.base.database.table("sealed_secrets").values()
        return [secret for secret in rows if secret.owner == owner]

    def audit(self, action: str | None = None) -> list[AuditEvent]:
        """Committed audit events (of ``action``), in the order they were committed."""
        records = self.base.database.table("audit_events").values()  # in commit order
        return [r.event for r in records if action is None or r.event.action == action]


async def _no_wait(_: float) -> None:
    """A wait of the HTTP policy's that returns at once."""


NO_WAITING = Timing(sleep=_no_wait)
"""The providers' HTTP policy without its waits: a rate limit's pause for the next token and a
retry's backoff return at once, so no test sits on the wall clock (their own tests, in
``tests/unit/brokers``, time them on a fake clock)."""


@asynccontextmanager
async def open_world(
    *, http: HttpPolicy | None = None, sleep: Sleep | None = None
) -> AsyncIterator[ConnectionsWorld]:
    """A world whose providers are the four built-in plugins on their sandboxes, closed on
    exit. ``http`` replaces every provider's HTTP policy (e.g. short timeouts); ``sleep``
    replaces how the sandboxes wait in latency and timeout faults."""
    base = World.create()
    sandboxes = create_sandboxes(base.clock, sleep=sleep)
    recorders: dict[str, Recorder] = {}
    entries: dict[str, ProviderEntry] = {}
    for plugin in PLUGINS:
        config = plugin.default_config(sandbox_url=f"https://{plugin.key}.sandbox.test")
        if http is not None:
            config = dataclasses.replace(config, http=http)
        recorders[plugin.key] = Recorder(sandboxes[plugin.key])
        auth = plugin.create(config, base.clock, transport=recorders[plugin.key], timing=NO_WAITING)
        entries[plugin.key] = ProviderEntry(plugin, config, auth)
    registry = BrokerRegistry(entries)
    try:
        yield ConnectionsWorld(base, sandboxes, recorders, registry, MemoryRefreshLock())
    finally:
        await registry.aclose()
