"""Groww's refusals as domain errors (``reference/brokers.md`` §4.7; docs/sandboxes.md).

A refusal is ``{"status": "FAILURE", "error": {"code": "GA…", "message", "metadata"}}``,
whatever the HTTP status. Minting a token judges what the user typed:
- 401 (unknown API key) and ``GA001`` (wrong checksum or TOTP, stale timestamp) are
  ``InvalidInput`` (``invalid_credentials``);
- 403 (the key is not approved today) is ``ReauthRequired`` (``key_not_approved``): the user
  approves it on Groww, then connects again.
On API calls, 401/403 and ``GA005`` are ``ReauthRequired``, ``GA001`` ``InvalidInput``,
``GA004`` ``NotFound``, ``GA007`` ``Conflict``; ``GA000``/``GA003`` and anything else are
``ProviderUnavailable``. Groww's message is not repeated; the code is logged.
"""

from __future__ import annotations

from typing import NoReturn

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
from dashcore_brokers.http import safe_code

__all__ = ["raise_for_groww"]

_log = structlog.get_logger("dashcore_brokers.groww")


class _Error(msgspec.Struct):
    code: str = ""


class _Failure(msgspec.Struct):
    error: _Error | None = None


_failure = msgspec.json.Decoder(_Failure)


def _code(response: httpx.Response) -> str | None:
    try:
        error = _failure.decode(response.content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return safe_code(error.code) if error else None


def raise_for_groww(response: httpx.Response, operation: str, *, field: str = "") -> NoReturn:
    """Translate a refused Groww call (``operation == "mint"``: a token mint; ``field`` names
    what the user typed that Groww judged)."""
    code = _code(response)
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
        raise InvalidInput("Groww refused the request as invalid.", code="provider_invalid_input")
    elif code == "GA004":
        raise NotFound("Groww does not know this item.")
    elif code == "GA007":
        raise Conflict("Groww already has an order with this reference.")
    raise ProviderUnavailable(
        f"Groww refused the request (HTTP {status}).", code="provider_refused"
    )
