"""Bearer-token authentication for every route that is not marked public.

Rules (security.md JWT-1..3, b.1 transport variants):
- Every route under the API requires ``Authorization: Bearer <access token>`` unless its handler
  says ``opt={"public": True}`` (register, login, refresh, verification, password reset, JWKS,
  health, docs).
- The scheme is matched case-insensitively (RFC 6750), followed by exactly one space and the
  token; a second ``Authorization`` header, a token in the query string or an empty token is
  refused. Tokens above 8 KiB are refused before any parsing.
- A token must verify (signature, claims, type) *and* its session must not be revoked. The
  revocation check reads a per-process set kept current by the revocation list (≤ 1 s behind
  every other process), so it costs a set look-up, not a round trip.
- Every refusal is the same 401 ``invalid_token`` problem with ``WWW-Authenticate: Bearer``.
- On success the claims are ``request.user`` (:class:`AccessClaims`) and the user id is in
  ``scope["state"]["user_id"]`` for per-user rate limits and logs.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.openapi.spec import SecurityRequirement
from litestar.types import Scope

from dashcore.application.step_up import StepUpGate
from dashcore.domain.errors import AuthenticationFailed, Forbidden
from dashcore.domain.tokens import AccessClaims
from dashcore.ports.sessions import RevocationList
from dashcore.ports.tokens import AccessTokenVerifier
from dashcore_http.inputs import check_request_body
from dashcore_http.query_parameters import OPEN_QUERY, DeclaredQueries

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATION_STATE_KEY",
    "BEARER",
    "BEARER_SCHEME",
    "PUBLIC",
    "BearerAuthentication",
    "principal",
    "recently_authenticated",
    "require_admin",
]

AUTHENTICATION_STATE_KEY: Final = "dashcore_authentication"
PUBLIC: Final = {"public": True}
"""``opt`` for handlers that anyone may call."""
CALLED_BY_PROVIDERS: Final = {**PUBLIC, OPEN_QUERY: True}
"""``opt`` for handlers that brokers call (OAuth callbacks, webhooks): public, and taking any
query parameter, since each broker adds its own."""
BEARER_SCHEME: Final = "bearer"
"""The OpenAPI security scheme of the access token (``Authorization: Bearer …``)."""
BEARER: Final[list[SecurityRequirement]] = [{BEARER_SCHEME: []}]
"""The API router's OpenAPI security: every ``/api/v1`` route needs the access token…"""
ANONYMOUS: Final[list[SecurityRequirement]] = [{}]
"""…but a public one (``opt=PUBLIC``) may also be called without (OpenAPI's empty
requirement), since security requirements add up along a route's layers."""

_MAX_HEADER = 8 * 1024 + 16


def _refused() -> AuthenticationFailed:
    return AuthenticationFailed("A valid access token is required.", code="invalid_token")


def bearer_token(scope: Scope) -> str:
    """The token of the one ``Authorization: Bearer`` header, or an ``invalid_token`` error."""
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                raise _refused()
            found = value
    if found is None or len(found) > _MAX_HEADER:
        raise _refused()
    scheme, space, token = found.partition(b" ")
    if not space or scheme.lower() != b"bearer" or not token or b" " in token:
        raise _refused()
    try:
        return token.decode("ascii")
    except UnicodeDecodeError as error:
        raise _refused() from error


class BearerAuthentication:
    """The API router's ``before_request`` hook: authenticates every non-public route, then
    refuses query parameters the route does not declare (:mod:`.query_parameters`) and runs
    the app-wide body checks (a router's hook replaces the app's, so it must).

    A hook, not a middleware: Litestar runs it after routing at the cost of one call, where a
    route-level middleware adds its own layer and exception handler to every request. The
    verifier and the revocation list are bound at start-up (they live in the dependency
    container, which opens with the app).
    """

    def __init__(self) -> None:
        self._verifier: AccessTokenVerifier | None = None
        self._revocations: RevocationList | None = None
        self._queries = DeclaredQueries()

    def __deepcopy__(self, memo: dict[int, Any]) -> BearerAuthentication:
        """Litestar deep-copies a router when the app registers it; the copy must stay this
        instance, whose ports ``bind`` sets at start-up."""
        return self

    def bind(self, verifier: AccessTokenVerifier, revocations: RevocationList) -> None:
        self._verifier = verifier
        self._revocations = revocations

    async def __call__(self, request: Request[Any, Any, Any]) -> None:
        if request.method == "OPTIONS":  # Litestar's own answer (Allow): no data, as /docs says
            return
        if not request.route_handler.opt.get("public") and request.scope.get("user") is None:
            self.authenticate(request.scope)
        self._queries.check(request)
        await check_request_body(request)

    def authenticate(self, scope: Scope) -> AccessClaims:
        """Verify the request's access token and its session; put the claims in the scope."""
        verifier, revocations = self._verifier, self._revocations
        assert verifier is not None and revocations is not None, "bind() runs at start-up"
        if b"access_token=" in scope.get("query_string", b""):
            raise _refused()
        token = bearer_token(scope)
        try:
            claims = verifier.verify(token)
        except AuthenticationFailed as error:
            raise _refused() from error  # one refusal, however the token is wrong
        if revocations.is_revoked(claims.session_id):
            raise _refused()
        scope["user"] = claims
        scope["state"]["user_id"] = claims.subject
        return claims

    def subject(self, scope: Scope) -> UUID | None:
        """The user a request's access token names, if it verifies (else ``None``): for
        per-user rate limits, which run before this hook."""
        assert self._verifier is not None, "bind() runs at start-up"
        try:
            return self._verifier.verify(bearer_token(scope)).subject
        except AuthenticationFailed:
            return None


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> AccessClaims:
    """The authenticated caller's claims. Guards run before the router's hook, so the first
    caller to ask (a guard or the hook) authenticates the request; later ones reuse it."""
    claims = connection.scope.get("user")
    if isinstance(claims, AccessClaims):
        return claims
    authentication = connection.app.state.get(AUTHENTICATION_STATE_KEY)
    if not isinstance(authentication, BearerAuthentication):
        raise _refused()
    return authentication.authenticate(connection.scope)


async def recently_authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], gate: StepUpGate
) -> AccessClaims:
    """The caller's claims, if they authenticated recently enough with the account's strongest
    factor for a sensitive operation (STEP-1); else ``StepUpRequired`` (401)."""
    claims = principal(connection)
    await gate.require(claims.subject, claims.auth_time, claims.amr)
    return claims


def require_admin(connection: ASGIConnection[Any, Any, Any, Any]) -> AccessClaims:
    claims = principal(connection)
    if not claims.is_admin:
        raise Forbidden("This needs an administrator.", code="admin_required")
    return claims
