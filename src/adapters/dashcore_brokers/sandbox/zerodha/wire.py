"""Kite's wire conventions: envelopes, error types, the version header, the profile shape."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from dashcore_brokers.sandbox._wire import WireError, json_response
from dashcore_brokers.sandbox.apps import SandboxUser

__all__ = [
    "fail",
    "kite_error",
    "kite_error_type",
    "profile_data",
    "require_version",
    "success",
]

_ERROR_TYPES = {
    400: "InputException",
    403: "TokenException",
    429: "NetworkException",
    502: "DataException",
    503: "NetworkException",
    504: "NetworkException",
}


def kite_error_type(status: int) -> str:
    """The ``error_type`` Kite pairs with an HTTP status (``GeneralException`` otherwise)."""
    return _ERROR_TYPES.get(status, "GeneralException")


def kite_error(message: str, error_type: str) -> dict[str, object]:
    """Kite's error envelope."""
    return {"status": "error", "message": message, "data": None, "error_type": error_type}


def fail(status: int, message: str, error_type: str | None = None) -> WireError:
    """A Kite error response to raise from a handler."""
    body = kite_error(message, error_type or kite_error_type(status))
    return WireError(json_response(status, body))


def success(data: object) -> Response[Any]:
    """Kite's success envelope."""
    return json_response(200, {"status": "success", "data": data})


def require_version(request: Request[Any, Any, Any]) -> None:
    """Every API call must name Kite Connect v3 in ``X-Kite-Version``."""
    if request.headers.get("x-kite-version") != "3":
        raise fail(400, "Invalid or missing `X-Kite-Version` header.", "InputException")


def profile_data(user: SandboxUser) -> dict[str, object]:
    """The ``/user/profile`` fields, also part of the session data."""
    return {
        "user_id": user.user_id,
        "user_type": "individual",
        "email": user.email,
        "user_name": user.user_name,
        "user_shortname": user.short_name,
        "broker": "ZERODHA",
        "exchanges": ["NSE", "NFO", "BFO", "CDS", "BSE", "MCX", "BCD", "MF"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": None,
        "meta": {"demat_consent": "physical"},
    }
