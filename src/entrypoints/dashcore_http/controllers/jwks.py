"""``GET /.well-known/jwks.json``: the public keys that verify dashcore's access tokens.

Other services verify our tokens with these keys and no shared secret (security.md JWT-1).
Keys retired by a rotation stay listed until the last token they signed has expired. The set
may be cached for five minutes.
"""

from __future__ import annotations

from typing import Any

from dishka import FromDishka
from litestar import Controller, Request, Response, get

from dashcore.ports.tokens import AccessTokenVerifier
from dashcore_http.authentication import PUBLIC
from dashcore_http.di import inject

__all__ = ["JwksController"]

JWK_SET = "application/jwk-set+json"
"""RFC 7517's media type of a key set (declared in the OpenAPI document too)."""


class JwksController(Controller):
    path = "/.well-known"
    tags = ("auth",)

    @get(
        "/jwks.json",
        opt=PUBLIC,
        media_type=JWK_SET,
        summary="Public keys of access tokens (RFC 7517)",
    )
    @inject
    async def jwks(
        self, request: Request[Any, Any, Any], verifier: FromDishka[AccessTokenVerifier]
    ) -> Response[dict[str, Any]]:
        return Response(
            verifier.jwks(),
            media_type=JWK_SET,
            # Vary on every answer: with CORS on, an allowed origin's answer carries
            # Access-Control-Allow-Origin and another's does not, and a shared cache must not
            # hand one to the other (found by QA: only the allowed origin's said Vary).
            headers={"Cache-Control": "public, max-age=300", "Vary": "Origin"},
        )
