"""Session use cases and policies (RT-1..3, SESS-1, JWT-3) on the memory adapters, fake clock."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.sessions import (
    HmacRefreshSecretDeriver,
    SessionGrant,
    Sessions,
)
from dashcore.domain.audit import AuditOutcome, RecordedAuditEvent
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from dashcore.domain.sessions import (
    RefreshToken,
    RevocationReason,
    SessionId,
    SessionPolicy,
)
from dashcore.testing.clock import FakeClock
from dashcore.testing.ids import SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.mfa import MemoryLoginChallengeRepository
from dashcore_memory.sessions import MemoryRevocationList, MemorySessionStore
from dashcore_security.jwt import DEFAULT_LEEWAY

ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
KEY = hashlib.sha256(b"unit-test refresh derivation key").digest()
CALLER = CallerContext(ip="203.0.113.9", user_agent="Mozilla/5.0 (X11)", request_id="req-1")


@dataclass(slots=True)
class World:
    clock: FakeClock
    database: MemoryDatabase
    store: MemorySessionStore
    revocations: MemoryRevocationList
    uow: MemoryUnitOfWork

    @property
    def sessions(self) -> Sessions:
        """The login request's use case: its unit of work is ``uow``."""
        return self.use_case(uow=self.uow)

    def use_case(
        self,
        *,
        key: bytes = KEY,
        policy: SessionPolicy | None = None,
        uow: MemoryUnitOfWork | None = None,
    ) -> Sessions:
        """Another request's use case (own unit of work) over the same adapters."""
        uow = uow or MemoryUnitOfWork(self.database)
        return Sessions(
            self.store,
            self.revocations,
            HmacRefreshSecretDeriver(key),
            uow,
            AuditTrail(MemoryAuditLog(uow), self.clock, SequentialIds()),
            self.clock,
            challenges=MemoryLoginChallengeRepository(uow),
            policy=policy or SessionPolicy(),
            access_token_lifetime=ACCESS_TOKEN_LIFETIME,
            access_token_leeway=DEFAULT_LEEWAY,
        )

    async def audit(self) -> list[RecordedAuditEvent]:
        """The committed audit events."""
        return [r async for r in MemoryAuditLog(MemoryUnitOfWork(self.database)).records()]

    async def start(self, user: UUID, **options: object) -> SessionGrant:
        return await self.sessions.start(
            user,
            caller=CallerContext(f"user:{user}", "198.51.100.4", "Firefox/128", "req-login"),
            auth_time=self.clock.now(),
            amr=("pwd",),
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    database = MemoryDatabase()
    return World(
        clock,
        database,
        MemorySessionStore(clock),
        MemoryRevocationList(clock),
        MemoryUnitOfWork(database),
    )


async def refresh(world: World, token: str) -> SessionGrant:
    return await world.use_case().refresh(token, caller=CALLER)


async def assert_invalid(world: World, token: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        await refresh(world, token)
    assert caught.value.code == "invalid_refresh_token"


# -- start -------------------------------------------------------------------------------------


async def test_start_opens_a_session_with_fixed_lifetimes_and_an_opaque_token(
    world: World,
) -> None:
    user = uuid4()
    grant = await world.start(user, role="user", device_label="laptop")
    session = grant.session
    sid, secret = grant.refresh_token.split(".")
    assert sid == session.id
    assert len(sid) == 22 and len(secret) == 43  # 128-bit id, 256-bit secret
    assert session.absolute_expires_at == world.clock.now() + timedelta(hours=12)
    assert session.idle_timeout == timedelta(minutes=30)
    assert (session.ip, session.user_agent) == ("198.51.100.4", "Firefox/128")
    assert (session.role, session.device_label, session.amr) == ("user", "laptop", ("pwd",))
    stored = await world.store.get(session.id)
    assert stored is not None
    assert (
        stored.refresh.current_hash
        == hashlib.sha256(RefreshToken.parse(grant.refresh_token).secret).hexdigest()
    )
    assert grant.refresh_token not in repr(grant)
    assert stored.refresh.current_hash not in repr(stored)


async def test_remember_me_lives_thirty_days_with_a_seven_day_idle_timeout(world: World) -> None:
    grant = await world.start(uuid4(), remember_me=True)
    assert grant.session.absolute_expires_at == world.clock.now() + timedelta(days=30)
    world.clock.advance(days=6, hours=23)
    again = await refresh(world, grant.refresh_token)
    world.clock.advance(days=7)
    await assert_invalid(world, again.refresh_token)


async def test_every_start_is_a_new_session_id(world: World) -> None:
    user = uuid4()
    ids = {(await world.start(user)).session.id for _ in range(5)}
    assert len(ids) == 5


async def test_start_requires_an_authentication_method(world: World) -> None:
    with pytest.raises(InvalidInput):
        await world.sessions.start(uuid4(), caller=CALLER, auth_time=world.clock.now(), amr=())


async def test_the_eleventh_login_evicts_the_least_recently_used_session(world: World) -> None:
    user = uuid4()
    grants = []
    for _ in range(11):
        grants.append(await world.start(user))
        world.clock.advance(seconds=30)
    oldest = grants[0].session.id
    assert world.revocations.is_revoked(oldest)
    assert len(await world.sessions.list_active(user)) == 10
    await assert_invalid(world, grants[0].refresh_token)
    assert [(e.event.action, e.event.target) for e in await world.audit()] == []  # uncommitted
    await world.uow.commit()
    events = await world.audit()
    assert [(e.event.action, e.event.target, e.event.actor) for e in events] == [
        ("session_evicted", f"session:{oldest}", f"user:{user}")
    ]


# -- refresh: rotation, grace, reuse -------------------------------------------------------------


async def test_a_refresh_rotates_the_token_and_marks_the_session_seen(world: World) -> None:
    grant = await world.start(uuid4())
    world.clock.advance(minutes=9)
    second = await refresh(world, grant.refresh_token)
    assert second.refresh_token != grant.refresh_token
    assert second.session.id == grant.session.id
    assert second.session.refresh.generation == 1
    assert second.session.last_seen_at == world.clock.now()
    third = await refresh(world, second.refresh_token)
    assert third.session.refresh.generation == 2


async def test_the_predecessor_within_the_grace_window_gets_the_same_successor(
    world: World,
) -> None:
    grant = await world.start(uuid4())
    second = await refresh(world, grant.refresh_token)
    world.clock.advance(seconds=9.999)
    again = await refresh(world, grant.refresh_token)
    assert again.refresh_token == second.refresh_token
    assert (await refresh(world, second.refresh_token)).session.refresh.generation == 2


async def test_twenty_concurrent_refreshes_share_one_successor(world: World) -> None:
    grant = await world.start(uuid4())
    results = await asyncio.gather(*(refresh(world, grant.refresh_token) for _ in range(20)))
    assert len({result.refresh_token for result in results}) == 1
    stored = await world.store.get(grant.session.id)
    assert stored is not None
    assert stored.refresh.generation == 1
    assert not world.revocations.is_revoked(grant.session.id)


async def test_the_predecessor_after_the_grace_window_revokes_the_family(world: World) -> None:
    user = uuid4()
    grant = await world.start(user)
    second = await refresh(world, grant.refresh_token)
    world.clock.advance(seconds=10)
    await assert_invalid(world, grant.refresh_token)
    await assert_invalid(world, second.refresh_token)  # R2 is dead too
    assert world.revocations.is_revoked(grant.session.id)  # and so are its access tokens
    stored = await world.store.get(grant.session.id)
    assert stored is not None
    assert stored.revoked_reason is RevocationReason.REFRESH_REUSE
    [event] = await world.audit()  # committed by the use case, exactly once
    assert event.event.action == "refresh_reuse_detected"
    assert event.event.outcome is AuditOutcome.DENIED
    assert event.event.actor == f"user:{user}"
    assert event.event.target == f"session:{grant.session.id}"
    assert event.event.ip == CALLER.ip
    assert dict(event.event.metadata) == {"generation": 1}


async def test_a_grandparent_within_the_grace_window_revokes_the_family(world: World) -> None:
    grant = await world.start(uuid4())
    second = await refresh(world, grant.refresh_token)
    third = await refresh(world, second.refresh_token)
    world.clock.advance(seconds=5)
    await assert_invalid(world, grant.refresh_token)
    await assert_invalid(world, third.refresh_token)
    assert world.revocations.is_revoked(grant.session.id)
    assert [e.event.action for e in await world.audit()] == ["refresh_reuse_detected"]


async def test_a_distant_ancestor_is_recognised_as_reuse(world: World) -> None:
    grant = await world.start(uuid4())
    token = grant.refresh_token
    for _ in range(30):
        world.clock.advance(minutes=1)
        token = (await refresh(world, token)).refresh_token
    await assert_invalid(world, grant.refresh_token)
    assert world.revocations.is_revoked(grant.session.id)


async def test_a_forged_secret_for_a_known_session_id_does_not_revoke_it(world: World) -> None:
    grant = await world.start(uuid4())
    second = await refresh(world, grant.refresh_token)
    forged = RefreshToken(SessionId(grant.session.id), bytes(32)).encode()
    await assert_invalid(world, forged)
    assert not world.revocations.is_revoked(grant.session.id)
    assert await world.audit() == []
    assert (await refresh(world, second.refresh_token)).session.refresh.generation == 2


async def test_a_token_of_another_session_is_invalid(world: World) -> None:
    first, second = await world.start(uuid4()), await world.start(uuid4())
    crossed = f"{first.session.id}.{second.refresh_token.split('.')[1]}"
    await assert_invalid(world, crossed)
    assert not world.revocations.is_revoked(first.session.id)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t + "A",
        lambda t: t.replace(".", ""),
        lambda t: t + ".x",
        lambda t: t.split(".")[0],
        lambda t: "." + t.split(".")[1],
        lambda t: " " + t,
        lambda t: t.upper(),
        lambda t: "",
        lambda t: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        lambda t: t.split(".")[0] + "." + "A" * 42 + "B",  # non-canonical: unused bits set
        lambda t: "é" * 22 + "." + t.split(".")[1],
    ],
)
async def test_malformed_tokens_are_invalid(world: World, mangle: object) -> None:
    grant = await world.start(uuid4())
    mangled = mangle(grant.refresh_token)  # type: ignore[operator]
    assert mangled != grant.refresh_token
    await assert_invalid(world, mangled)
    assert not world.revocations.is_revoked(grant.session.id)


async def test_an_unknown_session_id_is_invalid(world: World) -> None:
    await assert_invalid(world, RefreshToken(SessionId("Q" * 22), bytes(32)).encode())


async def test_idle_expiry_after_thirty_minutes_without_refresh(world: World) -> None:
    grant = await world.start(uuid4())
    world.clock.advance(minutes=29, seconds=59)
    second = await refresh(world, grant.refresh_token)
    world.clock.advance(minutes=31)
    await assert_invalid(world, second.refresh_token)


async def test_absolute_expiry_at_twelve_hours_whatever_the_activity(world: World) -> None:
    grant = await world.start(uuid4())
    started = world.clock.now()
    token = grant.refresh_token
    for minutes in [10] * 71 + [9]:  # a refresh every 10 minutes, the last one at 11h59m
        world.clock.advance(minutes=minutes)
        result = await refresh(world, token)
        assert result.session.absolute_expires_at == started + timedelta(hours=12)
        token = result.refresh_token
    assert world.clock.now() - started == timedelta(hours=11, minutes=59)
    world.clock.set(started + timedelta(hours=12, seconds=1))
    await assert_invalid(world, token)


async def test_refresh_after_logout_is_invalid(world: World) -> None:
    user = uuid4()
    grant = await world.start(user)
    await world.use_case().revoke(
        user, grant.session.id, caller=CALLER, reason=RevocationReason.LOGOUT
    )
    await assert_invalid(world, grant.refresh_token)
    assert [e.event.action for e in await world.audit()] == ["session_revoked"]


async def test_a_changed_derivation_key_fails_the_grace_retry_without_revoking(
    world: World,
) -> None:
    grant = await world.start(uuid4())
    await refresh(world, grant.refresh_token)
    other_key = world.use_case(key=hashlib.sha256(b"another key").digest())
    with pytest.raises(AuthenticationFailed):
        await other_key.refresh(grant.refresh_token, caller=CALLER)
    assert not world.revocations.is_revoked(grant.session.id)


# -- listing and revoking ----------------------------------------------------------------------


async def test_list_shows_the_users_active_sessions(world: World) -> None:
    user = uuid4()
    first = await world.start(user)
    world.clock.advance(seconds=1)
    second = await world.start(user)
    await world.start(uuid4())
    listed = await world.sessions.list_active(user)
    assert [s.id for s in listed] == [second.session.id, first.session.id]


async def test_revoking_another_users_session_is_not_found(world: World) -> None:
    victim = await world.start(uuid4())
    for session_id in (victim.session.id, "not-a-session-id", "Z" * 22):
        with pytest.raises(NotFound) as caught:
            await world.use_case().revoke(uuid4(), session_id, caller=CALLER)
        assert caught.value.code == "session_not_found"
    assert not world.revocations.is_revoked(victim.session.id)
    assert (await refresh(world, victim.refresh_token)).session.refresh.generation == 1


async def test_revoking_a_session_stops_its_access_tokens_until_they_expire(world: World) -> None:
    user = uuid4()
    grant = await world.start(user)
    await world.use_case().revoke(user, grant.session.id, caller=CALLER)
    assert world.revocations.is_revoked(grant.session.id)
    [event] = await world.audit()
    assert (event.event.action, dict(event.event.metadata)) == (
        "session_revoked",
        {"reason": "user_revoked"},
    )
    world.clock.advance(ACCESS_TOKEN_LIFETIME)
    await world.revocations.revoke(SessionId("P" * 22), world.clock.now() + timedelta(minutes=1))
    assert world.revocations.is_revoked(grant.session.id)  # a verifier's leeway still takes them
    world.clock.advance(DEFAULT_LEEWAY)
    await world.revocations.revoke(SessionId("Q" * 22), world.clock.now() + timedelta(minutes=1))
    assert not world.revocations.is_revoked(grant.session.id)  # pruned: its tokens are dead


async def test_revoke_all_keeps_the_current_session(world: World) -> None:
    user = uuid4()
    current, *others = [await world.start(user) for _ in range(3)]
    revoked = await world.use_case().revoke_all(
        user, caller=CALLER, except_session_id=current.session.id
    )
    assert sorted(revoked) == sorted(g.session.id for g in others)
    assert all(world.revocations.is_revoked(g.session.id) for g in others)
    assert not world.revocations.is_revoked(current.session.id)
    assert [s.id for s in await world.sessions.list_active(user)] == [current.session.id]
    assert [e.event.action for e in await world.audit()] == ["session_revoked"] * 2


async def test_end_all_leaves_committing_to_the_caller(world: World) -> None:
    user = uuid4()
    grant = await world.start(user)
    await world.sessions.end_all(user, reason=RevocationReason.PASSWORD_CHANGED, caller=CALLER)
    assert world.revocations.is_revoked(grant.session.id)
    assert await world.audit() == []
    await world.uow.commit()
    [event] = await world.audit()
    assert dict(event.event.metadata) == {"reason": "password_changed"}


# -- activity ----------------------------------------------------------------------------------


class CountingStore(MemorySessionStore):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.touches = 0

    async def touch(self, session_id: SessionId, seen_at: datetime) -> bool:
        self.touches += 1
        return await super().touch(session_id, seen_at)


@pytest.mark.parametrize(
    "options",
    [
        {"grace": timedelta(seconds=61)},
        {"grace": timedelta(seconds=-1)},
        {"max_active": 0},
        {"idle_timeout": timedelta(0)},
        {"absolute_lifetime": timedelta(minutes=-5)},
    ],
)
def test_policies_out_of_range_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as caught:
        SessionPolicy(**options)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_session_policy"


def test_the_derivation_key_is_long_and_never_shown() -> None:
    with pytest.raises(InvalidInput):
        HmacRefreshSecretDeriver(b"short")
    assert KEY.hex() not in repr(HmacRefreshSecretDeriver(KEY))


def test_the_access_token_lifetime_must_be_positive(world: World) -> None:
    with pytest.raises(InvalidInput):
        Sessions(
            world.store,
            world.revocations,
            HmacRefreshSecretDeriver(KEY),
            world.uow,
            AuditTrail(MemoryAuditLog(world.uow), world.clock, SequentialIds()),
            world.clock,
            challenges=MemoryLoginChallengeRepository(world.uow),
            policy=SessionPolicy(),
            access_token_lifetime=timedelta(0),
        )
