"""Provider connections: a user's link to one brokerage login (issue #5; security.md OAUTH-3).

A :class:`ProviderConnection` is created *pending*, becomes *connected* when the provider hands
over credentials, and lives through refreshes until the provider's credentials end. Its states:

    pending ──► connected ⇄ refreshing
       │            │  ▲
       │            ▼  │ (repair in place: same id, and later the same account ids)
       │        needs_reauth
       ▼
    error (with a reason) ──► connected (after a new authorization) / needs_reauth
    any state ──► disconnected (final: credentials deleted, revoked where the provider can)

A connection's credentials expire on the provider's calendar (:class:`ExpiryRule`): Schwab's
access token after 30 minutes and its refresh token 7 days after the *original* consent (a
refresh does not extend it); Zerodha Kite's and Groww's tokens at the next 06:00 and Upstox's at
the next 03:30, India Standard Time, whenever they were issued. An expired connection needs the
user's consent again; it never retries silently.

What a connection shows is what it can do (:meth:`ProviderConnection.as_of`): one still stored
as connected (or refreshing) whose credentials are past their end reads as ``needs_reauth``
(``credentials_expired``) from that moment, without waiting for anything to write it. A
refreshable connection whose access token ended but whose refresh horizon has not is still
connected: it is refreshed before its next use (:meth:`ProviderConnection.access_refresh_due`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.mfa import parse_one_time_code
from dashcore.domain.time import ensure_utc

__all__ = [
    "CREDENTIALS_EXPIRED",
    "CREDENTIALS_UNREADABLE",
    "IST",
    "PENDING_AUTHORIZATION_TTL",
    "RETURN_TO_PATTERN",
    "ConnectionError_",
    "ConnectionScope",
    "ConnectionStatus",
    "CredentialExpiry",
    "DailyReset",
    "ExpiryRule",
    "FixedLifetimes",
    "KeyCredentials",
    "LoginStyle",
    "PendingAuthorization",
    "ProviderConnection",
    "ProviderCredentials",
    "ProviderDescriptor",
    "check_return_to",
    "hash_state",
    "new_state",
    "parse_alias",
    "parse_provider_key",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time: UTC+05:30 all year (no daylight saving since 1945)."""

_PROVIDER_KEY = re.compile(r"[a-z][a-z0-9_]{1,31}", re.ASCII)
ALIAS_MAX = 60


def parse_provider_key(text: str) -> str:
    """A provider key (``schwab``, ``zerodha``): 2-32 of ``a-z 0-9 _``, starting with a letter."""
    if not isinstance(text, str) or not _PROVIDER_KEY.fullmatch(text):
        raise InvalidInput("Not a provider key.", code="invalid_provider", field="provider")
    return text


def parse_alias(text: str | None) -> str | None:
    """A person's name for a connection: trimmed, 1-60 printable characters, or ``None``."""
    if text is None:
        return None
    alias = text.strip()
    if not alias or len(alias) > ALIAS_MAX or not alias.isprintable():
        raise InvalidInput(
            f"An alias is 1 to {ALIAS_MAX} printable characters.",
            code="invalid_alias",
            field="alias",
        )
    return alias


class ConnectionStatus(StrEnum):
    PENDING = "pending"
    CONNECTED = "connected"
    REFRESHING = "refreshing"
    NEEDS_REAUTH = "needs_reauth"
    ERROR = "error"
    DISCONNECTED = "disconnected"


class ConnectionScope(StrEnum):
    """What the connection may do at the provider: read data, or also trade."""

    READ = "read"
    TRADE = "trade"


_TRANSITIONS: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    ConnectionStatus.PENDING: frozenset(
        {ConnectionStatus.CONNECTED, ConnectionStatus.ERROR, ConnectionStatus.DISCONNECTED}
    ),
    ConnectionStatus.CONNECTED: frozenset(
        {
            ConnectionStatus.CONNECTED,
            ConnectionStatus.REFRESHING,
            ConnectionStatus.NEEDS_REAUTH,
            ConnectionStatus.ERROR,
            ConnectionStatus.DISCONNECTED,
        }
    ),
    ConnectionStatus.REFRESHING: frozenset(
        {
            ConnectionStatus.CONNECTED,
            ConnectionStatus.NEEDS_REAUTH,
            ConnectionStatus.ERROR,
            ConnectionStatus.DISCONNECTED,
        }
    ),
    ConnectionStatus.NEEDS_REAUTH: frozenset(
        {ConnectionStatus.CONNECTED, ConnectionStatus.ERROR, ConnectionStatus.DISCONNECTED}
    ),
    ConnectionStatus.ERROR: frozenset(
        {
            ConnectionStatus.CONNECTED,
            ConnectionStatus.NEEDS_REAUTH,
            ConnectionStatus.ERROR,  # another failed authorization: the newer reason
            ConnectionStatus.DISCONNECTED,
        }
    ),
    ConnectionStatus.DISCONNECTED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class ConnectionError_:  # noqa: N801 (ConnectionError is a builtin)
    """Why a connection is not usable: a stable ``code`` and words for people (no secrets)."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > 64 or len(self.message) > 500:
            raise ValueError("an error code is 1-64 characters, a message at most 500")


CREDENTIALS_EXPIRED = ConnectionError_(
    "credentials_expired", "The provider login has ended: sign in at the provider again."
)
"""Why a connection past its credentials' end needs a new login."""
CREDENTIALS_UNREADABLE = ConnectionError_(
    "credentials_unreadable",
    "The stored credentials could not be opened: connect this account at the provider again.",
)
"""Why a connection whose sealed credentials fail to open (tampered with, moved, or sealed under
a vault key the ring no longer holds) fails closed."""


@dataclass(frozen=True, slots=True)
class CredentialExpiry:
    """When a connection's credentials stop working: the access token at ``access_expires_at``,
    and the ability to refresh it at ``refresh_expires_at`` (``None``: the provider has no
    refresh, so the access expiry is the end)."""

    access_expires_at: datetime
    refresh_expires_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "access_expires_at", ensure_utc(self.access_expires_at, field="access_expires_at")
        )
        if self.refresh_expires_at is not None:
            object.__setattr__(
                self,
                "refresh_expires_at",
                ensure_utc(self.refresh_expires_at, field="refresh_expires_at"),
            )

    @property
    def ends_at(self) -> datetime:
        """When the user must consent again."""
        return self.refresh_expires_at or self.access_expires_at


class ExpiryRule(Protocol):
    """A provider's credential calendar."""

    def at_consent(self, issued_at: datetime) -> CredentialExpiry:
        """Expiry of credentials from a fresh authorization at ``issued_at``."""
        ...

    def at_refresh(self, issued_at: datetime, previous: CredentialExpiry) -> CredentialExpiry:
        """Expiry after a refresh at ``issued_at``; the refresh horizon never moves."""
        ...


@dataclass(frozen=True, slots=True)
class FixedLifetimes:
    """Access tokens live ``access``; refreshing is possible until ``refresh`` after the
    original consent and does not extend it (Schwab: 30 minutes and 7 days)."""

    access: timedelta
    refresh: timedelta | None = None

    def at_consent(self, issued_at: datetime) -> CredentialExpiry:
        issued_at = ensure_utc(issued_at)
        horizon = None if self.refresh is None else issued_at + self.refresh
        return CredentialExpiry(self._capped(issued_at + self.access, horizon), horizon)

    def at_refresh(self, issued_at: datetime, previous: CredentialExpiry) -> CredentialExpiry:
        horizon = previous.refresh_expires_at
        return CredentialExpiry(self._capped(ensure_utc(issued_at) + self.access, horizon), horizon)

    @staticmethod
    def _capped(access: datetime, horizon: datetime | None) -> datetime:
        return access if horizon is None else min(access, horizon)


@dataclass(frozen=True, slots=True)
class DailyReset:
    """Tokens die at the next ``at`` (wall clock in ``zone``) after they were issued, however
    recently: Kite and Groww at 06:00 IST, Upstox at 03:30 IST (a token minted at 02:30 dies
    an hour later). No refresh."""

    at: time
    zone: timezone = IST

    def next_reset(self, after: datetime) -> datetime:
        local = ensure_utc(after).astimezone(self.zone)
        reset = datetime.combine(local.date(), self.at, tzinfo=self.zone)
        if reset <= local:
            reset += timedelta(days=1)
        return reset.astimezone(UTC)

    def at_consent(self, issued_at: datetime) -> CredentialExpiry:
        return CredentialExpiry(self.next_reset(issued_at))

    def at_refresh(self, issued_at: datetime, previous: CredentialExpiry) -> CredentialExpiry:
        return CredentialExpiry(self.next_reset(issued_at))


@dataclass(frozen=True, slots=True)
class ProviderConnection:
    """One user's connection to one provider. Immutable: each transition returns the next
    state and refuses a move the state machine does not allow (``Conflict``
    ``invalid_connection_transition``)."""

    id: UUID
    user_id: UUID
    provider: str
    status: ConnectionStatus
    scopes: frozenset[ConnectionScope]
    created_at: datetime
    updated_at: datetime
    alias: str | None = None
    connected_at: datetime | None = None
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    last_error: ConnectionError_ | None = None
    reauth_warned_for: datetime | None = None
    """The credential end (``ends_at``) the owner was last warned about: one warning each."""

    def __post_init__(self) -> None:
        parse_provider_key(self.provider)
        for name in (
            "created_at",
            "updated_at",
            "connected_at",
            "expires_at",
            "refresh_expires_at",
            "last_refreshed_at",
            "reauth_warned_for",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        if ConnectionScope.READ not in self.scopes:
            raise InvalidInput("Every connection can read.", code="invalid_scopes", field="scopes")

    @classmethod
    def create(
        cls,
        connection_id: UUID,
        user_id: UUID,
        provider: str,
        now: datetime,
        *,
        alias: str | None = None,
        scopes: frozenset[ConnectionScope] = frozenset({ConnectionScope.READ}),
    ) -> ProviderConnection:
        return cls(
            id=connection_id,
            user_id=user_id,
            provider=parse_provider_key(provider),
            status=ConnectionStatus.PENDING,
            scopes=scopes | {ConnectionScope.READ},
            created_at=now,
            updated_at=now,
            alias=parse_alias(alias),
        )

    @property
    def can_trade(self) -> bool:
        return ConnectionScope.TRADE in self.scopes

    @property
    def credential_expiry(self) -> CredentialExpiry | None:
        if self.expires_at is None:
            return None
        return CredentialExpiry(self.expires_at, self.refresh_expires_at)

    def is_usable(self, now: datetime) -> bool:
        """Connected (or refreshing) with credentials not yet past their end."""
        expiry = self.credential_expiry
        return (
            self.status in (ConnectionStatus.CONNECTED, ConnectionStatus.REFRESHING)
            and expiry is not None
            and now < expiry.ends_at
        )

    def as_of(self, now: datetime) -> ProviderConnection:
        """The connection as it stands at ``now``: a connected (or refreshing) one whose
        credentials are past their end (the refresh horizon for a refreshable provider, the
        access token's end for a daily one) is ``needs_reauth`` with ``credentials_expired``,
        since the end; any other is itself. It then reads exactly as :meth:`is_usable` decides
        (nothing is written: the stored state catches up on the next login)."""
        expiry = self.credential_expiry
        if (
            self.status not in (ConnectionStatus.CONNECTED, ConnectionStatus.REFRESHING)
            or expiry is None
            or now < expiry.ends_at
        ):
            return self
        return self._to(
            ConnectionStatus.NEEDS_REAUTH, expiry.ends_at, last_error=CREDENTIALS_EXPIRED
        )

    def access_refresh_due(self, now: datetime, ahead: timedelta) -> bool:
        """Usable, refreshable, and its access token ends within ``ahead`` (or has ended)
        before its refresh horizon: refresh it before it is used. A token already capped at the
        horizon is not refreshed (a refresh cannot extend it)."""
        return (
            self.is_usable(now)
            and self.expires_at is not None
            and self.refresh_expires_at is not None
            and self.expires_at < self.refresh_expires_at
            and self.expires_at - now <= ahead
        )

    def _to(self, status: ConnectionStatus, now: datetime, **changes: object) -> ProviderConnection:
        if status not in _TRANSITIONS[self.status]:
            raise Conflict(
                f"A {self.status} connection cannot become {status}.",
                code="invalid_connection_transition",
            )
        return replace(self, status=status, updated_at=now, **changes)  # type: ignore[arg-type]

    def connected(self, now: datetime, expiry: CredentialExpiry) -> ProviderConnection:
        """Credentials from a (new) authorization: the same connection, repaired in place."""
        return self._to(
            ConnectionStatus.CONNECTED,
            now,
            connected_at=now,
            expires_at=expiry.access_expires_at,
            refresh_expires_at=expiry.refresh_expires_at,
            last_refreshed_at=None,
            last_error=None,
        )

    def refreshing(self, now: datetime) -> ProviderConnection:
        return self._to(ConnectionStatus.REFRESHING, now)

    def refreshed(self, now: datetime, expiry: CredentialExpiry) -> ProviderConnection:
        """New credentials from a refresh: only a refreshing connection gets them (a connection
        that needs consent never comes back by a refresh)."""
        self._require_refreshing()
        return self._to(
            ConnectionStatus.CONNECTED,
            now,
            expires_at=expiry.access_expires_at,
            refresh_expires_at=expiry.refresh_expires_at,
            last_refreshed_at=now,
            last_error=None,
        )

    def refresh_failed(self, now: datetime, error: ConnectionError_) -> ProviderConnection:
        """The provider could not be reached: still connected on the old credentials, with
        the error recorded (the next attempt decides)."""
        self._require_refreshing()
        return self._to(ConnectionStatus.CONNECTED, now, last_error=error)

    def _require_refreshing(self) -> None:
        if self.status is not ConnectionStatus.REFRESHING:
            raise Conflict(
                f"A {self.status} connection was not refreshing.",
                code="invalid_connection_transition",
            )

    def needs_reauth(self, now: datetime, error: ConnectionError_) -> ProviderConnection:
        return self._to(ConnectionStatus.NEEDS_REAUTH, now, last_error=error)

    def failed(self, now: datetime, error: ConnectionError_) -> ProviderConnection:
        return self._to(ConnectionStatus.ERROR, now, last_error=error)

    def consent_denied(self, now: datetime, error: ConnectionError_) -> ProviderConnection:
        """The user said no at the provider: the connection stays as it was, with the reason
        (a disconnected one stays untouched: it is final)."""
        if self.status is ConnectionStatus.DISCONNECTED:
            raise Conflict(
                "A disconnected connection cannot be authorized.",
                code="invalid_connection_transition",
            )
        return replace(self, updated_at=now, last_error=error)

    def disconnected(self, now: datetime) -> ProviderConnection:
        return self._to(
            ConnectionStatus.DISCONNECTED,
            now,
            expires_at=None,
            refresh_expires_at=None,
        )

    def reauth_warning_due(self, now: datetime, window: timedelta) -> bool:
        """Usable, ending within ``window``, and not yet warned about this end."""
        expiry = self.credential_expiry
        return (
            self.is_usable(now)
            and expiry is not None
            and expiry.ends_at - now <= window
            and self.reauth_warned_for != expiry.ends_at
        )

    def reauth_warned(self) -> ProviderConnection:
        expiry = self.credential_expiry
        assert expiry is not None, "only a connection with credentials is warned"
        return replace(self, reauth_warned_for=expiry.ends_at)

    def renamed(self, alias: str | None, now: datetime) -> ProviderConnection:
        return replace(self, alias=parse_alias(alias), updated_at=now)


# ------------------------------------------------------------------- providers and credentials


class LoginStyle(StrEnum):
    OAUTH2_CODE = "oauth2_code"
    """Browser consent, back with ``code`` (+ ``state``): Schwab, Upstox."""
    REQUEST_TOKEN = "request_token"  # noqa: S105 (a login style, not a token)
    """Browser login, back with a ``request_token`` exchanged with a checksum: Zerodha Kite."""
    API_KEY = "api_key"
    """No browser: key + secret, or a TOTP key + code, mint a token: Groww."""


@dataclass(frozen=True, slots=True)
class ProviderDescriptor:
    """What a provider is, as users and use cases see it."""

    key: str
    name: str
    login_style: LoginStyle
    expiry: ExpiryRule
    refreshable: bool
    revocable: bool
    configured: bool = False
    sandbox: bool = False

    def __post_init__(self) -> None:
        parse_provider_key(self.key)


@dataclass(frozen=True, slots=True)
class ProviderCredentials:
    """What a provider handed over. Secrets never show in a ``repr``.

    ``expires_at`` is what the provider said (``expires_in``, an ``expiry`` field) or ``None``;
    the connection's calendar comes from the provider's :class:`ExpiryRule` and is capped by it.
    ``account_ref`` is the provider's user id (Kite ``user_id``, Upstox ``user_id``), not secret.
    """

    access_token: str = field(repr=False)
    issued_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    account_ref: str | None = None

    def __post_init__(self) -> None:
        if not self.access_token:
            raise ValueError("credentials need an access token")
        object.__setattr__(self, "issued_at", ensure_utc(self.issued_at, field="issued_at"))
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", ensure_utc(self.expires_at, field="expires_at"))

    def expiry(
        self, rule: ExpiryRule, previous: CredentialExpiry | None = None
    ) -> CredentialExpiry:
        """The calendar of these credentials: the rule's, never later than what the provider
        said."""
        calendar = (
            rule.at_consent(self.issued_at)
            if previous is None
            else rule.at_refresh(self.issued_at, previous)
        )
        if self.expires_at is None or self.expires_at >= calendar.access_expires_at:
            return calendar
        return replace(calendar, access_expires_at=self.expires_at)


@dataclass(frozen=True, slots=True)
class KeyCredentials:
    """What a user gives a key-login provider (Groww): an API key with its secret, or a TOTP
    key with the current code. Never stored as given: only the minted token is kept."""

    api_key: str = field(repr=False)
    api_secret: str | None = field(default=None, repr=False)
    totp_code: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.api_key or len(self.api_key) > 4096:
            raise InvalidInput(
                "An API key is required.", code="invalid_credentials", field="api_key"
            )
        if bool(self.api_secret) == bool(self.totp_code):
            raise InvalidInput(
                "Give the API secret, or a TOTP code.",
                code="invalid_credentials",
                field="api_secret",
            )
        if self.totp_code is not None:  # a typo never reaches the provider (nor fails a login)
            parse_one_time_code(self.totp_code, field="totp_code")


# --------------------------------------------------------------------- pending authorizations

PENDING_AUTHORIZATION_TTL = timedelta(minutes=10)
RETURN_TO_PATTERN = r"^(?:/[A-Za-z0-9_-]+)*/?$"
"""Where a browser may be sent after a callback (OAUTH-2): a path on this site, ``/`` then
segments of letters, digits, ``_`` and ``-``. No ``//`` (a protocol-relative URL is another
site), no backslash, no scheme, no query."""
_RETURN_TO = re.compile(RETURN_TO_PATTERN, re.ASCII)


def check_return_to(value: str) -> str:
    """``value`` if it is a path on this site by :data:`RETURN_TO_PATTERN` (matched whole: a
    trailing newline is refused too), else ``InvalidInput`` naming ``return_to``."""
    if not value or len(value) > 200 or _RETURN_TO.fullmatch(value) is None:
        raise InvalidInput(
            "return_to must be a path on this site, such as /connections.", field="return_to"
        )
    return value


STATE_BYTES = 32


def new_state() -> str:
    """A one-time OAuth ``state`` (or Kite ``redirect_params`` nonce): 256 bits, base64url."""
    return secrets.token_urlsafe(STATE_BYTES)


def hash_state(state: str) -> str:
    """What is stored of a state: its SHA-256, hex (a leaked table cannot answer a callback)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """One authorization in flight (OAUTH-1, BKEY-1): bound to the user, the session that
    started it, the connection and the provider; single use; 10 minutes."""

    state_hash: str
    user_id: UUID
    session_id: str
    connection_id: UUID
    provider: str
    redirect_uri: str
    created_at: datetime
    expires_at: datetime
    code_verifier: str | None = field(default=None, repr=False)
    return_to: str | None = None
    consumed_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "expires_at", "consumed_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))

    @classmethod
    def start(
        cls,
        state: str,
        connection: ProviderConnection,
        session_id: str,
        redirect_uri: str,
        now: datetime,
        *,
        code_verifier: str | None = None,
        return_to: str | None = None,
    ) -> PendingAuthorization:
        return cls(
            state_hash=hash_state(state),
            user_id=connection.user_id,
            session_id=session_id,
            connection_id=connection.id,
            provider=connection.provider,
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=now + PENDING_AUTHORIZATION_TTL,
            code_verifier=code_verifier,
            return_to=None if return_to is None else check_return_to(return_to),
        )
