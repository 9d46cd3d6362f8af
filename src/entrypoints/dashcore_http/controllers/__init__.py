"""HTTP controllers: each decodes a msgspec struct, calls one use case, encodes the result."""

from dashcore_http.controllers.auth import AuthController
from dashcore_http.controllers.health import HealthController
from dashcore_http.controllers.jwks import JwksController

__all__ = ["AuthController", "HealthController", "JwksController"]
