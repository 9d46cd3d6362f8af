"""A per-process, time-limited cache of user snapshots (see ``ProfileCache``)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.users import ProfileCache

__all__ = ["MemoryProfileCache"]


class MemoryProfileCache(ProfileCache):
    """Snapshots live ``ttl`` (2 s by default); at most ``capacity`` are kept, the oldest
    insertion leaving first. ``put`` stores a copy; ``get`` hands out the stored snapshot
    itself (it is read on every ``GET /auth/me``), which readers must not change."""

    def __init__(
        self, clock: Clock, *, ttl: timedelta = timedelta(seconds=2), capacity: int = 10_000
    ) -> None:
        if ttl <= timedelta(0) or capacity < 1:
            raise ValueError("ttl must be positive and capacity at least 1")
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[UUID, tuple[datetime, User]] = OrderedDict()

    def get(self, user_id: UUID) -> User | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        expires_at, user = entry
        if self._clock.now() >= expires_at:
            del self._entries[user_id]
            return None
        return user

    def put(self, user: User) -> None:
        self._entries.pop(user.id, None)
        self._entries[user.id] = (self._clock.now() + self._ttl, replace(user))
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, user_id: UUID) -> None:
        self._entries.pop(user_id, None)
