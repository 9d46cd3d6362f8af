"""Provider connections, pending authorizations and the refresh lock in memory (embedded
default, fast tests).

The entities are frozen, so they are stored as they are. A memory unit of work sees only
committed state plus its own writes, so two open units of work can both find a pending
authorization unconsumed. What keeps it single use is a *claim*: consuming it also inserts a
row keyed by its state hash, and of two units of work that claimed the same key the second to
commit fails with ``Conflict``. Within one unit of work, or when each commits before the next
reads, the calls answer exactly as the SQL adapter does. ``lock`` takes no lock.

:class:`MemoryRefreshLock` is single flight within one process only (the embedded default
runs one): several processes need ``RedisRefreshLock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from dashcore.domain.connections import (
    ConnectionStatus,
    PendingAuthorization,
    ProviderConnection,
)
from dashcore.domain.errors import NotFound
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderConnectionRepository,
    RefreshLock,
)
from dashcore_memory.store import MemoryUnitOfWork

__all__ = [
    "MemoryPendingAuthorizationRepository",
    "MemoryProviderConnectionRepository",
    "MemoryRefreshLock",
]

CONNECTIONS = "provider_connections"
PENDING = "pending_authorizations"
PENDING_CLAIMS = "pending_authorization_claims"
"""Claims are keyed by the state hash of the pending authorization consumed."""

_USABLE = (ConnectionStatus.CONNECTED, ConnectionStatus.REFRESHING)


class MemoryProviderConnectionRepository(ProviderConnectionRepository):
    """Answers as ``SqlProviderConnectionRepository`` does (see there for the rules)."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[ProviderConnection]:
        return [connection for _, connection in self._uow.rows(CONNECTIONS)]

    async def add(self, connection: ProviderConnection) -> None:
        self._uow.put(CONNECTIONS, connection.id, connection, insert=True)

    async def get(self, connection_id: UUID) -> ProviderConnection | None:
        connection: ProviderConnection | None = self._uow.get(CONNECTIONS, connection_id)
        return connection

    async def lock(self, connection_id: UUID) -> ProviderConnection | None:
        return await self.get(connection_id)

    async def save(self, connection: ProviderConnection) -> None:
        stored = await self.get(connection.id)
        if (
            stored is None
            or stored.user_id != connection.user_id
            or stored.provider != connection.provider
        ):
            raise NotFound("No such connection.", code="connection_not_found")
        self._uow.put(CONNECTIONS, connection.id, connection)

    async def delete(self, connection_id: UUID) -> bool:
        """Its pending authorizations go with it, as SQL's ``ON DELETE CASCADE`` does."""
        if await self.get(connection_id) is None:
            return False
        self._uow.delete(CONNECTIONS, connection_id)
        _delete_pending(self._uow, lambda pending: pending.connection_id == connection_id)
        return True

    async def list_for_user(self, user_id: UUID) -> Sequence[ProviderConnection]:
        owned = (c for c in self._all() if c.user_id == user_id)
        return sorted(owned, key=lambda c: (c.created_at, c.id))

    async def expiring(self, before: datetime, *, limit: int) -> Sequence[ProviderConnection]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        ending = [
            (expiry.ends_at, connection.id, connection)
            for connection in self._all()
            if connection.status in _USABLE
            and (expiry := connection.credential_expiry) is not None
            and expiry.ends_at < before
        ]
        ending.sort(key=lambda entry: entry[:2])
        return [connection for _, _, connection in ending[:limit]]

    async def access_expiring(
        self, before: datetime, *, providers: Collection[str], limit: int
    ) -> Sequence[ProviderConnection]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        due = [
            (connection.expires_at, connection.id, connection)
            for connection in self._all()
            if connection.status is ConnectionStatus.CONNECTED
            and connection.provider in providers
            and connection.expires_at is not None
            and connection.expires_at < before
        ]
        due.sort(key=lambda entry: entry[:2])
        return [connection for _, _, connection in due[:limit]]


class MemoryPendingAuthorizationRepository(PendingAuthorizationRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, pending: PendingAuthorization) -> None:
        self._uow.put(PENDING, pending.state_hash, pending, insert=True)

    async def consume(self, state_hash: str, at: datetime) -> PendingAuthorization | None:
        pending: PendingAuthorization | None = self._uow.get(PENDING, state_hash)
        if pending is None or pending.consumed_at is not None or at >= pending.expires_at:
            return None
        consumed = replace(pending, consumed_at=at)
        self._uow.put(PENDING_CLAIMS, state_hash, at, insert=True)
        self._uow.put(PENDING, state_hash, consumed)
        return consumed

    async def delete_expired(self, before: datetime) -> int:
        return _delete_pending(self._uow, lambda pending: pending.expires_at < before)


def _delete_pending(uow: MemoryUnitOfWork, doomed: Callable[[PendingAuthorization], bool]) -> int:
    """Delete the pending authorizations ``doomed`` picks, with their claims."""
    keys = [key for key, pending in uow.rows(PENDING) if doomed(pending)]
    for key in keys:
        uow.delete(PENDING, key)
        uow.delete(PENDING_CLAIMS, key)
    return len(keys)


@dataclass(frozen=True, slots=True)
class _Hold:
    token: str
    expires_at: float
    """On ``time.monotonic()``."""


class MemoryRefreshLock(RefreshLock):
    """At most one holder per key in this process.

    A hold lasts ``ttl_seconds`` of ``time.monotonic()`` (a lock's lifetime is a duration, not
    business time: it must run out even where the application's clock is a test's frozen
    clock, just as a Redis key's TTL does). A waiter wakes as soon as the key is released or
    its hold runs out, and gives up with ``None`` after ``wait_seconds``. Only the token that
    holds the key releases it; a released or expired token releases nothing.
    """

    def __init__(self) -> None:
        self._holds: dict[str, _Hold] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    async def acquire(self, key: str, *, ttl_seconds: float, wait_seconds: float) -> str | None:
        _check(key, ttl_seconds, wait_seconds)
        deadline = time.monotonic() + wait_seconds
        while True:
            now = time.monotonic()
            hold = self._holds.get(key)
            if hold is None or hold.expires_at <= now:
                token = secrets.token_urlsafe(16)
                self._holds[key] = _Hold(token, now + ttl_seconds)
                return token
            if now >= deadline:
                return None
            await self._wait(key, min(deadline, hold.expires_at) - now)

    async def release(self, key: str, token: str) -> None:
        hold = self._holds.get(key)
        if hold is None or not secrets.compare_digest(hold.token, token):
            return
        del self._holds[key]
        for waiter in self._waiters.pop(key, set()):
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self, key: str, seconds: float) -> None:
        """Until ``key`` is released or ``seconds`` have passed."""
        released = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, set())
        waiters.add(released)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await released
        finally:
            waiters.discard(released)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]


def _check(key: str, ttl_seconds: float, wait_seconds: float) -> None:
    if not key or ttl_seconds <= 0 or wait_seconds < 0:
        raise ValueError("a lock needs a key, a positive TTL and a wait of at least zero")
