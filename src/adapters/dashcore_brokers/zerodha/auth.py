"""Zerodha Kite Connect v3 login (``reference/brokers.md`` §2.2-2.3; security.md BKEY-1).

Business rules:
- the browser goes to ``https://kite.zerodha.com/connect/login?v=3&api_key=…``; Kite has no
  OAuth ``state``, so the caller's nonce travels in ``redirect_params`` and comes back on the
  redirect together with a single-use ``request_token`` valid for minutes;
- ``POST /session/token`` (form) sends ``api_key``, ``request_token`` and
  ``checksum = hex(sha256(api_key + request_token + api_secret))``; the secret itself never
  leaves the server;
- every API call carries ``X-Kite-Version: 3``; answers are ``{"status": "success", "data"}``;
  API calls authenticate with ``Authorization: token api_key:access_token``;
- the access token dies at the next 06:00 India time (the descriptor's ``DailyReset``);
- only apps Zerodha approved receive a refresh token (``ProviderConfig.refresh_enabled``):
  ``POST /session/refresh_token`` with ``sha256(api_key + refresh_token + api_secret)``; a new
  refresh token in the answer replaces the old one, else the old one is kept;
- ``DELETE /session/token?api_key=…&access_token=…`` ends the session and, for approved apps,
  the same call with ``refresh_token=…`` ends the refresh token. Kite's protocol puts these
  tokens in the query string; dashcore never logs a query string. A token Kite already
  considers dead counts as revoked.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec
import structlog

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import InvalidInput, ReauthRequired
from dashcore.ports.clock import Clock
from dashcore.ports.providers import CredentialRefresher, CredentialRevoker, RequestTokenLogin
from dashcore_brokers.http import ProviderHttp, decode
from dashcore_brokers.plugin import ProfileReader, ProviderConfig
from dashcore_brokers.zerodha.errors import TOKEN_EXCEPTION, error_type, raise_for_kite

__all__ = [
    "LOGIN_PATH",
    "PROFILE_PATH",
    "REFRESH_PATH",
    "SESSION_PATH",
    "KiteClient",
    "kite_checksum",
]

LOGIN_PATH = "/connect/login"
SESSION_PATH = "/session/token"
REFRESH_PATH = "/session/refresh_token"
PROFILE_PATH = "/user/profile"

T = TypeVar("T")
_log = structlog.get_logger("dashcore_brokers.zerodha")


class _Envelope(msgspec.Struct, Generic[T]):
    status: str
    data: T


class _Session(msgspec.Struct):
    access_token: str
    user_id: str = ""
    refresh_token: str = ""


class _Profile(msgspec.Struct):
    user_id: str


_session = msgspec.json.Decoder(_Envelope[_Session])
_profile = msgspec.json.Decoder(_Envelope[_Profile])


def kite_checksum(api_key: str, token: str, api_secret: str) -> str:
    """Kite's checksum: lowercase hex SHA-256 of the plain concatenation."""
    return hashlib.sha256(f"{api_key}{token}{api_secret}".encode()).hexdigest()


class KiteClient(RequestTokenLogin, CredentialRefresher, CredentialRevoker, ProfileReader):
    """Kite's request-token login, refresh (approved apps), logout and profile read."""

    def __init__(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> None:
        config.require_app_credentials("Zerodha Kite")
        self._config = config
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return f"KiteClient(api_key={self._config.client_id!r})"

    def login_url(self, *, redirect_params: str) -> str:
        params = {"v": "3", "api_key": self._config.client_id}
        if redirect_params:
            params["redirect_params"] = redirect_params
        return f"{self._config.login_base_url.rstrip('/')}{LOGIN_PATH}?{urlencode(params)}"

    async def exchange_request_token(self, request_token: str) -> ProviderCredentials:
        request_token = request_token.strip()
        if not request_token:
            raise InvalidInput("The request token is missing.", field="request_token")
        issued_at = self._clock.now()
        session = await self._session(SESSION_PATH, "request_token", request_token, "exchange")
        return self._credentials(session, issued_at)

    async def refresh(self, credentials: ProviderCredentials) -> ProviderCredentials:
        if not self._config.refresh_enabled or not credentials.refresh_token:
            raise ReauthRequired(
                "Kite sessions of this app cannot be refreshed: log in again.",
                code="refresh_unavailable",
            )
        issued_at = self._clock.now()
        session = await self._session(
            REFRESH_PATH, "refresh_token", credentials.refresh_token, "refresh"
        )
        return self._credentials(session, issued_at, previous=credentials)

    async def revoke(self, credentials: ProviderCredentials) -> None:
        await self._invalidate("access_token", credentials.access_token)
        if credentials.refresh_token:
            await self._invalidate("refresh_token", credentials.refresh_token)

    async def profile(self, credentials: ProviderCredentials) -> str:
        response = await self._http.request(
            "GET", PROFILE_PATH, headers=self._authorization(credentials)
        )
        return self._unwrap(_profile, response, "profile").user_id

    def _authorization(self, credentials: ProviderCredentials) -> dict[str, str]:
        return {"Authorization": f"token {self._config.client_id}:{credentials.access_token}"}

    async def _session(self, path: str, field: str, token: str, operation: str) -> _Session:
        key, secret = self._config.client_id, self._config.client_secret
        form = {"api_key": key, field: token, "checksum": kite_checksum(key, token, secret)}
        response = await self._http.request("POST", path, data=form)
        return self._unwrap(_session, response, operation)

    async def _invalidate(self, field: str, token: str) -> None:
        response = await self._http.request(
            "DELETE", SESSION_PATH, params={"api_key": self._config.client_id, field: token}
        )
        if response.status_code == 200:
            return
        if error_type(response) == TOKEN_EXCEPTION:
            _log.info("provider_token_already_invalid", provider="zerodha", token_kind=field)
            return
        raise_for_kite(response, "revoke")

    @staticmethod
    def _unwrap(
        decoder: msgspec.json.Decoder[_Envelope[T]], response: httpx.Response, operation: str
    ) -> T:
        if response.status_code != 200:
            raise_for_kite(response, operation)
        envelope = decode(decoder, response, "zerodha")
        if envelope.status != "success":
            raise_for_kite(response, operation)
        return envelope.data

    @staticmethod
    def _credentials(
        session: _Session, issued_at: datetime, previous: ProviderCredentials | None = None
    ) -> ProviderCredentials:
        """New credentials; a refresh keeps what the answer leaves out (rotation detection)."""
        return ProviderCredentials(
            access_token=session.access_token,
            issued_at=issued_at,
            refresh_token=session.refresh_token or (previous.refresh_token if previous else None),
            account_ref=session.user_id or (previous.account_ref if previous else None),
        )
