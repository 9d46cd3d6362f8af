"""Access tokens: issuing them after authentication, verifying them on every request."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from dashcore.domain.tokens import AccessClaims

__all__ = ["AccessTokenIssuer", "AccessTokenVerifier"]


class AccessTokenIssuer(Protocol):
    """Signs access tokens. Synchronous: signing costs microseconds and does no I/O."""

    @property
    def lifetime(self) -> timedelta:
        """How long a token lives: use cases set ``expires_at = issued_at + lifetime``."""

    def issue(self, claims: AccessClaims) -> str:
        """The signed compact token for ``claims``; refuses a lifetime above ``lifetime``."""


class AccessTokenVerifier(Protocol):
    """Checks access tokens. Synchronous; no network I/O ever (keys are local).

    ``verify`` raises ``AuthenticationFailed(code="invalid_token")`` for every token that is
    not a valid, current access token of this API: the error never says why (the reason may go
    to a debug log). It does not know about sessions: whether ``session_id`` is still live is
    the caller's check (security.md JWT-3).
    """

    def verify(self, token: str) -> AccessClaims: ...

    def jwks(self) -> dict[str, object]:
        """The public verification keys as an RFC 7517 JWK Set (``{"keys": [...]}``)."""
