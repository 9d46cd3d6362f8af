"""Upstox's wire conventions: the ``{"status": "error", "errors": [...]}`` body and error codes."""

from __future__ import annotations

from typing import Any

from litestar import Response

from dashcore_brokers.sandbox._wire import WireError, json_response
from dashcore_brokers.sandbox.apps import SandboxUser

__all__ = ["fail", "profile_data", "success", "upstox_error", "upstox_error_code"]

_CODES = {
    401: "UDAPI100050",
    429: "UDAPI10005",
}


def upstox_error_code(status: int) -> str:
    """The error code Upstox pairs with a fault status (``UDAPI100500`` for server errors)."""
    return _CODES.get(status, "UDAPI100500")


def upstox_error(code: str, message: str, property_path: str | None = None) -> dict[str, object]:
    """Upstox's error envelope with one error."""
    return {
        "status": "error",
        "errors": [
            {
                "errorCode": code,
                "message": message,
                "propertyPath": property_path,
                "invalidValue": None,
            }
        ],
    }


def fail(status: int, code: str, message: str, property_path: str | None = None) -> WireError:
    """An Upstox error response to raise from a handler."""
    return WireError(json_response(status, upstox_error(code, message, property_path)))


def success(data: object) -> Response[Any]:
    """Upstox's success envelope."""
    return json_response(200, {"status": "success", "data": data})


def profile_data(user: SandboxUser) -> dict[str, object]:
    """The ``/v2/user/profile`` fields, also part of the token response."""
    return {
        "email": user.email,
        "exchanges": ["NSE", "NFO", "BSE", "CDS", "BFO", "MCX"],
        "products": ["D", "I", "CO", "MTF"],
        "broker": "UPSTOX",
        "user_id": user.user_id,
        "user_name": user.user_name,
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "user_type": "individual",
        "poa": False,
        "is_active": True,
    }
