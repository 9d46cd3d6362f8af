"""Bodies of the provider-connection endpoints. Credentials a user types (Groww's API key and
secret or TOTP code) are accepted here and never returned; provider tokens never appear."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from dashcore.domain.connections import RETURN_TO_PATTERN
from dashcore_http.schemas.auth import CodeText

__all__ = [
    "AuthorizationRequest",
    "AuthorizationStart",
    "AuthorizationStatus",
    "ConnectionCreate",
    "ConnectionUpdate",
    "ConnectionView",
    "ProblemSummary",
    "ProviderView",
]

ProviderKey = Annotated[str, msgspec.Meta(min_length=2, max_length=32)]
Alias = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
ReturnTo = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=RETURN_TO_PATTERN)]


class ProviderView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    login_style: Literal["oauth2_code", "request_token", "api_key"]
    refreshable: bool
    revocable: bool
    configured: bool
    sandbox: bool


class ConnectionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``trade: true`` asks for trading permission as well as reading."""

    provider: ProviderKey
    alias: Alias | None = None
    trade: bool = False


class ConnectionUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alias: Alias | None


class ProblemSummary(msgspec.Struct, frozen=True):
    code: str
    message: str


class ConnectionView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    provider: str
    alias: str | None
    status: str
    scopes: tuple[str, ...]
    created_at: datetime
    connected_at: datetime | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_refreshed_at: datetime | None
    needs_reauth: bool
    last_error: ProblemSummary | None


class AuthorizationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Redirect providers: optional ``return_to`` (a path on this site) for after the
    callback. Key providers (Groww): ``api_key`` with ``api_secret``, or with ``totp_code``."""

    return_to: ReturnTo | None = None
    api_key: Secret | None = None
    api_secret: Secret | None = None
    totp_code: CodeText | None = None


class AuthorizationStart(msgspec.Struct, frozen=True, kw_only=True):
    """Send the browser to ``authorization_url`` within ``expires_in`` seconds; it comes back
    to the provider's callback."""

    status: Literal["redirect"] = "redirect"
    authorization_url: str
    expires_in: int


class AuthorizationStatus(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: UUID
    status: str
    connected: bool
    needs_reauth: bool
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_refreshed_at: datetime | None
    last_error: ProblemSummary | None
