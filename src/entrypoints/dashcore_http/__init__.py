"""The dashcore REST API (Litestar): app factory, controllers, msgspec DTOs, error mapping."""

from dashcore_http.app import create_app

__all__ = ["create_app"]
