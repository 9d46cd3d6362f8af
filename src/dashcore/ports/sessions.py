"""Where sessions live, how their revocation reaches every API process, and how a refresh
secret's successor is derived.

Activity and ``last_seen_at``: a refresh updates ``last_seen_at`` (inside the atomic rotate), and
the idle timeout is a refresh-inactivity timeout (RT-3). Access-token requests do not write to
the store: with access tokens shorter than the idle timeout an active client refreshes often
enough. ``touch`` slides ``last_seen_at`` without a rotation; no use case calls it today, and
nothing may call it once per request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.sessions import RevocationReason, Session, SessionId

__all__ = ["RefreshSecretDeriver", "RevocationList", "SessionStore"]


class SessionStore(Protocol):
    """Session records, keyed by session id, indexed by user.

    A session that is revoked or past ``expires_at`` is not *active*: it counts toward no cap and
    is not listed. Records vanish by themselves once past ``expires_at`` (``get`` returns
    ``None`` from then on); a revoked record stays readable until then. Every method is atomic,
    across tasks and across processes sharing the backend.
    """

    async def create(self, session: Session, *, max_active: int) -> list[SessionId]:
        """Store a new session. If the user then has more than ``max_active`` active sessions,
        revoke (reason ``evicted``) the least recently used ones first; return their ids."""
        ...

    async def get(self, session_id: SessionId) -> Session | None: ...

    async def list_for_user(self, user_id: UUID) -> list[Session]:
        """The user's active sessions, most recently seen first."""
        ...

    async def rotate(self, session: Session, *, expected_hash: str) -> bool:
        """Compare-and-set: if the stored current refresh hash still equals ``expected_hash`` and
        the session is active, store ``session.refresh`` and ``session.last_seen_at``; return
        whether it did. Of any number of concurrent calls with one ``expected_hash``, exactly one
        wins."""
        ...

    async def touch(self, session_id: SessionId, seen_at: datetime) -> bool:
        """Slide ``last_seen_at`` forward (never back) on an active session; False if none."""
        ...

    async def revoke(self, session_id: SessionId, reason: RevocationReason) -> Session | None:
        """Revoke one session (idempotent: a second call keeps the first reason). Return the
        session as stored afterwards, ``None`` if there is no such live record."""
        ...

    async def revoke_all_for_user(
        self, user_id: UUID, reason: RevocationReason, *, except_id: SessionId | None = None
    ) -> list[SessionId]:
        """Revoke every active session of the user but ``except_id``; return the ids revoked."""
        ...


class RevocationList(Protocol):
    """Session ids whose access tokens must stop working before they expire (JWT-3).

    ``is_revoked`` runs on every authenticated request: it is synchronous and answers from
    process-local memory. A revocation made in any process reaches every other process within
    a second. An entry is needed only ``until`` the last access token of that session expires.
    """

    async def revoke(self, session_id: SessionId, until: datetime) -> None: ...

    def is_revoked(self, session_id: str) -> bool: ...

    async def start(self) -> None:
        """Load the current list and begin following revocations (call once per process)."""
        ...

    async def stop(self) -> None: ...


class RefreshSecretDeriver(Protocol):
    """Derives the successor of a refresh secret, deterministically, under a server-held key.

    Deterministic so that the immediate predecessor presented again within the grace window
    gets the *same* successor without the successor ever being stored (RT-2). Every process
    must use the same key.
    """

    def successor(self, session_id: SessionId, predecessor: bytes) -> bytes: ...
