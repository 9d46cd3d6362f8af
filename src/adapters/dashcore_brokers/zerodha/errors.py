"""Kite's refusals as domain errors (``reference/brokers.md`` §2.7).

A refusal is ``{"status": "error", "message", "data", "error_type"}``: ``TokenException``
(session expired, logged out, request token used or stale) is ``ReauthRequired``;
``InputException`` (a missing or wrong field, a wrong checksum) is ``InvalidInput``;
``PermissionException`` is ``Forbidden``; anything else (``NetworkException``,
``DataException``, ``GeneralException``) is ``ProviderUnavailable``. Kite's message is not
repeated (it may echo what was sent); the ``error_type`` is logged.
"""

from __future__ import annotations

from typing import NoReturn

import httpx
import msgspec
import structlog

from dashcore.domain.errors import Forbidden, InvalidInput, ProviderUnavailable, ReauthRequired
from dashcore_brokers.http import safe_code

__all__ = ["TOKEN_EXCEPTION", "error_type", "raise_for_kite"]

TOKEN_EXCEPTION = "TokenException"  # noqa: S105 (an error type)

_log = structlog.get_logger("dashcore_brokers.zerodha")


class _KiteError(msgspec.Struct):
    error_type: str = ""


_kite_error = msgspec.json.Decoder(_KiteError)


def error_type(response: httpx.Response) -> str | None:
    """Kite's ``error_type`` of a refusal, if it names one."""
    try:
        return safe_code(_kite_error.decode(response.content).error_type)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def raise_for_kite(response: httpx.Response, operation: str) -> NoReturn:
    """Translate a refused Kite call."""
    kind = error_type(response)
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
        raise InvalidInput("Kite refused the request as invalid.", code="provider_invalid_input")
    if kind == "PermissionException":
        raise Forbidden("Kite does not allow this for the connected account.")
    raise ProviderUnavailable(
        f"Kite refused the request (HTTP {response.status_code}).", code="provider_refused"
    )
