"""Upstox's refusals as domain errors (``reference/brokers.md`` §3.7).

A refusal is ``{"status": "error", "errors": [{"errorCode", "message", "propertyPath",
"invalidValue"}]}``:
- ``UDAPI100050`` (invalid token) is ``ReauthRequired``;
- ``UDAPI10005`` (too many requests) is ``RateLimited`` (a 429 is already that, in the HTTP
  policy);
- ``UDAPI100016`` (invalid credentials) on the code exchange is ``ReauthRequired`` when the code
  was refused (400) and ``ProviderUnavailable`` (``provider_client_rejected``) when this app's
  secret was (401);
- ``UDAPI100036`` / ``UDAPI100038`` (invalid input) are ``InvalidInput``;
- anything else is ``ProviderUnavailable``.
``invalidValue`` may echo a secret that was sent: it is never read.
"""

from __future__ import annotations

from typing import NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import InvalidInput, ProviderUnavailable, RateLimited, ReauthRequired
from dashcore_brokers.http import safe_code

__all__ = ["INVALID_TOKEN", "error_code", "raise_for_upstox"]

INVALID_TOKEN = "UDAPI100050"  # noqa: S105 (an error code)
_TOO_MANY = "UDAPI10005"
_INVALID_CREDENTIALS = "UDAPI100016"
_INVALID_INPUT = frozenset({"UDAPI100036", "UDAPI100038"})

_log = structlog.get_logger("dashcore_brokers.upstox")


class _Problem(msgspec.Struct):
    code: str = msgspec.field(name="errorCode", default="")


class _Refusal(msgspec.Struct):
    errors: list[_Problem] = msgspec.field(default_factory=list)


_refusal = msgspec.json.Decoder(_Refusal)


def error_code(response: httpx.Response) -> str | None:
    """The first ``errorCode`` of a refusal, if it names one."""
    try:
        errors = _refusal.decode(response.content).errors
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return safe_code(errors[0].code) if errors else None


def raise_for_upstox(response: httpx.Response, operation: str) -> NoReturn:
    """Translate a refused Upstox call."""
    code = error_code(response)
    status = response.status_code
    _log.warning(
        "provider_refused", provider="upstox", operation=operation, status=status, error=code
    )
    if code == INVALID_TOKEN:
        raise ReauthRequired(
            "Upstox refused the access token (expired or logged out): log in again.",
            code="access_token_rejected",
        )
    if code == _TOO_MANY:
        raise RateLimited("Upstox asks to slow down.", retry_after=1, code="provider_rate_limited")
    if code == _INVALID_CREDENTIALS and status == 401:
        raise ProviderUnavailable(
            "Upstox refused this application's credentials; check the client id and secret.",
            code="provider_client_rejected",
        )
    if code == _INVALID_CREDENTIALS:
        raise ReauthRequired(
            "Upstox refused the authorization code (used, expired or not ours): start again.",
            code="authorization_code_rejected",
        )
    if code in _INVALID_INPUT:
        raise InvalidInput("Upstox refused the request as invalid.", code="provider_invalid_input")
    raise ProviderUnavailable(
        f"Upstox refused the request (HTTP {status}).", code="provider_refused"
    )
