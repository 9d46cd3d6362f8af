from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.email_tokens import EmailToken, TokenPurpose
from dashcore.domain.users import LoginThrottle, User

__all__ = [
    "EmailTokenRepository",
    "KnownDevices",
    "ProfileCache",
    "UserDirectory",
    "UserRepository",
]


class UserRepository(Protocol):
    """Users, within the current unit of work.

    ``add`` raises ``Conflict(code="users_email_taken")`` when the canonical email is taken
    (on commit at the latest). ``save`` writes every mutable field of a user loaded earlier.
    """

    async def add(self, user: User) -> None: ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_email_key(self, email_key: str) -> User | None: ...

    async def save(self, user: User) -> None: ...

    async def lock_throttle(self, user_id: UUID) -> LoginThrottle | None:
        """The current throttle, with the row locked until the unit of work ends (``SELECT …
        FOR UPDATE`` where the database has it), so that concurrent failures count exactly."""
        ...

    async def save_throttle(self, user_id: UUID, throttle: LoginThrottle) -> None: ...

    async def page(self, *, after: UUID | None, limit: int) -> Sequence[User]:
        """Users ordered by id (time-ordered), the first ``limit`` after ``after``."""
        ...

    async def count_admins(self) -> int: ...


class EmailTokenRepository(Protocol):
    async def add(self, token: EmailToken) -> None: ...

    async def find(self, token_hash: bytes, purpose: TokenPurpose) -> EmailToken | None: ...

    async def consume(self, token_id: UUID, at: datetime) -> bool:
        """Mark the token used if it is not yet; ``False`` when someone else used it first."""
        ...

    async def void_for_user(self, user_id: UUID, purpose: TokenPurpose) -> int:
        """Delete the user's unused tokens of ``purpose``; returns how many."""
        ...


class ProfileCache(Protocol):
    """Recent snapshots of users for read-mostly paths (``GET /auth/me``, plan guards).

    A snapshot may lag a write made by *another* process by up to the cache's time-to-live;
    writes in this process forget the user at once. Never used where a decision depends on
    the freshest state (passwords, lockout, sessions).
    """

    def get(self, user_id: UUID) -> User | None:
        """The snapshot, shared with other readers: read it, never change it."""
        ...

    def put(self, user: User) -> None: ...

    def forget(self, user_id: UUID) -> None: ...


class UserDirectory(Protocol):
    """Reading one user outside any request's unit of work (each call uses its own short
    read-only one): for process-wide readers such as the profile snapshot cache."""

    async def get(self, user_id: UUID) -> User | None: ...


class KnownDevices(Protocol):
    """The device fingerprints each account has signed in from, in the current unit of work."""

    async def count(self, user_id: UUID) -> int: ...

    async def remember(self, user_id: UUID, fingerprint: str, at: datetime) -> bool:
        """Record a sign-in from ``fingerprint`` at ``at``; ``True`` if it was not known."""
        ...
