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

The ``InvalidInput`` of a data or order call ends with the first error's ``message``, cleaned
by :func:`~dashcore_brokers.http.broker_reason` ("Upstox refused the request as invalid: …"),
so that the person sees why. The login adapter's calls (code exchange, logout, profile) never
repeat it: it may describe the credentials sent. ``invalidValue`` may echo a secret that was
sent: it is never read. Only the ``errorCode`` is logged.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import InvalidInput, ProviderUnavailable, RateLimited, ReauthRequired
from dashcore_brokers.http import broker_reason, safe_code, with_reason

__all__ = ["INVALID_TOKEN", "error_code", "raise_for_upstox", "refusal_reason"]

INVALID_TOKEN = "UDAPI100050"  # noqa: S105 (an error code)
_TOO_MANY = "UDAPI10005"
_INVALID_CREDENTIALS = "UDAPI100016"
_INVALID_INPUT = frozenset({"UDAPI100036", "UDAPI100038"})
_LOGIN_OPERATIONS: Final = frozenset({"exchange_code", "revoke", "profile"})
"""The operations of the login adapter (``upstox/auth.py``), whose refusals never repeat
Upstox's message."""

_log = structlog.get_logger("dashcore_brokers.upstox")


class _Problem(msgspec.Struct):
    code: str = msgspec.field(name="errorCode", default="")
    message: Any = None


class _Refusal(msgspec.Struct):
    errors: list[_Problem] = msgspec.field(default_factory=list)


_refusal = msgspec.json.Decoder(_Refusal)


def _first_problem(response: httpx.Response) -> _Problem:
    try:
        errors = _refusal.decode(response.content).errors
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Problem()
    return errors[0] if errors else _Problem()


def error_code(response: httpx.Response) -> str | None:
    """The first ``errorCode`` of a refusal, if it names one."""
    return safe_code(_first_problem(response).code)


def refusal_reason(response: httpx.Response, operation: str) -> str | None:
    """The first error's ``message``, cleaned, when ``operation`` may repeat it (see the module
    docstring)."""
    if operation in _LOGIN_OPERATIONS:
        return None
    return broker_reason(_first_problem(response).message)


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
        raise InvalidInput(
            with_reason(
                "Upstox refused the request as invalid", refusal_reason(response, operation)
            ),
            code="provider_invalid_input",
        )
    raise ProviderUnavailable(
        f"Upstox refused the request (HTTP {status}).", code="provider_refused"
    )
