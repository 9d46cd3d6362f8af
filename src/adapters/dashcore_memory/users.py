"""Users and email tokens in memory (embedded default, fast tests).

Entities are copied on the way in and out, so a caller's uncommitted changes never leak into
committed state. Counting concurrent failed logins is exact only within one task at a time:
good enough for one process and for tests; PostgreSQL is the multi-process answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from dashcore.domain.email_tokens import EmailToken, TokenPurpose
from dashcore.domain.users import LoginThrottle, Role, User
from dashcore.ports.users import (
    EmailTokenRepository,
    KnownDevices,
    UserDirectory,
    UserRepository,
)
from dashcore_memory.store import MemoryDatabase, MemoryUnitOfWork

__all__ = [
    "MemoryEmailTokenRepository",
    "MemoryKnownDevices",
    "MemoryUserDirectory",
    "MemoryUserRepository",
]

USERS = "users"
TOKENS = "email_tokens"
DEVICES = "known_devices"


class MemoryUserRepository(UserRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _put(self, user: User, *, insert: bool) -> None:
        self._uow.put(
            USERS, user.id, replace(user), insert=insert, unique=(("email", user.email.key),)
        )

    async def add(self, user: User) -> None:
        self._put(user, insert=True)

    async def get(self, user_id: UUID) -> User | None:
        user: User | None = self._uow.get(USERS, user_id)
        return None if user is None else replace(user)

    async def get_by_email_key(self, email_key: str) -> User | None:
        users: list[User] = [user for _, user in self._uow.rows(USERS)]
        return next((replace(u) for u in users if u.email.key == email_key), None)

    async def save(self, user: User) -> None:
        self._put(user, insert=False)

    async def lock_throttle(self, user_id: UUID) -> LoginThrottle | None:
        user: User | None = self._uow.get(USERS, user_id)
        return None if user is None else user.throttle

    async def save_throttle(self, user_id: UUID, throttle: LoginThrottle) -> None:
        user: User | None = self._uow.get(USERS, user_id)
        if user is not None:
            self._put(replace(user, throttle=throttle), insert=False)

    async def page(self, *, after: UUID | None, limit: int) -> Sequence[User]:
        ordered = sorted((user for _, user in self._uow.rows(USERS)), key=lambda u: u.id)
        return [replace(u) for u in ordered if after is None or u.id > after][:limit]

    async def count_admins(self) -> int:
        return sum(1 for _, user in self._uow.rows(USERS) if user.role is Role.ADMIN)


class MemoryUserDirectory(UserDirectory):
    """Reads committed users."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._database = database

    async def get(self, user_id: UUID) -> User | None:
        return await MemoryUserRepository(MemoryUnitOfWork(self._database)).get(user_id)


class MemoryEmailTokenRepository(EmailTokenRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, token: EmailToken) -> None:
        self._uow.put(
            TOKENS, token.id, replace(token), insert=True, unique=(("hash", token.token_hash),)
        )

    async def find(self, token_hash: bytes, purpose: TokenPurpose) -> EmailToken | None:
        tokens: list[EmailToken] = [token for _, token in self._uow.rows(TOKENS)]
        return next(
            (replace(t) for t in tokens if t.token_hash == token_hash and t.purpose is purpose),
            None,
        )

    async def consume(self, token_id: UUID, at: datetime) -> bool:
        token: EmailToken | None = self._uow.get(TOKENS, token_id)
        if token is None or token.used_at is not None:
            return False
        self._uow.put(
            TOKENS, token_id, replace(token, used_at=at), unique=(("hash", token.token_hash),)
        )
        return True

    async def void_for_user(self, user_id: UUID, purpose: TokenPurpose) -> int:
        doomed = [
            key
            for key, token in self._uow.rows(TOKENS)
            if token.user_id == user_id and token.purpose is purpose and token.used_at is None
        ]
        for key in doomed:
            self._uow.delete(TOKENS, key)
        return len(doomed)


class MemoryKnownDevices(KnownDevices):
    """Rows keyed by (user id, fingerprint), holding the first and last sighting."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def count(self, user_id: UUID) -> int:
        keys: list[Any] = [key for key, _ in self._uow.rows(DEVICES)]
        return sum(1 for owner, _ in keys if owner == user_id)

    async def remember(self, user_id: UUID, fingerprint: str, at: datetime) -> bool:
        key = (user_id, fingerprint)
        seen: tuple[datetime, datetime] | None = self._uow.get(DEVICES, key)
        self._uow.put(DEVICES, key, (at if seen is None else seen[0], at))
        return seen is None
