"""Kite's refusals of data and trading calls as domain errors (``reference/brokers.md`` §2.7).

On top of the login refusals (:func:`dashcore_brokers.zerodha.errors.raise_for_kite`:
``TokenException`` → ``ReauthRequired``, ``InputException`` → ``InvalidInput``,
``PermissionException`` → ``Forbidden``, the rest → ``ProviderUnavailable``):

- HTTP 404 — the order (or resource) does not exist → ``NotFound``;
- ``OrderException``, ``MarginException``, ``HoldingException`` — Kite refused the order
  request (placement/modification failure, not enough funds, not enough shares to sell) →
  ``InvalidInput`` with a code naming which;
- ``UserException`` — the account cannot do this (segment not enabled, account blocked) →
  ``Forbidden``.

429 and 5xx never reach this module: the HTTP policy turns them into ``RateLimited`` and
``ProviderUnavailable``. An order refusal ends with Kite's own message, cleaned
(:func:`~dashcore_brokers.zerodha.errors.kite_reason`: "Kite refused the order: not enough
funds: …"); it is never logged.
"""

from __future__ import annotations

from typing import Final, NoReturn

import httpx
import structlog

from dashcore.domain.errors import Forbidden, InvalidInput, NotFound
from dashcore_brokers.http import with_reason
from dashcore_brokers.zerodha.errors import (
    TOKEN_EXCEPTION,
    error_type,
    kite_reason,
    raise_for_kite,
)

__all__ = ["raise_refusal"]

_log = structlog.get_logger("dashcore_brokers.zerodha")

_ORDER_REFUSALS: Final = {
    "OrderException": ("Kite refused the order request", "order_refused"),
    "MarginException": ("Kite refused the order: not enough funds", "insufficient_margin"),
    "HoldingException": (
        "Kite refused the order: not enough holdings to sell",
        "insufficient_holdings",
    ),
}


def raise_refusal(response: httpx.Response, operation: str) -> NoReturn:
    """Translate a refused Kite data or trading call."""
    kind = error_type(response)
    if kind == TOKEN_EXCEPTION or (
        response.status_code != 404 and kind not in _ORDER_REFUSALS and kind != "UserException"
    ):
        raise_for_kite(response, operation)
    _log.warning(
        "provider_refused",
        provider="zerodha",
        operation=operation,
        status=response.status_code,
        error=kind,
    )
    if response.status_code == 404:
        raise NotFound("Kite has no such order.", code="order_not_found")
    if kind == "UserException":
        raise Forbidden("Kite does not allow this for the connected account.")
    statement, code = _ORDER_REFUSALS[kind or ""]
    raise InvalidInput(with_reason(statement, kite_reason(response)), code=code)
