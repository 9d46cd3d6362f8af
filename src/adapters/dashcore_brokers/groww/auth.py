"""Groww token minting (``reference/brokers.md`` §4.2-4.3; security.md BKEY-1).

Business rules:
- no browser: ``POST /v1/token/api/access`` with ``Authorization: Bearer <api key>`` and a JSON
  body, either ``{"key_type": "approval", "checksum", "timestamp"}`` with
  ``checksum = hex(sha256(api_secret + str(epoch_seconds)))`` and ``timestamp`` the same epoch
  seconds (an integer, as the official SDK sends it; Groww accepts it for about 10 minutes),
  or ``{"key_type": "totp", "totp": "<6 digits>"}``; the secret never leaves the server;
- every call carries ``X-API-VERSION: 1.0``;
- the mint answer is flat: ``token`` and ``expiry`` (ISO 8601; without an offset it is read
  as India time); the token dies at the next 06:00 India time (the descriptor's
  ``DailyReset``), never later than ``expiry``;
- no refresh and no revoke API (revocation is in Groww's web UI only);
- ``GET /v1/user/detail`` proves a token works and names the user (``vendor_user_id``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
import structlog

from dashcore.domain.connections import IST, KeyCredentials, ProviderCredentials
from dashcore.domain.errors import ProviderUnavailable
from dashcore.ports.clock import Clock
from dashcore.ports.providers import KeyLogin
from dashcore_brokers.groww.errors import raise_for_groww
from dashcore_brokers.http import ProviderHttp, decode
from dashcore_brokers.plugin import ProfileReader

__all__ = ["MINT_PATH", "PROFILE_PATH", "GrowwClient", "groww_checksum"]

MINT_PATH = "/v1/token/api/access"
PROFILE_PATH = "/v1/user/detail"
_SUCCESS = "SUCCESS"

T = TypeVar("T")
_log = structlog.get_logger("dashcore_brokers.groww")


class _Minted(msgspec.Struct):
    token: str = ""
    expiry: str | None = None
    status: str | None = None


class _Envelope(msgspec.Struct, Generic[T]):
    status: str
    payload: T


class _User(msgspec.Struct):
    vendor_user_id: str


_minted = msgspec.json.Decoder(_Minted)
_user = msgspec.json.Decoder(_Envelope[_User])


def groww_checksum(api_secret: str, epoch_seconds: int) -> str:
    """Groww's approval checksum: hex SHA-256 of the secret followed by the epoch seconds."""
    return hashlib.sha256(f"{api_secret}{epoch_seconds}".encode()).hexdigest()


def _expiry(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _log.warning("provider_bad_expiry", provider="groww")
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=IST)


class GrowwClient(KeyLogin, ProfileReader):
    """Groww's token mint (key + checksum, or TOTP) and profile read."""

    def __init__(self, http: ProviderHttp, clock: Clock) -> None:
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return "GrowwClient()"

    async def mint(self, credentials: KeyCredentials) -> ProviderCredentials:
        issued_at = self._clock.now()
        body: dict[str, Any]
        if credentials.api_secret is not None:
            epoch = int(issued_at.timestamp())
            body = {
                "key_type": "approval",
                "checksum": groww_checksum(credentials.api_secret, epoch),
                "timestamp": epoch,
            }
            typed = "api_secret"
        else:
            body = {"key_type": "totp", "totp": credentials.totp_code}
            typed = "totp_code"
        response = await self._http.request(
            "POST",
            MINT_PATH,
            json=body,
            headers={"Authorization": f"Bearer {credentials.api_key}"},
        )
        if response.status_code != 200:
            raise_for_groww(response, "mint", field=typed)
        minted = decode(_minted, response, "groww")
        if minted.status is not None or not minted.token:
            raise_for_groww(response, "mint", field=typed)
        return ProviderCredentials(
            access_token=minted.token, issued_at=issued_at, expires_at=_expiry(minted.expiry)
        )

    async def profile(self, credentials: ProviderCredentials) -> str:
        response = await self._http.request(
            "GET",
            PROFILE_PATH,
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )
        if response.status_code != 200:
            raise_for_groww(response, "profile")
        envelope = decode(_user, response, "groww")
        if envelope.status != _SUCCESS:
            raise_for_groww(response, "profile")
        if not envelope.payload.vendor_user_id:
            raise ProviderUnavailable("Groww did not name the user.", code="provider_bad_response")
        return envelope.payload.vendor_user_id
