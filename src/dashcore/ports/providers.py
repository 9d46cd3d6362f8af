"""Ports of provider connections (issue #5; security.md OAUTH-1..3, BKEY-1, CRYPTO-1).

One port per login style, because the brokers log in differently:

* :class:`OAuthCodeLogin` — OAuth 2.0 authorization code (Schwab, Upstox): a browser goes to
  the provider's consent page and comes back to our callback with ``code`` (and ``state``).
* :class:`RequestTokenLogin` — redirect + checksum exchange (Zerodha Kite): the browser comes
  back with a ``request_token``; no OAuth ``state`` exists, so the login is bound to a
  server-side pending row through ``redirect_params``.
* :class:`KeyLogin` — no browser (Groww): an API key and secret (checksum of secret and time)
  or a TOTP key and code mint a token.

Adapters translate provider failures into domain errors at their boundary:
``ReauthRequired`` (the provider refused the credentials: consent again), ``RateLimited``
(with ``retry_after``), ``ProviderUnavailable`` (timeouts, 5xx, an open circuit),
``InvalidInput`` (the provider refused what the user typed). Nothing they raise, log or return
in a ``repr`` carries a token, a secret, a code or a checksum.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.connections import (
    KeyCredentials,
    PendingAuthorization,
    ProviderConnection,
    ProviderCredentials,
    ProviderDescriptor,
)
from dashcore.ports.brokers import BrokerGateway

__all__ = [
    "CredentialRefresher",
    "CredentialRevoker",
    "KeyLogin",
    "OAuthCodeLogin",
    "PendingAuthorizationRepository",
    "ProviderAuth",
    "ProviderConnectionRepository",
    "ProviderRegistry",
    "RefreshLock",
    "RequestTokenLogin",
]


class OAuthCodeLogin(Protocol):
    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None = None
    ) -> str:
        """The consent page to send the browser to (``code_challenge`` only where the
        provider supports PKCE S256)."""
        ...

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> ProviderCredentials: ...


class RequestTokenLogin(Protocol):
    def login_url(self, *, redirect_params: str) -> str:
        """The provider's login page; ``redirect_params`` comes back on the redirect."""
        ...

    async def exchange_request_token(self, request_token: str) -> ProviderCredentials: ...


class KeyLogin(Protocol):
    async def mint(self, credentials: KeyCredentials) -> ProviderCredentials: ...


class CredentialRefresher(Protocol):
    async def refresh(self, credentials: ProviderCredentials) -> ProviderCredentials:
        """New credentials. When the provider sends no new refresh token the old one is kept
        in the result (rotation detection is the adapter's)."""
        ...


class CredentialRevoker(Protocol):
    async def revoke(self, credentials: ProviderCredentials) -> None:
        """Invalidate the credentials at the provider (best effort is the caller's call)."""
        ...


class ProviderAuth(Protocol):
    """One provider as the use cases see it: what it is, and the ports it supports (``None``
    where it has no such operation, e.g. Groww has no refresh nor revoke)."""

    @property
    def descriptor(self) -> ProviderDescriptor: ...

    @property
    def oauth(self) -> OAuthCodeLogin | None: ...

    @property
    def request_token(self) -> RequestTokenLogin | None: ...

    @property
    def key_login(self) -> KeyLogin | None: ...

    @property
    def refresher(self) -> CredentialRefresher | None: ...

    @property
    def revoker(self) -> CredentialRevoker | None: ...

    @property
    def gateway(self) -> BrokerGateway | None:
        """Accounts, orders and quotes (issue #6); ``None`` for a login-only provider."""
        ...


class ProviderRegistry(Protocol):
    """The providers this installation knows (discovered through the ``dashcore.providers``
    entry-point group) and which of them are configured (credentials present)."""

    def available(self) -> Sequence[ProviderDescriptor]: ...

    def configured(self) -> Sequence[ProviderDescriptor]: ...

    def get(self, provider: str) -> ProviderAuth:
        """The configured provider; ``NotFound`` (``provider_not_found``) for an unknown key,
        ``Conflict`` (``provider_not_configured``) for one without credentials."""
        ...


class ProviderConnectionRepository(Protocol):
    async def add(self, connection: ProviderConnection) -> None: ...

    async def get(self, connection_id: UUID) -> ProviderConnection | None: ...

    async def lock(self, connection_id: UUID) -> ProviderConnection | None:
        """Read under a row lock held until the unit of work ends."""
        ...

    async def save(self, connection: ProviderConnection) -> None: ...

    async def delete(self, connection_id: UUID) -> bool:
        """Remove the connection (its pending authorizations go with it)."""
        ...

    async def list_for_user(self, user_id: UUID) -> Sequence[ProviderConnection]:
        """The user's connections, oldest first (disconnected ones included)."""
        ...

    async def expiring(self, before: datetime, *, limit: int) -> Sequence[ProviderConnection]:
        """Usable connections whose credentials end before ``before``, soonest first."""
        ...

    async def access_expiring(
        self, before: datetime, *, providers: Collection[str], limit: int
    ) -> Sequence[ProviderConnection]:
        """Connected connections of ``providers`` whose *access* token expires before
        ``before``, soonest first (candidates for a refresh ahead of expiry)."""
        ...


class PendingAuthorizationRepository(Protocol):
    async def add(self, pending: PendingAuthorization) -> None: ...

    async def consume(self, state_hash: str, at: datetime) -> PendingAuthorization | None:
        """Use up the pending authorization if it is unconsumed and unexpired (one winner);
        ``None`` otherwise."""
        ...

    async def delete_expired(self, before: datetime) -> int: ...


class RefreshLock(Protocol):
    """Single flight across processes: at most one holder per key at a time."""

    async def acquire(self, key: str, *, ttl_seconds: float, wait_seconds: float) -> str | None:
        """A token proving ownership, or ``None`` if the key stayed held for ``wait_seconds``."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Release only if ``token`` still owns the key (an expired lock is not stolen back)."""
        ...
