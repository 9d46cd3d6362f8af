"""Charles Schwab login: OAuth 2.0 authorization code with HTTP Basic client authentication
(``reference/brokers.md`` §1.2-1.3).

Business rules:
- consent at ``/v1/oauth/authorize`` with ``response_type=code``, ``client_id`` (app key),
  the exact registered ``redirect_uri`` and a one-time ``state``; Schwab documents no PKCE,
  so a ``code_challenge`` is refused here rather than silently dropped;
- the callback's code ends in ``@``, which arrives URL-encoded as ``%40`` when copied raw:
  both spellings are exchanged as ``…@``;
- ``/v1/oauth/token`` takes a form body and ``Authorization: Basic base64(key:secret)`` for
  both the code exchange and the refresh;
- the access token lives ``expires_in`` seconds (1800); the refresh token lives 7 days from
  the original consent and a refresh never extends it (the descriptor's
  ``FixedLifetimes(30 min, 7 days)``); when a refresh answer carries no refresh token the old
  one is kept;
- Schwab has no revoke endpoint; ``/trader/v1/userPreference`` proves a token works and names
  the customer (``streamerInfo[].schwabClientCustomerId``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

import msgspec

from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import InvalidInput, ProviderUnavailable, ReauthRequired
from dashcore.ports.clock import Clock
from dashcore.ports.providers import CredentialRefresher, OAuthCodeLogin
from dashcore_brokers.http import ProviderHttp, decode
from dashcore_brokers.plugin import ProfileReader, ProviderConfig
from dashcore_brokers.schwab.errors import raise_for_api, raise_for_token

__all__ = ["AUTHORIZE_PATH", "PREFERENCES_PATH", "TOKEN_PATH", "SchwabClient"]

AUTHORIZE_PATH = "/v1/oauth/authorize"
TOKEN_PATH = "/v1/oauth/token"  # noqa: S105 (a path)
PREFERENCES_PATH = "/trader/v1/userPreference"
_ENCODED_AT = "%40"


class _TokenAnswer(msgspec.Struct):
    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None


class _Streamer(msgspec.Struct):
    customer_id: str = msgspec.field(name="schwabClientCustomerId")


class _Preferences(msgspec.Struct):
    streamers: list[_Streamer] = msgspec.field(name="streamerInfo", default_factory=list)


_token_answer = msgspec.json.Decoder(_TokenAnswer)
_preferences = msgspec.json.Decoder(_Preferences)


def normalize_code(code: str) -> str:
    """The code as Schwab issued it: a raw ``%40`` suffix is the ``@`` it stands for."""
    if code.endswith(_ENCODED_AT):
        return code[: -len(_ENCODED_AT)] + "@"
    return code


def _expires_at(issued_at: datetime, expires_in: int | None) -> datetime | None:
    return issued_at + timedelta(seconds=expires_in) if expires_in and expires_in > 0 else None


class SchwabClient(OAuthCodeLogin, CredentialRefresher, ProfileReader):
    """Schwab's authorization-code login, refresh and profile read."""

    def __init__(self, config: ProviderConfig, http: ProviderHttp, clock: Clock) -> None:
        config.require_app_credentials("Schwab")
        self._config = config
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return f"SchwabClient(client_id={self._config.client_id!r})"

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None = None
    ) -> str:
        if code_challenge is not None:
            raise ValueError("Schwab documents no PKCE: send no code_challenge")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._config.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self._config.login_base_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> ProviderCredentials:
        if code_verifier is not None:
            raise ValueError("Schwab documents no PKCE: send no code_verifier")
        code = normalize_code(code.strip())
        if not code:
            raise InvalidInput("The authorization code is missing.", field="code")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        answer, issued_at = await self._token(form, refreshing=False)
        return ProviderCredentials(
            access_token=answer.access_token,
            issued_at=issued_at,
            refresh_token=answer.refresh_token or None,
            expires_at=_expires_at(issued_at, answer.expires_in),
        )

    async def refresh(self, credentials: ProviderCredentials) -> ProviderCredentials:
        if not credentials.refresh_token:
            raise ReauthRequired(
                "This Schwab connection has no refresh token: sign in again.",
                code="refresh_token_missing",
            )
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
        answer, issued_at = await self._token(form, refreshing=True)
        return ProviderCredentials(
            access_token=answer.access_token,
            issued_at=issued_at,
            refresh_token=answer.refresh_token or credentials.refresh_token,
            expires_at=_expires_at(issued_at, answer.expires_in),
            account_ref=credentials.account_ref,
        )

    async def profile(self, credentials: ProviderCredentials) -> str:
        response = await self._http.request(
            "GET",
            PREFERENCES_PATH,
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )
        if response.status_code != 200:
            raise_for_api(response)
        preferences = decode(_preferences, response, "schwab")
        if not preferences.streamers or not preferences.streamers[0].customer_id:
            raise ProviderUnavailable(
                "Schwab did not name the customer.", code="provider_bad_response"
            )
        return preferences.streamers[0].customer_id

    async def _token(
        self, form: dict[str, str], *, refreshing: bool
    ) -> tuple[_TokenAnswer, datetime]:
        # Taken before sending: a lifetime counted from here never outlives the real one.
        issued_at = self._clock.now()
        response = await self._http.request(
            "POST",
            TOKEN_PATH,
            data=form,
            auth=(self._config.client_id, self._config.client_secret),
        )
        if response.status_code != 200:
            raise_for_token(response, refreshing=refreshing)
        return decode(_token_answer, response, "schwab"), issued_at
