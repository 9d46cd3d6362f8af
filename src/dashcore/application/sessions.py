"""Opening, refreshing, listing and ending sessions (RT-1..3, SESS-1, JWT-3).

The rules themselves live in ``dashcore.domain.sessions``; this module sequences them over the
ports. Every revocation goes two ways: to the :class:`SessionStore` (no more refreshes) and to the
:class:`RevocationList` until the last access token of the session has expired (no more requests
on any API process).

Issuing the access token is the caller's job: a :class:`SessionGrant` carries the session (``id``
for ``sid``, ``user_id``, ``role``, ``auth_time``, ``amr``) and the refresh token. The caller must
also check that the user may still sign in (not disabled) before issuing one after a refresh.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from dashcore.domain.mfa import ChallengeKind
from dashcore.domain.sessions import (
    RefreshMatch,
    RefreshToken,
    RefreshTokenReused,
    RevocationReason,
    Session,
    SessionId,
    SessionPolicy,
    hash_refresh_secret,
    invalid_refresh_token,
    new_refresh_secret,
    new_session_id,
    parse_session_id,
)
from dashcore.ports.clock import Clock
from dashcore.ports.mfa import LoginChallengeRepository
from dashcore.ports.sessions import RefreshSecretDeriver, RevocationList, SessionStore
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "MAX_ANCESTRY",
    "HmacRefreshSecretDeriver",
    "SessionGrant",
    "Sessions",
]

MAX_ANCESTRY = 10_000
"""How many generations back a presented secret is traced to tell reuse from garbage."""
_ROTATION_ATTEMPTS = 3


class HmacRefreshSecretDeriver(RefreshSecretDeriver):
    """``successor = HMAC-SHA256(key, session id || "." || predecessor)``.

    Without the key the chain cannot be extended; with only the stored hashes it cannot be
    either. The key is at least 32 bytes and the same in every process.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise InvalidInput("The refresh derivation key must be at least 32 bytes.", field="key")
        self._key = key

    def __repr__(self) -> str:
        return "HmacRefreshSecretDeriver(key=[redacted])"

    def successor(self, session_id: SessionId, predecessor: bytes) -> bytes:
        message = session_id.encode("ascii") + b"." + predecessor
        return hmac.new(self._key, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A session and the refresh token its holder must present next."""

    session: Session
    refresh_token: str = field(repr=False)


class Sessions:
    """Session use cases. ``start`` and ``end_all`` work inside the caller's unit of work and
    never commit (login, password reset and account disable own theirs); ``refresh`` (on reuse),
    ``revoke`` and ``revoke_all`` commit their audit events themselves."""

    def __init__(
        self,
        store: SessionStore,
        revocations: RevocationList,
        deriver: RefreshSecretDeriver,
        uow: UnitOfWork,
        audit: AuditTrail,
        clock: Clock,
        *,
        challenges: LoginChallengeRepository,
        policy: SessionPolicy,
        access_token_lifetime: timedelta,
        access_token_leeway: timedelta = timedelta(0),
    ) -> None:
        """``access_token_lifetime`` and ``access_token_leeway`` are the verifier's: a revoked
        session stays on the revocation list as long as any token it holds is accepted, its
        lifetime plus the leeway the verifier grants past ``exp``."""
        if access_token_lifetime <= timedelta(0):
            raise InvalidInput("Must be positive.", field="access_token_lifetime")
        if access_token_leeway < timedelta(0):
            raise InvalidInput("Must not be negative.", field="access_token_leeway")
        self._store = store
        self._challenges = challenges
        self._revocations = revocations
        self._deriver = deriver
        self._uow = uow
        self._audit = audit
        self._clock = clock
        self._policy = policy
        self._token_accepted_for = access_token_lifetime + access_token_leeway

    # -- opening ---------------------------------------------------------------------------
    async def start(
        self,
        user_id: UUID,
        *,
        caller: CallerContext,
        auth_time: datetime,
        amr: tuple[str, ...],
        remember_me: bool = False,
        role: str | None = None,
        device_label: str | None = None,
    ) -> SessionGrant:
        """A new session (a new id for every authentication, step-up included) with its first
        refresh token. Above the cap, the least recently used sessions are evicted and audited."""
        secret = new_refresh_secret()
        session = Session.open(
            session_id=new_session_id(),
            user_id=user_id,
            first_secret_hash=hash_refresh_secret(secret),
            now=self._clock.now(),
            policy=self._policy,
            auth_time=auth_time,
            amr=amr,
            remember_me=remember_me,
            role=role,
            device_label=device_label,
            user_agent=caller.user_agent,
            ip=caller.ip,
        )
        evicted = await self._store.create(session, max_active=self._policy.max_active)
        for session_id in evicted:
            await self._ended(session_id, user_id, RevocationReason.EVICTED, caller)
        return SessionGrant(session, RefreshToken(session.id, secret).encode())

    # -- refreshing ------------------------------------------------------------------------
    async def refresh(self, refresh_token: str, *, caller: CallerContext) -> SessionGrant:
        """Rotate a refresh token. Every failure is ``invalid_refresh_token``.

        The current secret rotates (compare-and-set; a loser re-reads and finds itself the
        predecessor). The immediate predecessor within the grace window gets the same successor.
        An older ancestor, or the predecessor after the window, revokes the session, is
        audited as ``refresh_reuse_detected`` and raises ``RefreshTokenReused``.
        """
        token = RefreshToken.parse(refresh_token)
        presented = token.secret_hash
        for _ in range(_ROTATION_ATTEMPTS):
            session = await self._store.get(token.session_id)
            if session is None:
                raise invalid_refresh_token()
            now = self._clock.now()
            match = session.match_refresh(presented, now, self._policy.grace)
            if match is RefreshMatch.CURRENT:
                successor = self._deriver.successor(session.id, token.secret)
                session.rotate(presented, hash_refresh_secret(successor), now)
                if await self._store.rotate(session, expected_hash=presented):
                    return SessionGrant(session, RefreshToken(session.id, successor).encode())
                continue
            if match is RefreshMatch.PREDECESSOR:
                successor = self._deriver.successor(session.id, token.secret)
                if not session.refresh.is_current(hash_refresh_secret(successor)):
                    raise invalid_refresh_token()  # the derivation key changed in between
                return SessionGrant(session, RefreshToken(session.id, successor).encode())
            if match is RefreshMatch.STALE_PREDECESSOR or self._is_ancestor(session, token):
                await self._reuse_detected(session, caller)
                raise RefreshTokenReused(session.user_id)
            raise invalid_refresh_token()
        raise invalid_refresh_token()

    async def owner_of(self, refresh_token: str) -> UUID | None:
        """The user of the session ``refresh_token`` names, if that session exists; nothing
        rotates. A malformed token is ``invalid_refresh_token``."""
        session = await self._store.get(RefreshToken.parse(refresh_token).session_id)
        return None if session is None else session.user_id

    def _is_ancestor(self, session: Session, token: RefreshToken) -> bool:
        """Whether deriving forward from the presented secret reaches the current one."""
        candidate = token.secret
        for _ in range(min(session.refresh.generation, MAX_ANCESTRY)):
            candidate = self._deriver.successor(session.id, candidate)
            if session.refresh.is_current(hash_refresh_secret(candidate)):
                return True
        return False

    async def _reuse_detected(self, session: Session, caller: CallerContext) -> None:
        await self._store.revoke(session.id, RevocationReason.REFRESH_REUSE)
        await self._revocations.revoke(session.id, self._revoked_until())
        await self._audit.record(
            "refresh_reuse_detected",
            caller=self._as_user(caller, session.user_id),
            outcome=AuditOutcome.DENIED,
            target=f"session:{session.id}",
            metadata={"generation": session.refresh.generation},
        )
        await self._uow.commit()

    async def get_active(self, user_id: UUID, session_id: str) -> Session:
        """The user's session if it is still active; else ``invalid_token`` (the access token
        that named it is as good as revoked)."""
        try:
            session = await self._store.get(parse_session_id(session_id))
        except InvalidInput:
            session = None
        if (
            session is None
            or session.user_id != user_id
            or not session.is_active(self._clock.now())
        ):
            raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
        return session

    async def step_up(
        self, session: Session, *, amr: tuple[str, ...], caller: CallerContext
    ) -> SessionGrant:
        """Replace ``session`` by a new one authenticated now with ``amr`` (same device and
        remember-me choice), and end the old one. Inside the caller's unit of work."""
        grant = await self.start(
            session.user_id,
            caller=caller,
            auth_time=self._clock.now(),
            amr=amr,
            remember_me=session.remember_me,
            role=session.role,
            device_label=session.device_label,
        )
        await self._store.revoke(session.id, RevocationReason.STEP_UP)
        await self._ended(session.id, session.user_id, RevocationReason.STEP_UP, caller)
        return grant

    # -- listing and ending ----------------------------------------------------------------
    async def list_active(self, user_id: UUID) -> list[Session]:
        """The user's active sessions, most recently seen first."""
        return await self._store.list_for_user(user_id)

    async def revoke(
        self,
        user_id: UUID,
        session_id: str,
        *,
        caller: CallerContext,
        reason: RevocationReason = RevocationReason.USER_REVOKED,
    ) -> None:
        """End one of the user's sessions (``logout`` for the current one). Another user's
        session id, a malformed or an unknown one are all ``session_not_found`` (BOLA)."""
        try:
            sid = parse_session_id(session_id)
        except InvalidInput as exc:
            raise _session_not_found() from exc
        session = await self._store.get(sid)
        if session is None or session.user_id != user_id:
            raise _session_not_found()
        await self._store.revoke(sid, reason)
        await self._ended(sid, user_id, reason, caller)
        await self._uow.commit()

    async def revoke_all(
        self,
        user_id: UUID,
        *,
        caller: CallerContext,
        except_session_id: SessionId | None = None,
    ) -> list[SessionId]:
        """Sign out everywhere (but ``except_session_id``, typically the current one); committed."""
        revoked = await self.end_all(
            user_id,
            reason=RevocationReason.USER_REVOKED_ALL,
            caller=caller,
            except_session_id=except_session_id,
        )
        await self._uow.commit()
        return revoked

    async def end_all(
        self,
        user_id: UUID,
        *,
        reason: RevocationReason,
        caller: CallerContext,
        except_session_id: SessionId | None = None,
    ) -> list[SessionId]:
        """End every session of the user (password change, account disable) inside the caller's
        unit of work; one audit event per session. Sign-ins half done end too: a pending
        second-factor or emailed-code challenge is forgotten. Found by QA: an ``mfa_token``
        taken with the old password still completed a sign-in after a password reset, a
        password change, or a disable and enable."""
        for kind in ChallengeKind:
            await self._challenges.delete_for_user(user_id, kind)
        revoked = await self._store.revoke_all_for_user(
            user_id, reason, except_id=except_session_id
        )
        for session_id in revoked:
            await self._ended(session_id, user_id, reason, caller)
        return revoked

    # -- helpers ---------------------------------------------------------------------------
    def _revoked_until(self) -> datetime:
        return self._clock.now() + self._token_accepted_for

    async def _ended(
        self,
        session_id: SessionId,
        user_id: UUID,
        reason: RevocationReason,
        caller: CallerContext,
    ) -> None:
        await self._revocations.revoke(session_id, self._revoked_until())
        await self._audit.record(
            "session_evicted" if reason is RevocationReason.EVICTED else "session_revoked",
            caller=self._as_user(caller, user_id),
            target=f"session:{session_id}",
            metadata={"reason": str(reason)},
        )

    @staticmethod
    def _as_user(caller: CallerContext, user_id: UUID) -> CallerContext:
        """Attribute an event to the user when the caller is anonymous (a refresh request)."""
        if caller.actor is not None:
            return caller
        return CallerContext(f"user:{user_id}", caller.ip, caller.user_agent, caller.request_id)


def _session_not_found() -> NotFound:
    return NotFound("No such session.", code="session_not_found")
