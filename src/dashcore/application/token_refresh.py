"""Trading a refresh token for a new token pair (security.md RT-1..3, JWT-3).

The session rules (rotation, grace, reuse detection, expiry) are ``Sessions.refresh``'s; this
use case adds the account check: a refresh for a user who was disabled or removed meanwhile
ends the session and fails like any invalid refresh token (disabling ends every session at
once anyway; the check reads the profile snapshot). The new access token carries the user's
role.
"""

from __future__ import annotations

from dashcore.application.access import AccessTokens, IssuedTokens
from dashcore.application.profile import GetProfile
from dashcore.application.sessions import Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.sessions import RevocationReason, invalid_refresh_token

__all__ = ["RefreshTokens"]


class RefreshTokens:
    def __init__(self, sessions: Sessions, profile: GetProfile, access: AccessTokens) -> None:
        self._sessions = sessions
        self._profile = profile
        self._access = access

    async def __call__(self, refresh_token: str, caller: CallerContext) -> IssuedTokens:
        grant = await self._sessions.refresh(refresh_token, caller=caller)
        session = grant.session
        try:
            user = await self._profile(session.user_id)
        except AuthenticationFailed:
            await self._sessions.revoke(
                session.user_id,
                session.id,
                caller=caller,
                reason=RevocationReason.ACCOUNT_DISABLED,
            )
            raise invalid_refresh_token() from None
        return self._access.issue(user.id, user.role.value, session, grant.refresh_token)
