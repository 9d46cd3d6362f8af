"""Kite's refusals as domain errors (``reference/brokers.md`` §2.7).

A refusal is ``{"status": "error", "message", "data", "error_type"}``: ``TokenException``
(session expired, logged out, request token used or stale) is ``ReauthRequired``;
``InputException`` (a missing or wrong field, a wrong checksum) is ``InvalidInput``;
``PermissionException`` is ``Forbidden``; anything else (``NetworkException``,
``DataException``, ``GeneralException``) is ``ProviderUnavailable``.

The ``InvalidInput`` of a data or order call ends with Kite's ``message``, cleaned by
:func:`~dashcore_brokers.http.broker_reason` ("Kite refused the request as invalid: …"), so
that the person sees why. The login adapter's calls (session
exchange and refresh, logout, profile) never repeat it: it may describe the credentials sent.
Only the ``error_type`` is logged.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import Forbidden, InvalidInput, ProviderUnavailable, ReauthRequired
from dashcore_brokers.http import broker_reason, safe_code, with_reason

__all__ = ["TOKEN_EXCEPTION", "error_type", "kite_reason", "raise_for_kite"]

TOKEN_EXCEPTION = "TokenException"  # noqa: S105 (an error type)
_LOGIN_OPERATIONS: Final = frozenset({"exchange", "refresh", "revoke", "profile"})
"""The operations of the login adapter (``zerodha/auth.py``), whose refusals never repeat
Kite's message."""

_log = structlog.get_logger("dashcore_brokers.zerodha")


class _KiteError(msgspec.Struct):
    error_type: str = ""
    message: Any = None


_kite_error = msgspec.json.Decoder(_KiteError)


def _refusal(response: httpx.Response) -> _KiteError:
    try:
        return _kite_error.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _KiteError()


def error_type(response: httpx.Response) -> str | None:
    """Kite's ``error_type`` of a refusal, if it names one."""
    return safe_code(_refusal(response).error_type)


def kite_reason(response: httpx.Response) -> str | None:
    """Kite's ``message`` of a refused order or data call, cleaned (never a login call's)."""
    return broker_reason(_refusal(response).message)


def raise_for_kite(response: httpx.Response, operation: str) -> NoReturn:
    """Translate a refused Kite call."""
    refusal = _refusal(response)
    kind = safe_code(refusal.error_type)
    _log.warning(
        "provider_refused",
        provider="zerodha",
        operation=operation,
        status=response.status_code,
        error=kind,
    )
    if kind == TOKEN_EXCEPTION:
        raise ReauthRequired(
            "Kite refused the session (expired, logged out or already used): log in again.",
            code="session_rejected",
        )
    if kind == "InputException":
        reason = None if operation in _LOGIN_OPERATIONS else kite_reason(response)
        raise InvalidInput(
            with_reason("Kite refused the request as invalid", reason),
            code="provider_invalid_input",
        )
    if kind == "PermissionException":
        raise Forbidden("Kite does not allow this for the connected account.")
    raise ProviderUnavailable(
        f"Kite refused the request (HTTP {response.status_code}).", code="provider_refused"
    )
