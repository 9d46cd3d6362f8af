"""Trading a refresh token for a new token pair (security.md RT-1..3, JWT-3).

The session rules (rotation, grace, reuse detection, expiry) are ``Sessions.refresh``'s; this
use case adds the account check: a refresh for a user who was disabled or removed meanwhile
ends the session and fails like any invalid refresh token (disabling ends every session at
once anyway; the check reads the profile snapshot). The new access token carries the user's
role. A refresh token caught being reused (its session is then revoked) also mails the owner.

The account is read **before** the token rotates. Were it read after, a database that cannot
answer would fail the request (503) with the token already rotated: the client keeps the old
one, and its retry after the grace window would look like a reuse, ending the session and
mailing a false alarm. Read first, the failed request leaves the presented token current.
"""

from __future__ import annotations

from uuid import UUID

from dashcore.application.access import AccessTokens, IssuedTokens
from dashcore.application.notifications import Notifications
from dashcore.application.profile import GetProfile
from dashcore.application.sessions import Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.sessions import RefreshTokenReused, RevocationReason, invalid_refresh_token
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork

__all__ = ["RefreshTokens"]


class RefreshTokens:
    def __init__(
        self,
        sessions: Sessions,
        profile: GetProfile,
        access: AccessTokens,
        notifications: Notifications,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._profile = profile
        self._access = access
        self._notifications = notifications
        self._uow = uow
        self._clock = clock

    async def __call__(self, refresh_token: str, caller: CallerContext) -> IssuedTokens:
        owner = await self._sessions.owner_of(refresh_token)
        user = None if owner is None else await self._account(owner)
        try:
            grant = await self._sessions.refresh(refresh_token, caller=caller)
        except RefreshTokenReused:
            if user is not None:
                await self._warn_owner(user)
            raise
        session = grant.session
        if user is None or user.id != session.user_id:
            await self._sessions.revoke(
                session.user_id,
                session.id,
                caller=caller,
                reason=RevocationReason.ACCOUNT_DISABLED,
            )
            raise invalid_refresh_token()
        return self._access.issue(user.id, user.role.value, session, grant.refresh_token)

    async def _account(self, user_id: UUID) -> User | None:
        """The account, or ``None`` if it was disabled or removed; a database that cannot
        answer raises (nothing has rotated yet)."""
        try:
            return await self._profile(user_id)
        except AuthenticationFailed:
            return None

    async def _warn_owner(self, user: User) -> None:
        """Tell the owner that a stolen or replayed refresh token was caught (RT-1)."""
        await self._notifications.refresh_token_reuse(user.email, at=self._clock.now())
        await self._uow.commit()
