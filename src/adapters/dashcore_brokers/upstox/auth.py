"""Upstox API v2 login: OAuth 2.0 authorization code, no refresh (``reference/brokers.md``
§3.2-3.3).

Business rules:
- consent at ``/v2/login/authorization/dialog`` with ``response_type=code``, ``client_id``
  (the API key), the exact registered ``redirect_uri`` and a one-time ``state``; Upstox
  documents no PKCE, so a ``code_challenge`` is refused rather than silently dropped;
- ``POST /v2/login/authorization/token`` (form, ``Accept: application/json``) sends ``code``,
  ``client_id``, ``client_secret`` (in the body: no Basic auth), ``redirect_uri`` and
  ``grant_type=authorization_code``; the code is spent even when the exchange fails;
- the answer is flat (no envelope): ``access_token`` and the user's ``user_id`` are kept; the
  one-year read-only ``extended_token`` is deliberately not kept (nothing uses it, and a
  long-lived secret not stored cannot leak);
- the access token dies at the next 03:30 India time (the descriptor's ``DailyReset``);
  there is no refresh;
- v2 calls carry ``Api-Version: 2.0``; ``DELETE /v2/logout`` (Bearer) ends the session, and a
  token Upstox already refuses counts as revoked; ``GET /v2/user/profile`` names the user.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from urllib.parse import urlencode

import msgspec
import structlog

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import InvalidInput
from dashcore.ports.clock import Clock
from dashcore.ports.providers import CredentialRevoker, OAuthCodeLogin
from dashcore_brokers.http import ProviderHttp, decode
from dashcore_brokers.plugin import ProfileReader, ProviderConfig
from dashcore_brokers.upstox.errors import INVALID_TOKEN, error_code, raise_for_upstox

__all__ = ["DIALOG_PATH", "LOGOUT_PATH", "PROFILE_PATH", "TOKEN_PATH", "UpstoxClient"]

DIALOG_PATH = "/v2/login/authorization/dialog"
TOKEN_PATH = "/v2/login/authorization/token"  # noqa: S105 (a path)
LOGOUT_PATH = "/v2/logout"
PROFILE_PATH = "/v2/user/profile"

T = TypeVar("T")
_log = structlog.get_logger("dashcore_brokers.upstox")


class _Token(msgspec.Struct):
    access_token: str
    user_id: str = ""


class _Envelope(msgspec.Struct, Generic[T]):
    status: str
    data: T


class _Profile(msgspec.Struct):
    user_id: str


_token = msgspec.json.Decoder(_Token)
_profile = msgspec.json.Decoder(_Envelope[_Profile])


class UpstoxClient(OAuthCodeLogin, CredentialRevoker, ProfileReader):
    """Upstox's authorization-code login, logout and profile read."""

    def __init__(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> None:
        config.require_app_credentials("Upstox")
        self._config = config
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return f"UpstoxClient(client_id={self._config.client_id!r})"

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None = None
    ) -> str:
        if code_challenge is not None:
            raise ValueError("Upstox documents no PKCE: send no code_challenge")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._config.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self._config.login_base_url.rstrip('/')}{DIALOG_PATH}?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> ProviderCredentials:
        if code_verifier is not None:
            raise ValueError("Upstox documents no PKCE: send no code_verifier")
        code = code.strip()
        if not code:
            raise InvalidInput("The authorization code is missing.", field="code")
        issued_at = self._clock.now()
        response = await self._http.request(
            "POST",
            TOKEN_PATH,
            data={
                "code": code,
                "client_id": self._config.client_id,
                "client_secret": self._config.client_secret,
                "redirect_uri": redirect_uri,
                "grant_type": "authorization_code",
            },
        )
        if response.status_code != 200:
            raise_for_upstox(response, "exchange_code")
        token = decode(_token, response, "upstox")
        return ProviderCredentials(
            access_token=token.access_token,
            issued_at=issued_at,
            account_ref=token.user_id or None,
        )

    async def revoke(self, credentials: ProviderCredentials) -> None:
        response = await self._http.request(
            "DELETE", LOGOUT_PATH, headers=self._authorization(credentials)
        )
        if response.status_code == 200:
            return
        if error_code(response) == INVALID_TOKEN:
            _log.info("provider_token_already_invalid", provider="upstox")
            return
        raise_for_upstox(response, "revoke")

    async def profile(self, credentials: ProviderCredentials) -> str:
        response = await self._http.request(
            "GET", PROFILE_PATH, headers=self._authorization(credentials)
        )
        if response.status_code != 200:
            raise_for_upstox(response, "profile")
        envelope = decode(_profile, response, "upstox")
        if envelope.status != "success":
            raise_for_upstox(response, "profile")
        return envelope.data.user_id

    @staticmethod
    def _authorization(credentials: ProviderCredentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials.access_token}"}
