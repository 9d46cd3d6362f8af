"""Provider connections: create, authorize, refresh, disconnect (issue #5; security.md OAUTH-1..3,
BKEY-1, CRYPTO-1, AUD-1).

Rules:
- A connection belongs to one user; another user's connection id is a 404, exactly like one
  that does not exist.
- A connection is shown as it stands now (``ProviderConnection.as_of``): one past its
  credentials' end reads as ``needs_reauth`` (``credentials_expired``) in every listing, read
  and status, exactly when trading and sync refuse it as not usable.
- Authorizing starts a :class:`PendingAuthorization`: a 256-bit one-time ``state`` (Kite:
  echoed through ``redirect_params``) bound to the user, the session that started it, the
  connection and the provider, valid 10 minutes, consumed by its first callback. The callback
  is refused — and the provider never called — when the state is missing, unknown, used,
  expired, of another provider, or presented by another user or browser (the caller proves the
  binding: its bearer token's user and session, or the state cookie of the browser that started).
- Provider credentials are kept only sealed in the vault, bound to the connection
  (``connection:<id>`` / ``credentials``): never returned, logged or audited.
- A refresh runs under a cross-process lock per connection (single flight): a second caller
  waits, then finds the fresh credentials instead of spending the refresh token again. New
  credentials are stored in the same transaction that records the refresh, so the old ones are
  only replaced once the new ones are durable. A provider that refuses the refresh
  (``ReauthRequired``) moves the connection to ``needs_reauth``; a provider that cannot be
  reached leaves it connected with the error recorded (the next try decides).
- Disconnecting revokes at the provider where it can (a failure there is recorded, not fatal),
  then deletes the credentials.
- No transaction is open while a provider answers (code exchange, key login, refresh,
  revocation), nor while a refresh waits for another one's lock: a slow provider or a waiter
  must never hold database locks (on SQLite, every transaction holds the database's single
  write lock), so each comes after a commit or a rollback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.notifications import Notifications
from dashcore.application.secrets import SecretKeeper
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.connections import (
    CREDENTIALS_UNREADABLE,
    ConnectionError_,
    ConnectionScope,
    ConnectionStatus,
    KeyCredentials,
    PendingAuthorization,
    ProviderConnection,
    ProviderCredentials,
    hash_state,
    new_state,
)
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import (
    BadRequest,
    Conflict,
    DashcoreError,
    DecryptionFailed,
    InvalidInput,
    NotFound,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderAuth,
    ProviderConnectionRepository,
    ProviderRegistry,
    RefreshLock,
)
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "CREDENTIALS_PURPOSE",
    "REFRESH_AHEAD",
    "AuthorizationStarted",
    "CallbackOutcome",
    "ConnectionAuthorization",
    "Connections",
    "CredentialStore",
    "ReauthWarnings",
    "RefreshConnections",
    "RefreshRound",
    "fail_closed_unreadable",
]

CREDENTIALS_PURPOSE = "credentials"
REFRESH_LOCK_TTL = 60.0
REFRESH_LOCK_WAIT = 35.0
REFRESH_AHEAD = timedelta(minutes=5)
"""Refresh when less than this is left (OAUTH-3)."""


async def fail_closed_unreadable(
    connections: ProviderConnectionRepository,
    audit: AuditTrail,
    connection_id: UUID,
    caller: CallerContext,
    now: datetime,
) -> None:
    """Sealed credentials that fail to open (tampered with, moved, or sealed under a vault key
    the ring no longer holds, CRYPTO-1) cannot work again by themselves: the connection fails
    closed (``error``, nothing sent to the provider; a disconnected one stays as it is) and it
    is audited for the alerting that watches the audit log. Joins the caller's transaction."""
    locked = await connections.lock(connection_id)
    if locked is None:
        return
    if locked.status is not ConnectionStatus.DISCONNECTED:
        await connections.save(locked.failed(now, CREDENTIALS_UNREADABLE))
    await audit.record(
        "provider_credentials_unreadable",
        caller=caller,
        outcome=AuditOutcome.FAILURE,
        target=f"connection:{connection_id}",
        metadata={"provider": locked.provider},
    )


def _not_found() -> NotFound:
    return NotFound("No such connection.", code="connection_not_found")


def _state_refused() -> BadRequest:
    return BadRequest(
        "The authorization link is not valid: it expired, was used, or belongs to someone else.",
        code="invalid_authorization_state",
        field="state",
    )


class CredentialStore:
    """Sealed provider credentials of a connection, through the vault (CRYPTO-1)."""

    def __init__(self, keeper: SecretKeeper) -> None:
        self._keeper = keeper

    @staticmethod
    def owner(connection_id: UUID) -> str:
        return f"connection:{connection_id}"

    async def store(self, connection_id: UUID, credentials: ProviderCredentials) -> None:
        document = {
            "access_token": credentials.access_token,
            "refresh_token": credentials.refresh_token,
            "issued_at": credentials.issued_at.isoformat(),
            "expires_at": None
            if credentials.expires_at is None
            else credentials.expires_at.isoformat(),
            "account_ref": credentials.account_ref,
        }
        await self._keeper.store(
            self.owner(connection_id), CREDENTIALS_PURPOSE, json.dumps(document).encode("utf-8")
        )

    async def load(self, connection_id: UUID) -> ProviderCredentials:
        raw = json.loads(await self._keeper.reveal(self.owner(connection_id), CREDENTIALS_PURPOSE))
        return ProviderCredentials(
            access_token=raw["access_token"],
            refresh_token=raw["refresh_token"],
            issued_at=datetime.fromisoformat(raw["issued_at"]),
            expires_at=None
            if raw["expires_at"] is None
            else datetime.fromisoformat(raw["expires_at"]),
            account_ref=raw["account_ref"],
        )

    async def forget(self, connection_id: UUID) -> bool:
        return await self._keeper.forget(self.owner(connection_id), CREDENTIALS_PURPOSE)


def _provider_error(error: DashcoreError) -> ConnectionError_:
    return ConnectionError_(error.code, error.message[:500])


class Connections:
    """Creating, listing, renaming and deleting a user's connections."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._connections = connections
        self._registry = registry
        self._credentials = credentials
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def create(
        self,
        user_id: UUID,
        provider: str,
        caller: CallerContext,
        *,
        alias: str | None = None,
        trade: bool = False,
    ) -> ProviderConnection:
        self._registry.get(provider)  # unknown → 404, unconfigured → 409
        scopes = frozenset(
            {ConnectionScope.READ, ConnectionScope.TRADE} if trade else {ConnectionScope.READ}
        )
        connection = ProviderConnection.create(
            self._ids.new_id(), user_id, provider, self._clock.now(), alias=alias, scopes=scopes
        )
        await self._connections.add(connection)
        await self._audit.record(
            "provider_connection_created",
            caller=caller,
            target=f"connection:{connection.id}",
            metadata={"provider": provider, "scopes": " ".join(sorted(scopes))},
        )
        await self._uow.commit()
        return connection

    async def list(self, user_id: UUID) -> Sequence[ProviderConnection]:
        now = self._clock.now()
        return [c.as_of(now) for c in await self._connections.list_for_user(user_id)]

    async def get(self, user_id: UUID, connection_id: UUID) -> ProviderConnection:
        connection = await self._connections.get(connection_id)
        if connection is None or connection.user_id != user_id:
            raise _not_found()
        return connection.as_of(self._clock.now())

    async def rename(
        self, user_id: UUID, connection_id: UUID, alias: str | None, caller: CallerContext
    ) -> ProviderConnection:
        connection = await self._owned_locked(user_id, connection_id)
        renamed = connection.renamed(alias, self._clock.now())
        await self._connections.save(renamed)
        await self._audit.record(
            "provider_connection_renamed", caller=caller, target=f"connection:{connection.id}"
        )
        await self._uow.commit()
        return renamed.as_of(self._clock.now())

    async def _owned_locked(self, user_id: UUID, connection_id: UUID) -> ProviderConnection:
        connection = await self._connections.lock(connection_id)
        if connection is None or connection.user_id != user_id:
            raise _not_found()
        return connection


@dataclass(frozen=True, slots=True)
class AuthorizationStarted:
    """Where to send the browser (``None`` for key logins, which connect at once) and the
    one-time state the browser must bring back (kept in a cookie by the HTTP layer)."""

    connection: ProviderConnection
    authorization_url: str | None = None
    state: str | None = field(default=None, repr=False)
    expires_in: int = 0


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    connection: ProviderConnection
    return_to: str | None


class ConnectionAuthorization:
    """Authorizing a connection: start, callback, key credentials, status, disconnect."""

    def __init__(
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
        *,
        callback_url: str,
    ) -> None:
        self._connections = connections
        self._pending = pending
        self._registry = registry
        self._credentials = credentials
        self._users = users
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._callback_url = callback_url.rstrip("/")

    def redirect_uri(self, provider: str) -> str:
        """The one callback registered at ``provider`` (OAUTH-2: exact, per provider)."""
        return f"{self._callback_url}/{provider}"

    async def start(
        self,
        user_id: UUID,
        session_id: str,
        connection_id: UUID,
        caller: CallerContext,
        *,
        return_to: str | None = None,
    ) -> AuthorizationStarted:
        connection = await self._owned(user_id, connection_id)
        auth = self._registry.get(connection.provider)
        self._check_can_authorize(connection)
        state = new_state()
        redirect_uri = self.redirect_uri(connection.provider)
        if auth.oauth is not None:
            url = auth.oauth.authorization_url(state=state, redirect_uri=redirect_uri)
        elif auth.request_token is not None:
            url = auth.request_token.login_url(redirect_params=f"state={state}")
        else:
            raise Conflict(
                "This provider connects with an API key: send the credentials instead.",
                code="credentials_required",
            )
        now = self._clock.now()
        pending = PendingAuthorization.start(
            state, connection, session_id, redirect_uri, now, return_to=return_to
        )
        await self._pending.add(pending)
        await self._audit.record(
            "provider_authorization_started",
            caller=caller,
            target=f"connection:{connection.id}",
            metadata={"provider": connection.provider},
        )
        await self._uow.commit()
        expires_in = int((pending.expires_at - now).total_seconds())
        return AuthorizationStarted(connection, url, state, expires_in)

    async def submit_key_credentials(
        self,
        user_id: UUID,
        connection_id: UUID,
        key: KeyCredentials,
        caller: CallerContext,
    ) -> ProviderConnection:
        """Key-login providers (Groww): mint a token now; the key material is not kept."""
        connection = await self._owned(user_id, connection_id)
        auth = self._registry.get(connection.provider)
        if auth.key_login is None:
            raise Conflict(
                "This provider connects through its own login page: start an authorization.",
                code="redirect_required",
            )
        self._check_can_authorize(connection)
        await self._uow.rollback()  # no transaction open while the provider answers
        try:
            credentials = await auth.key_login.mint(key)
        except (ReauthRequired, InvalidInput) as error:
            await self._record_failure(connection.id, caller, error)
            raise
        return await self._connected(connection.id, auth, credentials, caller)

    async def callback(
        self,
        provider: str,
        caller: CallerContext,
        *,
        state: str | None,
        code: str | None = None,
        error: str | None = None,
        bound_user: UUID | None = None,
        bound_session: str | None = None,
        browser_state: str | None = None,
    ) -> CallbackOutcome:
        """The provider sent the browser back. The state must be this provider's, unused and
        fresh, and the caller must prove it started the flow: its bearer token is the same user
        and session (``bound_user``/``bound_session``), or its browser holds the same state
        (``browser_state``, from the cookie set at start)."""
        auth = self._registry.get(provider)
        if not state:
            await self._refuse_state(caller, provider, "missing_state")
        pending = await self._pending.consume(hash_state(state), self._clock.now())
        if pending is None or pending.provider != provider:
            await self._refuse_state(caller, provider, "unknown_or_spent_state")
        bound = (bound_user == pending.user_id and bound_session == pending.session_id) or (
            browser_state is not None and hash_state(browser_state) == pending.state_hash
        )
        if not bound:
            await self._refuse_state(caller, provider, "state_of_another_caller")
        await self._uow.commit()  # the state is spent whatever follows
        connection = await self._connections.get(pending.connection_id)
        if connection is None:
            raise _not_found()
        self._check_can_authorize(connection)  # disconnected since the start: no exchange
        caller = caller.with_actor(f"user:{pending.user_id}")
        if error is not None or not code:
            denied = connection.consent_denied(
                self._clock.now(),
                ConnectionError_("consent_denied", "The provider login was cancelled or denied."),
            )
            await self._connections.save(denied)
            await self._audit.record(
                "provider_consent_denied",
                caller=caller,
                outcome=AuditOutcome.FAILURE,
                target=f"connection:{connection.id}",
                metadata={"provider": provider},
            )
            await self._uow.commit()
            return CallbackOutcome(denied, pending.return_to)
        await self._uow.rollback()  # no transaction open while the provider answers
        try:
            if auth.oauth is not None:
                credentials = await auth.oauth.exchange_code(
                    code=code,
                    redirect_uri=pending.redirect_uri,
                    code_verifier=pending.code_verifier,
                )
            elif auth.request_token is not None:
                credentials = await auth.request_token.exchange_request_token(code)
            else:
                raise Conflict(
                    "This provider has no login redirect.", code="redirect_not_supported"
                )
        except (ReauthRequired, InvalidInput) as failure:
            await self._record_failure(connection.id, caller, failure)
            raise
        except (ProviderUnavailable, RateLimited) as failure:
            await self._record_failure(connection.id, caller, failure, transient=True)
            raise
        connected = await self._connected(connection.id, auth, credentials, caller)
        return CallbackOutcome(connected, pending.return_to)

    async def status(self, user_id: UUID, connection_id: UUID) -> ProviderConnection:
        """The connection as it stands now: past its credentials' end, it needs a login."""
        connection = await self._owned(user_id, connection_id)
        return connection.as_of(self._clock.now())

    async def disconnect(
        self, user_id: UUID, connection_id: UUID, caller: CallerContext, *, delete: bool = False
    ) -> None:
        """Revoke at the provider where possible, forget the credentials; with ``delete`` the
        connection itself goes too."""
        connection = await self._owned(user_id, connection_id)
        auth = self._registry.get(connection.provider)
        revoked: str = "not_supported"
        if auth.revoker is not None and connection.status is not ConnectionStatus.DISCONNECTED:
            revoked = await self._revoke(connection, auth)
        locked = await self._connections.lock(connection.id) or connection
        await self._credentials.forget(connection.id)
        if locked.status is not ConnectionStatus.DISCONNECTED:
            await self._connections.save(locked.disconnected(self._clock.now()))
            await self._tell_owner(locked, auth, added=False)
        await self._audit.record(
            "provider_disconnected",
            caller=caller,
            target=f"connection:{connection.id}",
            metadata={"provider": connection.provider, "revoked": revoked, "deleted": delete},
        )
        if delete:
            await self._connections.delete(connection.id)
        await self._uow.commit()

    async def _revoke(self, connection: ProviderConnection, auth: ProviderAuth) -> str:
        assert auth.revoker is not None
        try:
            credentials = await self._credentials.load(connection.id)
        except NotFound:
            return "no_credentials"
        await self._uow.rollback()  # no transaction open while the provider answers
        try:
            await auth.revoker.revoke(credentials)
        except (ReauthRequired, ProviderUnavailable, RateLimited) as error:
            return f"failed:{error.code}"
        return "revoked"

    def _check_can_authorize(self, connection: ProviderConnection) -> None:
        if connection.status is ConnectionStatus.DISCONNECTED:
            raise Conflict(
                "This connection was disconnected; create a new one.",
                code="connection_disconnected",
            )

    async def _owned(self, user_id: UUID, connection_id: UUID) -> ProviderConnection:
        connection = await self._connections.get(connection_id)
        if connection is None or connection.user_id != user_id:
            raise _not_found()
        return connection

    async def _connected(
        self,
        connection_id: UUID,
        auth: ProviderAuth,
        credentials: ProviderCredentials,
        caller: CallerContext,
    ) -> ProviderConnection:
        connection = await self._connections.lock(connection_id)
        if connection is None:
            raise _not_found()
        expiry = credentials.expiry(auth.descriptor.expiry)
        connected = connection.connected(self._clock.now(), expiry)
        await self._credentials.store(connection.id, credentials)
        await self._connections.save(connected)
        if connection.connected_at is None:
            await self._tell_owner(connection, auth, added=True)
        await self._audit.record(
            "provider_connected",
            caller=caller,
            target=f"connection:{connection.id}",
            metadata={
                "provider": connection.provider,
                "repaired": connection.connected_at is not None,
            },
        )
        await self._uow.commit()
        return connected

    async def _tell_owner(
        self, connection: ProviderConnection, auth: ProviderAuth, *, added: bool
    ) -> None:
        """Mail the owner that a broker account was connected for the first time or
        disconnected (NOTIF-1), in the unit of work of the change."""
        user = await self._users.get(connection.user_id)
        if user is None:
            return
        provider = auth.descriptor.name
        notify = (
            self._notifications.connection_added
            if added
            else self._notifications.connection_disconnected
        )
        await notify(
            user.email,
            provider=provider,
            connection=connection.alias or provider,
            at=self._clock.now(),
        )

    async def _record_failure(
        self,
        connection_id: UUID,
        caller: CallerContext,
        error: DashcoreError,
        *,
        transient: bool = False,
    ) -> None:
        """Audit a failed code exchange and keep its reason on the connection. A transient
        failure (the provider unavailable or slowing us down) changes only a pending
        connection, whose ``last_error`` tells why it still waits: a connection that is
        connected keeps the tokens of its earlier login."""
        await self._uow.rollback()
        connection = await self._connections.lock(connection_id)
        if connection is not None and (
            not transient or connection.status is ConnectionStatus.PENDING
        ):
            await self._connections.save(
                _with_error(connection, _provider_error(error), self._clock.now())
            )
        await self._audit.record(
            "provider_authorization_failed",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"connection:{connection_id}",
            metadata={"reason": error.code},
        )
        await self._uow.commit()

    async def _refuse_state(self, caller: CallerContext, provider: str, reason: str) -> NoReturn:
        """Audit and refuse; a state consumed on the way stays consumed (one use, OAUTH-1)."""
        await self._audit.record(
            "provider_callback_refused",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            metadata={"provider": provider, "reason": reason},
        )
        await self._uow.commit()
        raise _state_refused()


def _with_error(
    connection: ProviderConnection, error: ConnectionError_, now: datetime
) -> ProviderConnection:
    """Record a failed authorization: a pending connection keeps waiting, with the reason."""
    if connection.status is ConnectionStatus.PENDING:
        return connection.consent_denied(now, error)
    return connection.failed(now, error)


@dataclass(frozen=True, slots=True)
class RefreshRound:
    refreshed: int
    failed: int


class RefreshConnections:
    """Refreshing a connection's credentials ahead of expiry, at most once at a time."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        registry: ProviderRegistry,
        credentials: CredentialStore,
        lock: RefreshLock,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._registry = registry
        self._credentials = credentials
        self._lock = lock
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def for_user(
        self, user_id: UUID, connection_id: UUID, caller: CallerContext
    ) -> ProviderConnection:
        connection = await self._connections.get(connection_id)
        if connection is None or connection.user_id != user_id:
            raise _not_found()
        return await self.refresh(connection_id, caller, force=True)

    async def refresh_due(self, *, limit: int = 100) -> RefreshRound:
        """Refresh every connection of a refreshable provider whose access token ends within 5
        minutes (the background hook; each one on its own, one failure stops nothing)."""
        refreshable = [d.key for d in self._registry.configured() if d.refreshable]
        due = await self._connections.access_expiring(
            self._clock.now() + REFRESH_AHEAD, providers=refreshable, limit=limit
        )
        await self._uow.rollback()
        caller = CallerContext(actor="system:connection-refresh")
        refreshed = failed = 0
        for connection in due:
            try:
                after = await self.refresh(connection.id, caller)
            except DashcoreError:
                await self._uow.rollback()
                failed += 1
                continue
            if after.status is ConnectionStatus.CONNECTED and after.last_error is None:
                refreshed += 1
            else:
                failed += 1
        return RefreshRound(refreshed=refreshed, failed=failed)

    async def fresh(
        self, connection: ProviderConnection, caller: CallerContext
    ) -> ProviderConnection:
        """``connection`` as it is, or refreshed first (by ``caller``, single flight) when its
        access token ends within :data:`REFRESH_AHEAD` or has ended
        (``ProviderConnection.access_refresh_due``). Whoever is about to call the provider
        with its credentials asks this first; a refresh the provider refused comes back
        ``needs_reauth``, so check ``is_usable`` on what is returned."""
        if not connection.access_refresh_due(self._clock.now(), REFRESH_AHEAD):
            return connection
        return await self.refresh(connection.id, caller)

    async def refresh(
        self, connection_id: UUID, caller: CallerContext, *, force: bool = False
    ) -> ProviderConnection:
        """Refresh if less than 5 minutes are left (or ``force``). Single flight: whoever
        holds the lock refreshes; a waiter finds the result.

        Ends the caller's transaction first (callers come with reads only): a waiter must not
        hold one, since on SQLite every transaction holds the database's write lock, which the
        lock's holder needs to store the new credentials. Found by QA: two refreshes at once
        waited on each other until SQLite gave up (one 503 after 5 s, other users stalled)."""
        await self._uow.rollback()
        key = f"connection-refresh:{connection_id}"
        token = await self._lock.acquire(
            key, ttl_seconds=REFRESH_LOCK_TTL, wait_seconds=REFRESH_LOCK_WAIT
        )
        if token is None:
            raise ProviderUnavailable("Another refresh of this connection is still running.")
        try:
            return await self._refresh_locked(connection_id, caller, force=force)
        finally:
            await self._lock.release(key, token)

    async def _refresh_locked(
        self, connection_id: UUID, caller: CallerContext, *, force: bool
    ) -> ProviderConnection:
        started = self._clock.now()
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise _not_found()
        auth = self._registry.get(connection.provider)
        if auth.refresher is None:
            raise Conflict(
                "This provider has no refresh: log in again.", code="refresh_not_supported"
            )
        # Holding the lock, a connection still marked refreshing is one whose refresh died
        # mid-call (a cancelled request, a stopped worker): try again, and the provider's
        # answer settles it (new credentials, or needs_reauth if the old refresh token was
        # spent) instead of leaving it stuck (OAUTH-3).
        interrupted = connection.status is ConnectionStatus.REFRESHING
        if connection.status is not ConnectionStatus.CONNECTED and not interrupted:
            raise Conflict(
                f"A {connection.status} connection cannot refresh.", code="not_connected"
            )
        fresh_enough = (
            connection.last_refreshed_at is not None
            and started - connection.last_refreshed_at < timedelta(seconds=5)
        )
        if not interrupted and (
            fresh_enough
            or (
                not force
                and connection.expires_at is not None
                and connection.expires_at - started > REFRESH_AHEAD
            )
        ):
            return connection  # another process just did it, or not due yet
        try:
            old = await self._credentials.load(connection.id)
        except DecryptionFailed:
            await self._unreadable(connection, caller)
            raise
        previous = connection.credential_expiry
        if interrupted:
            await self._uow.rollback()  # no transaction open while the provider answers
        else:
            await self._connections.save(connection.refreshing(started))
            await self._uow.commit()
        try:
            new = await auth.refresher.refresh(old)
        except ReauthRequired as error:
            return await self._settle(connection.id, caller, error, reauth=True)
        except (ProviderUnavailable, RateLimited) as error:
            await self._settle(connection.id, caller, error, reauth=False)
            raise
        locked = await self._connections.lock(connection.id)
        if locked is None:
            raise _not_found()
        now = self._clock.now()
        refreshed = locked.refreshed(now, new.expiry(auth.descriptor.expiry, previous))
        await self._credentials.store(connection.id, new)
        await self._connections.save(refreshed)
        await self._audit.record(
            "provider_refreshed",
            caller=caller,
            target=f"connection:{connection.id}",
            metadata={
                "provider": connection.provider,
                "rotated": new.refresh_token != old.refresh_token,
            },
        )
        await self._uow.commit()
        return refreshed

    async def _unreadable(self, connection: ProviderConnection, caller: CallerContext) -> None:
        await self._uow.rollback()
        await fail_closed_unreadable(
            self._connections, self._audit, connection.id, caller, self._clock.now()
        )
        await self._uow.commit()

    async def _settle(
        self, connection_id: UUID, caller: CallerContext, error: DashcoreError, *, reauth: bool
    ) -> ProviderConnection:
        locked = await self._connections.lock(connection_id)
        if locked is None:
            raise _not_found()
        now, problem = self._clock.now(), _provider_error(error)
        settled = (
            locked.needs_reauth(now, problem) if reauth else locked.refresh_failed(now, problem)
        )
        await self._connections.save(settled)
        await self._audit.record(
            "provider_needs_reauth" if reauth else "provider_refresh_failed",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"connection:{connection_id}",
            metadata={"provider": locked.provider, "reason": error.code},
        )
        await self._uow.commit()
        return settled


REAUTH_WARNING_WINDOW = timedelta(hours=24)
"""How early owners hear that a refreshable connection (Schwab's 7-day consent) will end."""
DAILY_REAUTH_WARNING_WINDOW = timedelta(hours=1)
"""How early for providers whose tokens die every day (Kite, Groww: 06:00 IST; Upstox 03:30):
a day's notice would arrive with every login."""


class ReauthWarnings:
    """Warns owners before a connection's credentials end — the ``connection.reauth_due``
    event, audited and mailed once per credential end: a day before for refreshable
    providers, an hour before for daily ones. Run periodically (a scheduler's job); commits
    each warning on its own so one failure does not undo the others."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        users: UserRepository,
        registry: ProviderRegistry,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._users = users
        self._registry = registry
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self,
        *,
        window: timedelta = REAUTH_WARNING_WINDOW,
        daily_window: timedelta = DAILY_REAUTH_WARNING_WINDOW,
        limit: int = 500,
    ) -> int:
        now = self._clock.now()
        providers = {d.key: d for d in self._registry.available()}
        warned = 0
        horizon = now + max(window, daily_window)
        for candidate in await self._connections.expiring(horizon, limit=limit):
            descriptor = providers.get(candidate.provider)
            own_window = window if descriptor is None or descriptor.refreshable else daily_window
            connection = await self._connections.lock(candidate.id)
            user = None if connection is None else await self._users.get(connection.user_id)
            if (
                connection is None
                or user is None
                or not connection.reauth_warning_due(now, own_window)
            ):
                await self._uow.rollback()
                continue
            expiry = connection.credential_expiry
            assert expiry is not None
            provider = connection.provider if descriptor is None else descriptor.name
            await self._notifications.connection_reauth_due(
                user.email,
                provider=provider,
                connection=connection.alias or provider,
                ends_at=expiry.ends_at,
            )
            await self._connections.save(connection.reauth_warned())
            await self._audit.record(
                "connection.reauth_due",
                caller=CallerContext(actor="system:reauth-warnings"),
                target=f"connection:{connection.id}",
                metadata={"provider": connection.provider, "ends_at": expiry.ends_at.isoformat()},
            )
            await self._uow.commit()
            warned += 1
        return warned
