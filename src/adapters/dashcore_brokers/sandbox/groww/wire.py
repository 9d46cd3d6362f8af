"""Groww's wire conventions: ``SUCCESS``/``FAILURE`` envelopes, ``GA…`` codes, mandatory headers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from dashcore_brokers.sandbox._wire import WireError, json_response

__all__ = ["fail", "groww_error", "groww_error_code", "require_headers", "success"]

_CODES = {
    400: "GA001",
    401: "GA005",
    403: "GA005",
    404: "GA004",
    429: "GA003",
    502: "GA003",
    503: "GA003",
}


def groww_error_code(status: int) -> str:
    """The business code Groww pairs with a status (``GA000``, internal error, otherwise)."""
    return _CODES.get(status, "GA000")


def groww_error(code: str, message: str, *, display: bool = False) -> dict[str, object]:
    """Groww's failure envelope; token-mint errors also carry ``displayMessage``."""
    error: dict[str, object] = {"code": code, "message": message, "metadata": None}
    if display:
        error["displayMessage"] = message
    return {"status": "FAILURE", "error": error}


def fail(status: int, message: str, *, display: bool = False) -> WireError:
    """A Groww error response to raise from a handler."""
    body = groww_error(groww_error_code(status), message, display=display)
    return WireError(json_response(status, body))


def success(payload: object) -> Response[Any]:
    """Groww's success envelope."""
    return json_response(200, {"status": "SUCCESS", "payload": payload})


def require_headers(request: Request[Any, Any, Any]) -> None:
    """Groww marks ``X-API-VERSION: 1.0`` mandatory on every API call."""
    if request.headers.get("x-api-version") != "1.0":
        raise fail(400, "Missing or unsupported X-API-VERSION header")
