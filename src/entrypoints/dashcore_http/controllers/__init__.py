"""HTTP controllers: each decodes a msgspec struct, calls one use case, encodes the result."""

from dashcore_http.controllers.health import HealthController

__all__ = ["HealthController"]
