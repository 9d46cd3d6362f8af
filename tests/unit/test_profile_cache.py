"""Profile snapshots: time-limited, copied, forgotten on every write in this process."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from dashcore.application.profile import ForgetfulUsers, GetProfile
from dashcore.domain.email import Email
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.users import User
from dashcore.testing import FakeClock
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.profile_cache import MemoryProfileCache
from dashcore_memory.users import MemoryUserDirectory, MemoryUserRepository
from dashcore_ratelimit.limiter import NoRateLimits


def user(clock: FakeClock, number: int = 1) -> User:
    return User(
        id=UUID(int=number),
        email=Email(f"u{number}@example.org"),
        password_hash="$argon2id$x",
        created_at=clock.now(),
        updated_at=clock.now(),
        verified=True,
    )


def test_snapshots_expire_and_are_taken_as_copies() -> None:
    clock = FakeClock()
    cache = MemoryProfileCache(clock, ttl=timedelta(seconds=2))
    original = user(clock)
    cache.put(original)
    original.rename("changed after caching", clock.now())
    cached = cache.get(original.id)
    assert cached is not None
    assert cached.display_name is None
    clock.advance(timedelta(seconds=2))
    assert cache.get(original.id) is None


def test_the_oldest_snapshot_leaves_when_the_cache_is_full() -> None:
    clock = FakeClock()
    cache = MemoryProfileCache(clock, capacity=2)
    for number in (1, 2, 3):
        cache.put(user(clock, number))
    assert cache.get(UUID(int=1)) is None
    assert cache.get(UUID(int=3)) is not None


async def test_a_write_through_the_repository_forgets_the_snapshot() -> None:
    clock = FakeClock()
    cache = MemoryProfileCache(clock)
    database = MemoryDatabase()
    uow = MemoryUnitOfWork(database)
    users = ForgetfulUsers(MemoryUserRepository(uow), cache)
    account = user(clock)
    await users.add(account)
    await uow.commit()
    profile = GetProfile(MemoryUserDirectory(database), cache)
    assert (await profile(account.id)).display_name is None
    account.rename("Ada", clock.now())
    await users.save(account)
    await uow.commit()
    assert (await profile(account.id)).display_name == "Ada"
    account.disable(clock.now())
    await users.save(account)
    await uow.commit()
    with pytest.raises(AuthenticationFailed):
        await profile(account.id)


async def test_no_rate_limits_allows_everything_and_counts_nothing() -> None:
    limiter = NoRateLimits()
    policy = RatePolicy(name="login_account", limit=1, window=60)
    decisions = [await limiter.hit(policy, "key") for _ in range(10)]
    assert all(d.allowed and d.remaining == 1 for d in decisions)
