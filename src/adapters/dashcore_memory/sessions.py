"""Sessions and revocations for one process (the embedded default and the fast-test twin).

Every method runs to completion without an ``await`` between reading and writing, so it is
atomic with respect to other tasks of the event loop: that is what makes ``rotate`` a real
compare-and-set here.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dashcore.domain.errors import Conflict
from dashcore.domain.sessions import RevocationReason, Session, SessionId
from dashcore.ports.clock import Clock
from dashcore.ports.sessions import RevocationList, SessionStore

__all__ = ["MemoryRevocationList", "MemorySessionStore"]


class MemorySessionStore(SessionStore):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sessions: dict[SessionId, Session] = {}
        self._by_user: dict[UUID, set[SessionId]] = {}

    def _live(self, session_id: SessionId) -> Session | None:
        """The stored record unless past its expiry (then it is dropped, as a TTL would)."""
        session = self._sessions.get(session_id)
        if session is not None and self._clock.now() >= session.expires_at:
            self._drop(session)
            return None
        return session

    def _drop(self, session: Session) -> None:
        del self._sessions[session.id]
        ids = self._by_user.get(session.user_id)
        if ids is not None:
            ids.discard(session.id)
            if not ids:
                del self._by_user[session.user_id]

    def _active_for(self, user_id: UUID) -> list[Session]:
        now = self._clock.now()
        live = (self._live(sid) for sid in list(self._by_user.get(user_id, ())))
        return [session for session in live if session is not None and session.is_active(now)]

    async def create(self, session: Session, *, max_active: int) -> list[SessionId]:
        if session.id in self._sessions:
            raise Conflict("The session id is taken.", code="session_exists")
        now = self._clock.now()
        active = sorted(self._active_for(session.user_id), key=lambda s: (s.last_seen_at, s.id))
        evicted = active[: max(0, len(active) + 1 - max_active)]
        for victim in evicted:
            victim.revoke(RevocationReason.EVICTED, now)
        self._sessions[session.id] = session.copy()
        self._by_user.setdefault(session.user_id, set()).add(session.id)
        return [victim.id for victim in evicted]

    async def get(self, session_id: SessionId) -> Session | None:
        session = self._live(session_id)
        return session.copy() if session is not None else None

    async def list_for_user(self, user_id: UUID) -> list[Session]:
        active = sorted(
            self._active_for(user_id), key=lambda s: (s.last_seen_at, s.id), reverse=True
        )
        return [session.copy() for session in active]

    async def rotate(self, session: Session, *, expected_hash: str) -> bool:
        stored = self._live(session.id)
        if stored is None or not stored.is_active(self._clock.now()):
            return False
        if not stored.refresh.is_current(expected_hash):
            return False
        stored.refresh = session.refresh
        stored.last_seen_at = max(stored.last_seen_at, session.last_seen_at)
        return True

    async def touch(self, session_id: SessionId, seen_at: datetime) -> bool:
        stored = self._live(session_id)
        if stored is None or not stored.is_active(self._clock.now()):
            return False
        stored.touch(seen_at)
        return True

    async def revoke(self, session_id: SessionId, reason: RevocationReason) -> Session | None:
        stored = self._live(session_id)
        if stored is None:
            return None
        stored.revoke(reason, self._clock.now())
        return stored.copy()

    async def revoke_all_for_user(
        self, user_id: UUID, reason: RevocationReason, *, except_id: SessionId | None = None
    ) -> list[SessionId]:
        now = self._clock.now()
        revoked = []
        for session in self._active_for(user_id):
            if session.id != except_id and session.revoke(reason, now):
                revoked.append(session.id)
        return sorted(revoked)


class MemoryRevocationList(RevocationList):
    """A dict of revoked session ids; entries past ``until`` are pruned on every revoke.

    An entry that outlives ``until`` until the next prune is harmless: every access token it
    could stop has expired by then.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, datetime] = {}

    async def revoke(self, session_id: SessionId, until: datetime) -> None:
        now = self._clock.now()
        for stale in [sid for sid, end in self._until.items() if end <= now]:
            del self._until[stale]
        if until > now:
            self._until[session_id] = max(until, self._until.get(session_id, until))

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._until

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
