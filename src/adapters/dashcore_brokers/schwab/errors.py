"""Schwab's refusals as domain errors (``reference/brokers.md`` §1.2, §1.7; docs/sandboxes.md).

The token endpoint answers OAuth errors ``{"error", "error_description"}``:
- on a refresh, ``invalid_client`` (Schwab's word for a refresh token past its 7 days),
  ``unsupported_token_type`` (seen wrapping ``refresh_token_authentication_error``) and
  ``invalid_grant`` mean the user must consent again: ``ReauthRequired``;
- on a code exchange, ``invalid_grant`` (a used, expired or foreign code) is ``ReauthRequired``
  (``authorization_code_rejected``), and ``invalid_client`` means this app's key or secret is
  wrong: ``ProviderUnavailable`` (``provider_client_rejected``), an operator's problem.
The Trader API answers ``{"message", "errors": [...]}``: 401 is ``ReauthRequired``, 403
``Forbidden``, 400 ``InvalidInput``.

The ``InvalidInput`` of an account call (a path under ``/trader/v1/accounts/``: balances,
positions, transactions, orders) ends with Schwab's reason, cleaned by
:func:`~dashcore_brokers.http.broker_reason` ("Schwab refused the request as invalid: …"): the
``errors`` entries (the specifics) joined with "; ", else the ``message``. Nothing the token
endpoint wrote, and nothing another Trader API call wrote (the login adapter's profile read
included), is repeated; a code that looks like one is logged, never a reason.
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import Forbidden, InvalidInput, ProviderUnavailable, ReauthRequired
from dashcore_brokers.http import broker_reason, safe_code, with_reason

__all__ = ["api_reason", "raise_for_api", "raise_for_token"]

_log = structlog.get_logger("dashcore_brokers.schwab")
_REAUTH_ON_REFRESH = frozenset({"invalid_client", "unsupported_token_type", "invalid_grant"})
_ACCOUNT_CALLS = "/trader/v1/accounts/"


class _OAuthError(msgspec.Struct):
    error: str = ""


_oauth_error = msgspec.json.Decoder(_OAuthError)


def _oauth_code(response: httpx.Response) -> str | None:
    try:
        return safe_code(_oauth_error.decode(response.content).error)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class _ServiceError(msgspec.Struct):
    message: Any = None
    errors: Any = None


_service_error = msgspec.json.Decoder(_ServiceError)


def api_reason(response: httpx.Response) -> str | None:
    """Schwab's reason for refusing an account call (see the module docstring)."""
    if _ACCOUNT_CALLS not in response.request.url.path:
        return None
    try:
        refusal = _service_error.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    details = refusal.errors if isinstance(refusal.errors, list) else []
    specifics = "; ".join(detail for detail in details if isinstance(detail, str))
    return broker_reason(specifics) or broker_reason(refusal.message)


def raise_for_token(response: httpx.Response, *, refreshing: bool) -> NoReturn:
    """Translate a refused ``/v1/oauth/token`` call."""
    error = _oauth_code(response)
    _log.warning(
        "provider_refused",
        provider="schwab",
        operation="refresh" if refreshing else "exchange_code",
        status=response.status_code,
        error=error,
    )
    if refreshing and error in _REAUTH_ON_REFRESH:
        raise ReauthRequired(
            "Schwab no longer accepts this connection's refresh token: sign in to Schwab again.",
            code="refresh_token_rejected",
        )
    if not refreshing and error == "invalid_grant":
        raise ReauthRequired(
            "Schwab refused the authorization code (used, expired or not ours): start again.",
            code="authorization_code_rejected",
        )
    if error == "invalid_client":
        raise ProviderUnavailable(
            "Schwab refused this application's credentials; check the app key and secret.",
            code="provider_client_rejected",
        )
    raise ProviderUnavailable("Schwab refused the token request.", code="provider_refused")


def raise_for_api(response: httpx.Response) -> NoReturn:
    """Translate a refused Trader API call."""
    status = response.status_code
    _log.warning("provider_refused", provider="schwab", operation="api", status=status)
    if status == 401:
        raise ReauthRequired(
            "Schwab refused the access token: authorize the connection again.",
            code="access_token_rejected",
        )
    if status == 403:
        raise Forbidden("Schwab does not allow this for the connected accounts.")
    if status == 400:
        raise InvalidInput(
            with_reason("Schwab refused the request as invalid", api_reason(response))
        )
    raise ProviderUnavailable(f"Schwab answered HTTP {status}.", code="provider_refused")
