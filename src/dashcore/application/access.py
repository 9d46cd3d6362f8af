"""Issuing the token pair a client holds after authenticating (security.md JWT-2, RT-1).

The access token is a short-lived signed statement about the user and the session; the
refresh token is opaque and only the session store can redeem it. Both are returned once and
never stored in clear.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from uuid import UUID

from dashcore.domain.sessions import Session
from dashcore.domain.tokens import AccessClaims
from dashcore.ports.clock import Clock
from dashcore.ports.tokens import AccessTokenIssuer

__all__ = ["AccessTokens", "IssuedTokens"]


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    session_id: str
    user_id: UUID


class AccessTokens:
    def __init__(self, issuer: AccessTokenIssuer, clock: Clock) -> None:
        self._issuer = issuer
        self._clock = clock

    def issue(self, user_id: UUID, role: str, session: Session, refresh_token: str) -> IssuedTokens:
        now = self._clock.now().replace(microsecond=0)
        lifetime = self._issuer.lifetime
        claims = AccessClaims(
            subject=user_id,
            session_id=session.id,
            token_id=secrets.token_urlsafe(16),
            issued_at=now,
            expires_at=now + lifetime,
            auth_time=min(session.auth_time.replace(microsecond=0), now),
            role=role,
            amr=session.amr,
        )
        return IssuedTokens(
            access_token=self._issuer.issue(claims),
            refresh_token=refresh_token,
            expires_in=int(lifetime.total_seconds()),
            session_id=session.id,
            user_id=user_id,
        )
