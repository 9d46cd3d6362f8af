"""The ``SessionStore`` contract, over the memory store and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import timedelta
from uuid import uuid4

import pytest

from dashcore.domain.errors import Conflict
from dashcore.domain.sessions import RevocationReason, Session, SessionId, SessionPolicy
from dashcore_redis.sessions import RedisSessionStore
from tests.contract.sessions_support import (
    BACKENDS,
    POLICY,
    StoreHarness,
    make_session,
    new_hash,
    store_harness,
)


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[StoreHarness]:
    async for item in store_harness(request.param, request):
        yield item


@pytest.fixture
async def redis_harness(request: pytest.FixtureRequest) -> AsyncIterator[StoreHarness]:
    async for item in store_harness("redis", request):
        yield item


def rotated(session: Session, harness: StoreHarness, successor: str | None = None) -> Session:
    """A copy of ``session`` as the domain leaves it after one rotation, now."""
    copy = session.copy()
    copy.rotate(copy.refresh.current_hash, successor or new_hash(), harness.clock.now())
    return copy


async def test_a_created_session_reads_back_field_for_field(harness: StoreHarness) -> None:
    session = make_session(harness.clock, remember_me=True)
    assert await harness.store.create(session, max_active=10) == []
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert asdict(stored) == asdict(session)


async def test_an_unknown_id_reads_as_none(harness: StoreHarness) -> None:
    assert await harness.store.get(SessionId("A" * 22)) is None
    assert await harness.store.revoke(SessionId("A" * 22), RevocationReason.LOGOUT) is None
    assert not await harness.store.touch(SessionId("A" * 22), harness.clock.now())


async def test_a_session_id_cannot_be_created_twice(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    twin = make_session(harness.clock)
    twin.id = session.id
    with pytest.raises(Conflict) as caught:
        await harness.store.create(twin, max_active=10)
    assert caught.value.code == "session_exists"


async def test_the_least_recently_used_session_is_evicted_above_the_cap(
    harness: StoreHarness,
) -> None:
    user = uuid4()
    sessions = []
    for _ in range(3):
        session = make_session(harness.clock, user)
        assert await harness.store.create(session, max_active=3) == []
        sessions.append(session)
        harness.clock.advance(minutes=1)
    assert await harness.store.touch(sessions[0].id, harness.clock.now())  # now the freshest
    harness.clock.advance(minutes=1)

    newest = make_session(harness.clock, user)
    assert await harness.store.create(newest, max_active=3) == [sessions[1].id]

    listed = await harness.store.list_for_user(user)
    assert [s.id for s in listed] == [newest.id, sessions[0].id, sessions[2].id]
    evicted = await harness.store.get(sessions[1].id)
    assert evicted is not None
    assert evicted.revoked_reason is RevocationReason.EVICTED
    assert evicted.revoked_at == harness.clock.now()


async def test_eleven_logins_keep_ten_sessions(harness: StoreHarness) -> None:
    user = uuid4()
    first = make_session(harness.clock, user)
    await harness.store.create(first, max_active=POLICY.max_active)
    for _ in range(10):
        harness.clock.advance(seconds=5)
        evicted = await harness.store.create(
            make_session(harness.clock, user), max_active=POLICY.max_active
        )
    assert evicted == [first.id]
    assert len(await harness.store.list_for_user(user)) == 10


async def test_expired_and_revoked_sessions_do_not_count_toward_the_cap(
    harness: StoreHarness,
) -> None:
    user = uuid4()
    stale = make_session(harness.clock, user)
    revoked = make_session(harness.clock, user)
    for session in (stale, revoked):
        await harness.store.create(session, max_active=2)
    await harness.store.revoke(revoked.id, RevocationReason.LOGOUT)
    harness.clock.advance(POLICY.idle_timeout)
    assert await harness.store.create(make_session(harness.clock, user), max_active=2) == []
    assert await harness.store.create(make_session(harness.clock, user), max_active=2) == []
    assert len(await harness.store.list_for_user(user)) == 2


async def test_listing_shows_only_the_users_active_sessions_freshest_first(
    harness: StoreHarness,
) -> None:
    user, other = uuid4(), uuid4()
    older = make_session(harness.clock, user)
    await harness.store.create(older, max_active=10)
    harness.clock.advance(seconds=1)
    newer = make_session(harness.clock, user)
    gone = make_session(harness.clock, user)
    for session in (newer, gone, make_session(harness.clock, other)):
        await harness.store.create(session, max_active=10)
    await harness.store.revoke(gone.id, RevocationReason.USER_REVOKED)
    assert [s.id for s in await harness.store.list_for_user(user)] == [newer.id, older.id]
    assert await harness.store.list_for_user(uuid4()) == []


async def test_rotate_is_a_compare_and_set_on_the_current_hash(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    harness.clock.advance(minutes=5)
    first = rotated(session, harness)
    assert await harness.store.rotate(first, expected_hash=session.refresh.current_hash)
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert stored.refresh == first.refresh
    assert stored.last_seen_at == harness.clock.now()
    assert stored.absolute_expires_at == session.absolute_expires_at

    late = rotated(session, harness)
    assert not await harness.store.rotate(late, expected_hash=session.refresh.current_hash)
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert stored.refresh == first.refresh


async def test_fifty_concurrent_rotations_of_one_hash_have_exactly_one_winner(
    harness: StoreHarness,
) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    candidates = [rotated(session, harness) for _ in range(50)]
    results = await asyncio.gather(
        *(
            harness.store.rotate(candidate, expected_hash=session.refresh.current_hash)
            for candidate in candidates
        )
    )
    assert sum(results) == 1
    winner = candidates[results.index(True)]
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert stored.refresh == winner.refresh
    assert stored.refresh.generation == 1


async def test_a_revoked_or_expired_session_does_not_rotate(harness: StoreHarness) -> None:
    revoked = make_session(harness.clock)
    idle = make_session(harness.clock)
    for session in (revoked, idle):
        await harness.store.create(session, max_active=10)
    await harness.store.revoke(revoked.id, RevocationReason.LOGOUT)
    assert not await harness.store.rotate(
        rotated(revoked, harness), expected_hash=revoked.refresh.current_hash
    )
    candidate = rotated(idle, harness)
    harness.clock.advance(POLICY.idle_timeout)
    assert not await harness.store.rotate(candidate, expected_hash=idle.refresh.current_hash)


async def test_touch_slides_last_seen_forward_only(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    start = harness.clock.now()
    later = harness.clock.advance(minutes=20)
    assert await harness.store.touch(session.id, later)
    assert await harness.store.touch(session.id, start)
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert stored.last_seen_at == later
    harness.clock.advance(minutes=29)  # 49 min after start, 29 after the touch: still alive
    assert await harness.store.get(session.id) is not None


async def test_revoke_is_idempotent_and_keeps_the_first_reason(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    first = await harness.store.revoke(session.id, RevocationReason.LOGOUT)
    assert first is not None
    assert first.revoked_at == harness.clock.now()
    assert first.revoked_reason is RevocationReason.LOGOUT
    harness.clock.advance(seconds=3)
    again = await harness.store.revoke(session.id, RevocationReason.REFRESH_REUSE)
    assert again is not None
    assert (again.revoked_at, again.revoked_reason) == (first.revoked_at, first.revoked_reason)
    assert not await harness.store.touch(session.id, harness.clock.now())


async def test_revoke_all_spares_the_exception_and_other_users(harness: StoreHarness) -> None:
    user, other = uuid4(), uuid4()
    mine = [make_session(harness.clock, user) for _ in range(3)]
    theirs = make_session(harness.clock, other)
    for session in [*mine, theirs]:
        await harness.store.create(session, max_active=10)
    await harness.store.revoke(mine[2].id, RevocationReason.LOGOUT)

    revoked = await harness.store.revoke_all_for_user(
        user, RevocationReason.PASSWORD_CHANGED, except_id=mine[0].id
    )
    assert revoked == [mine[1].id]
    assert [s.id for s in await harness.store.list_for_user(user)] == [mine[0].id]
    assert [s.id for s in await harness.store.list_for_user(other)] == [theirs.id]
    stored = await harness.store.get(mine[1].id)
    assert stored is not None
    assert stored.revoked_reason is RevocationReason.PASSWORD_CHANGED

    everything = await harness.store.revoke_all_for_user(user, RevocationReason.ACCOUNT_DISABLED)
    assert everything == [mine[0].id]
    assert await harness.store.list_for_user(user) == []


async def test_a_session_vanishes_when_idle_too_long(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    harness.clock.advance(POLICY.idle_timeout - timedelta(microseconds=1))
    assert await harness.store.get(session.id) is not None
    harness.clock.advance(microseconds=1)
    assert await harness.store.get(session.id) is None
    assert await harness.store.list_for_user(session.user_id) == []
    assert await harness.store.revoke(session.id, RevocationReason.LOGOUT) is None


async def test_activity_never_extends_the_absolute_expiry(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    current = session
    while harness.clock.now() + timedelta(minutes=20) < session.absolute_expires_at:
        harness.clock.advance(minutes=20)
        successor = rotated(current, harness)
        assert await harness.store.rotate(successor, expected_hash=current.refresh.current_hash)
        current = successor
    stored = await harness.store.get(session.id)
    assert stored is not None
    assert stored.absolute_expires_at == session.absolute_expires_at
    harness.clock.set(session.absolute_expires_at)
    assert await harness.store.get(session.id) is None


async def test_a_stored_session_is_not_aliased_by_callers(harness: StoreHarness) -> None:
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    session.revoke(RevocationReason.LOGOUT, harness.clock.now())
    read = await harness.store.get(session.id)
    assert read is not None
    assert not read.is_revoked
    read.last_seen_at = read.last_seen_at + timedelta(hours=1)
    again = await harness.store.get(session.id)
    assert again is not None
    assert again.last_seen_at == session.last_seen_at


@pytest.mark.redis
async def test_redis_keys_carry_ttls_that_follow_activity(redis_harness: StoreHarness) -> None:
    harness, redis = redis_harness, redis_harness.redis
    assert isinstance(harness.store, RedisSessionStore)
    assert redis is not None
    session = make_session(harness.clock)
    await harness.store.create(session, max_active=10)
    key, index = harness.store.session_key(session.id), harness.store.user_key(session.user_id)
    idle_ms = POLICY.idle_timeout // timedelta(milliseconds=1)
    assert idle_ms - 2_000 < await redis.pttl(key) <= idle_ms
    assert idle_ms - 2_000 < await redis.pttl(index) <= idle_ms

    harness.clock.advance(minutes=10)
    assert await harness.store.touch(session.id, harness.clock.now())
    assert idle_ms - 2_000 < await redis.pttl(key) <= idle_ms
    await harness.store.revoke(session.id, RevocationReason.LOGOUT)
    assert idle_ms - 2_000 < await redis.pttl(key) <= idle_ms  # kept readable until expiry


@pytest.mark.redis
async def test_redis_ttls_never_pass_the_absolute_expiry(redis_harness: StoreHarness) -> None:
    harness, redis = redis_harness, redis_harness.redis
    assert isinstance(harness.store, RedisSessionStore)
    assert redis is not None
    lenient = SessionPolicy(idle_timeout=timedelta(hours=12))
    session = make_session(harness.clock, policy=lenient)
    await harness.store.create(session, max_active=10)
    harness.clock.set(session.absolute_expires_at - timedelta(minutes=5))
    assert await harness.store.touch(session.id, harness.clock.now())
    assert 298_000 < await redis.pttl(harness.store.session_key(session.id)) <= 300_000
    assert await redis.pttl(harness.store.user_key(session.user_id)) > 298_000
