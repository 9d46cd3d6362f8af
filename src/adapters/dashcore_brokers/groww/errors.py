"""Groww's refusals as domain errors (``reference/brokers.md`` §4.7; docs/sandboxes.md).

A refusal is ``{"status": "FAILURE", "error": {"code": "GA…", "message", "metadata"}}``,
whatever the HTTP status. Minting a token judges what the user typed:
- 401 (unknown API key) and ``GA001`` (wrong checksum or TOTP, stale timestamp) are
  ``InvalidInput`` (``invalid_credentials``);
- 403 (the key is not approved today) is ``ReauthRequired`` (``key_not_approved``): the user
  approves it on Groww, then connects again.
On API calls, 401/403 and ``GA005`` are ``ReauthRequired``, ``GA001`` ``InvalidInput``,
``GA004`` ``NotFound``, ``GA007`` ``Conflict``; ``GA000``/``GA003`` and anything else are
``ProviderUnavailable``.

The ``InvalidInput`` and ``Conflict`` of a data or order call end with Groww's
``error.message``, cleaned by :func:`~dashcore_brokers.http.broker_reason` ("Groww refused the
request as invalid: …"), so that the person sees why. The login adapter's calls (mint,
profile) never repeat it: it may describe the credentials sent. Only the code is logged.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ProviderUnavailable,
    ReauthRequired,
)
from dashcore_brokers.http import broker_reason, safe_code, with_reason

__all__ = ["groww_reason", "raise_for_groww"]

_log = structlog.get_logger("dashcore_brokers.groww")
_LOGIN_OPERATIONS: Final = frozenset({"mint", "profile"})
"""The operations of the login adapter (``groww/auth.py``), whose refusals never repeat
Groww's message."""


class _Error(msgspec.Struct):
    code: str = ""
    message: Any = None


class _Failure(msgspec.Struct):
    error: _Error | None = None


_failure = msgspec.json.Decoder(_Failure)


def _error(response: httpx.Response) -> _Error:
    try:
        error = _failure.decode(response.content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Error()
    return error or _Error()


def groww_reason(response: httpx.Response) -> str | None:
    """Groww's ``error.message`` of a refused order or data call, cleaned (never a login
    call's)."""
    return broker_reason(_error(response).message)


def raise_for_groww(response: httpx.Response, operation: str, *, field: str = "") -> NoReturn:
    """Translate a refused Groww call (``operation == "mint"``: a token mint; ``field`` names
    what the user typed that Groww judged)."""
    error = _error(response)
    code = safe_code(error.code)
    reason = None if operation in _LOGIN_OPERATIONS else broker_reason(error.message)
    status = response.status_code
    _log.warning(
        "provider_refused", provider="groww", operation=operation, status=status, error=code
    )
    if operation == "mint":
        if status == 403:
            raise ReauthRequired(
                "Groww has not approved this API key today: approve it on Groww, then connect.",
                code="key_not_approved",
            )
        if status == 401:
            raise InvalidInput(
                "Groww does not know this API key.", code="invalid_credentials", field="api_key"
            )
        if code == "GA001":
            raise InvalidInput(
                "Groww refused the secret or code.", code="invalid_credentials", field=field
            )
    elif status in (401, 403) or code == "GA005":
        raise ReauthRequired(
            "Groww refused the access token (expired after 06:00 IST): connect again.",
            code="access_token_rejected",
        )
    elif code == "GA001":
        raise InvalidInput(
            with_reason("Groww refused the request as invalid", reason),
            code="provider_invalid_input",
        )
    elif code == "GA004":
        raise NotFound("Groww does not know this item.")
    elif code == "GA007":
        raise Conflict(with_reason("Groww already has an order with this reference", reason))
    raise ProviderUnavailable(
        f"Groww refused the request (HTTP {status}).", code="provider_refused"
    )
