"""Password hashing with libpass (passlib) and argon2-cffi (security.md PW-1, ENUM-1, DOS-1).

* New hashes are argon2id with a 16-byte random salt and a 32-byte tag, at the parameters of an
  :class:`Argon2Profile`; :data:`RECOMMENDED` (RFC 9106 low-memory: m=64 MiB, t=3, p=4) by
  default. A profile below :data:`FLOOR` (m=19 MiB, t=2, p=1) is refused unless the caller says
  ``allow_weak=True`` (tests, with :data:`CHEAPEST`).
* bcrypt hashes of imported users verify (through the ``bcrypt`` package, a dependency: the
  only bcrypt backend libpass has) and always need an update; so do argon2 hashes of another
  variant or other parameters (passlib's rule: memory, parallelism or tag size that differ,
  fewer passes).
* Every hash and verify runs in an executor thread, at most ``max_concurrency`` at a time
  (default: the number of CPUs). Peak memory is ``profile.memory_kib × max_concurrency``:
  64 MiB × CPUs with the recommended profile (128 MiB on 2 cores). A call waits for a free slot;
  with ``max_waiting`` set, a call that would make more than that many wait is refused at once
  with ``DependencyUnavailable`` (a 503 beats unbounded latency under a login flood). A slot is
  freed only when its thread has finished, even if the caller was cancelled.
* ``verify_dummy`` verifies against an unmatchable hash with the current parameters, through the
  same code path as ``verify``.
* Unless an executor is given, hashing runs on the hasher's own threads at a lower scheduling
  priority (nice +10 on Linux; argon2's lane threads inherit it): hashing still uses every idle
  cycle, but the event loop thread wins the CPU whenever it has requests to serve, so a login
  flood does not stall ``/health`` or other routes.

One instance belongs to one event loop (its semaphore does).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from passlib.context import CryptContext

from dashcore.domain.errors import DependencyUnavailable, IntegrityError
from dashcore.domain.passwords import normalise_password
from dashcore.ports.passwords import PasswordCheck, PasswordHasher

__all__ = [
    "CHEAPEST",
    "FLOOR",
    "PROFILES",
    "RECOMMENDED",
    "SALT_BYTES",
    "TAG_BYTES",
    "Argon2Profile",
    "LibpassHasher",
]

SALT_BYTES = 16
TAG_BYTES = 32

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Argon2Profile:
    """argon2id cost parameters: memory in KiB, passes, lanes."""

    memory_kib: int
    time_cost: int
    parallelism: int

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise ValueError("argon2 needs t >= 1, p >= 1 and m >= 8 KiB per lane")

    def at_least(self, other: Argon2Profile) -> bool:
        """True when every parameter is at least ``other``'s."""
        return (
            self.memory_kib >= other.memory_kib
            and self.time_cost >= other.time_cost
            and self.parallelism >= other.parallelism
        )


FLOOR = Argon2Profile(memory_kib=19456, time_cost=2, parallelism=1)
RECOMMENDED = Argon2Profile(memory_kib=65536, time_cost=3, parallelism=4)
CHEAPEST = Argon2Profile(memory_kib=8, time_cost=1, parallelism=1)
# By the names of the DASHCORE_HASH_PROFILE setting; "test" needs ``allow_weak=True``.
PROFILES: Mapping[str, Argon2Profile] = MappingProxyType(
    {"recommended": RECOMMENDED, "floor": FLOOR, "test": CHEAPEST}
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


_BACKGROUND_NICENESS = 10


def _background_priority() -> None:
    """Lower this thread's scheduling priority (Linux: niceness is per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BACKGROUND_NICENESS)


class LibpassHasher(PasswordHasher):
    def __init__(
        self,
        profile: Argon2Profile = RECOMMENDED,
        *,
        max_concurrency: int | None = None,
        max_waiting: int | None = None,
        executor: Executor | None = None,
        allow_weak: bool = False,
    ) -> None:
        if not allow_weak and not profile.at_least(FLOOR):
            raise ValueError(f"argon2 profile {profile} is below the floor {FLOOR}")
        slots = max_concurrency if max_concurrency is not None else os.cpu_count() or 1
        if slots < 1 or (max_waiting is not None and max_waiting < 0):
            raise ValueError("max_concurrency must be >= 1 and max_waiting >= 0")
        self.profile = profile
        self._context = CryptContext(
            schemes=["argon2", "bcrypt"],
            default="argon2",
            deprecated=["bcrypt"],
            argon2__type="ID",
            argon2__memory_cost=profile.memory_kib,
            argon2__rounds=profile.time_cost,
            argon2__parallelism=profile.parallelism,
            argon2__salt_size=SALT_BYTES,
            argon2__digest_size=TAG_BYTES,
        )
        self._slots = asyncio.Semaphore(slots)
        self.max_waiting = max_waiting
        self._waiting = 0
        self._executor = executor or ThreadPoolExecutor(
            max_workers=slots, thread_name_prefix="dashcore-hash", initializer=_background_priority
        )
        self.dummy_hash = (
            f"$argon2id$v=19$m={profile.memory_kib},t={profile.time_cost},p={profile.parallelism}"
            f"${_b64(os.urandom(SALT_BYTES))}${_b64(os.urandom(TAG_BYTES))}"
        )

    async def hash(self, password: str) -> str:
        normalised = normalise_password(password)
        return await self._run(self._context.hash, normalised)

    async def verify(self, password: str, stored_hash: str) -> PasswordCheck:
        normalised = normalise_password(password)
        return await self._run(self._verify, normalised, stored_hash)

    async def verify_dummy(self, password: str) -> None:
        normalised = normalise_password(password)
        await self._run(self._verify, normalised, self.dummy_hash)

    def _verify(self, password: str, stored_hash: str) -> PasswordCheck:
        try:
            valid = bool(self._context.verify(password, stored_hash))
        except ValueError as exc:
            raise IntegrityError(
                "The stored password hash is not in a known format.",
                code="password_hash_unrecognised",
            ) from exc
        return PasswordCheck(
            valid=valid, needs_update=valid and bool(self._context.needs_update(stored_hash))
        )

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        await self._acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._release)
        return await asyncio.shield(future)

    async def _acquire(self) -> None:
        limit = self.max_waiting
        if limit is not None and self._slots.locked() and self._waiting >= limit:
            raise DependencyUnavailable(
                "Too many password checks are in progress.",
                dependency="password_hasher",
                retry_after=1,
                code="password_hasher_busy",
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1

    def _release(self, future: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not future.cancelled():
            future.exception()
