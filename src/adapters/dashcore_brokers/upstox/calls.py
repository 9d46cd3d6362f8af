"""What every Upstox gateway call shares: the bearer token, the one account, refusals as domain
errors, capability checks before any request, and opaque paging cursors.

Business rules:
- an Upstox login is one account, known by the user id the login returned; asking for another
  account is ``NotFound`` without a request;
- refusals (``reference/brokers.md`` §3.7): any 401, and ``UDAPI100067`` (a read-only extended
  token), is ``ReauthRequired``; ``UDAPI100010`` (order not found) or a 404 is ``NotFound``;
  ``UDAPI100040`` (the order is already cancelled, rejected or complete) is ``Conflict``; any
  other 400 is ``InvalidInput`` (Upstox checked the request and refused it); the rest follows
  the login adapter's table (:func:`raise_for_upstox`). 429 and 5xx never get here: the HTTP
  policy raises them;
- that ``Conflict`` and ``InvalidInput`` end with Upstox's own ``message``, cleaned
  (:func:`~dashcore_brokers.upstox.errors.refusal_reason`), so that the person sees why: "Upstox
  refused the request (UDAPI100038): insufficient funds …"; the log line keeps only the code;
- Upstox returns holdings, positions and the order book whole; dashcore pages them itself,
  :data:`PAGE_SIZE` at a time, in a stable order, so following ``next_cursor`` yields every
  item exactly once. A cursor is opaque to callers; one that does not parse is ``InvalidInput``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, TypeVar

import httpx
import msgspec
import structlog

from dashcore.domain.capabilities import CapabilityMap, Operation
from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import Conflict, InvalidInput, NotFound, ReauthRequired
from dashcore.domain.portfolio import Page
from dashcore.ports.brokers import PayloadRecorder
from dashcore_brokers.http import ProviderHttp, decode, record, with_reason
from dashcore_brokers.paging import bad_cursor, page_in_memory
from dashcore_brokers.upstox.errors import (
    INVALID_TOKEN,
    error_code,
    raise_for_upstox,
    refusal_reason,
)

__all__ = [
    "PAGE_SIZE",
    "PROVIDER",
    "UpstoxCalls",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "refused",
]

T = TypeVar("T")
R = TypeVar("R")
PROVIDER = "Upstox"
PAGE_SIZE = 500
_EXTENDED_TOKEN = "UDAPI100067"  # noqa: S105 (an error code)
_ORDER_NOT_FOUND = "UDAPI100010"
_ORDER_CLOSED = "UDAPI100040"
_log = structlog.get_logger("dashcore_brokers.upstox")


def encode_cursor(*parts: str | int) -> str:
    """An opaque cursor carrying ``parts``."""
    text = "\x1f".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, count: int) -> list[str]:
    """The ``count`` parts after ``kind`` of a cursor made by :func:`encode_cursor`, or
    ``InvalidInput``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        bad_cursor()
    first, *parts = text.split("\x1f")
    if first != kind or len(parts) != count:
        bad_cursor()
    return parts


class UpstoxCalls:
    """One connection's authenticated calls on the provider's HTTP client."""

    __slots__ = ("_account", "_capabilities", "_headers", "_recorder", "http", "order_base")

    def __init__(
        self,
        http: ProviderHttp,
        credentials: ProviderCredentials,
        capabilities: CapabilityMap,
        order_base: str,
        recorder: PayloadRecorder | None = None,
    ) -> None:
        self.http = http
        self.order_base = order_base
        self._capabilities = capabilities
        self._account = credentials.account_ref
        self._headers = {"Authorization": f"Bearer {credentials.access_token}"}
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"UpstoxCalls(account={self._account!r})"

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def capabilities(self) -> CapabilityMap:
        return self._capabilities

    def check(self, operation: Operation, account_id: str | None = None) -> None:
        """Refuse, before any request, an unsupported operation or an account not this one."""
        self._capabilities.require(operation, PROVIDER)
        if account_id is not None and self._account is not None and account_id != self._account:
            raise NotFound("This Upstox connection has no such account.", code="account_not_found")

    async def read(
        self,
        decoder: msgspec.json.Decoder[T],
        path: str,
        operation: str,
        params: Mapping[str, str] | None = None,
    ) -> T:
        """GET ``path`` and decode the answer (retried by the HTTP policy: a read)."""
        response = await self.http.request("GET", path, params=params, headers=self._headers)
        if response.status_code == 200:
            record(self._recorder, response)
        return self.accepted(decoder, response, operation)

    def accepted(
        self, decoder: msgspec.json.Decoder[T], response: httpx.Response, operation: str
    ) -> T:
        """The decoded answer of a 200, or the refusal as a domain error."""
        if response.status_code != 200:
            refused(response, operation)
        return decode(decoder, response, "upstox")


def refused(response: httpx.Response, operation: str) -> NoReturn:
    """Translate an Upstox refusal of a gateway call (see the module docstring)."""
    code = error_code(response)
    status = response.status_code
    if code == INVALID_TOKEN:
        raise_for_upstox(response, operation)
    if status == 401 or code == _EXTENDED_TOKEN:
        _log.warning(
            "provider_refused", provider="upstox", operation=operation, status=status, error=code
        )
        raise ReauthRequired(
            "Upstox refused the access token: log in again.", code="access_token_rejected"
        )
    if code == _ORDER_NOT_FOUND or status == 404:
        raise NotFound("Upstox has no such order.", code="order_not_found")
    if code == _ORDER_CLOSED:
        raise Conflict(
            with_reason(
                "The order is already cancelled, rejected or complete",
                refusal_reason(response, operation),
            ),
            code="order_not_open",
        )
    if status == 400 and code is not None and code.startswith("UDAPI1"):
        raise InvalidInput(
            with_reason(
                f"Upstox refused the request ({code})", refusal_reason(response, operation)
            ),
            code="provider_invalid_input",
        )
    raise_for_upstox(response, operation)


def page_of(
    rows: Sequence[R],
    cursor: str | None,
    key: Callable[[R], tuple[str, ...]],
    convert: Callable[[Sequence[R]], list[T]],
) -> Page[T]:
    """One page of a whole listing: sorted by ``key`` (unique per row), sliced at the cursor's
    offset, and only the slice converted."""
    return page_in_memory(
        sorted(rows, key=key), cursor, listing="rows", size=PAGE_SIZE, convert=convert
    )
