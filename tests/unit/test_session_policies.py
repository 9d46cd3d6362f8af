"""Property tests for the session policies: grace window, lifetimes, token syntax, reuse."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.sessions import HmacRefreshSecretDeriver, Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.sessions import (
    RefreshMatch,
    RefreshState,
    RefreshToken,
    Session,
    SessionId,
    SessionPolicy,
    hash_refresh_secret,
    new_session_id,
)
from dashcore.testing.clock import FakeClock
from dashcore.testing.ids import SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.mfa import MemoryLoginChallengeRepository
from dashcore_memory.sessions import MemoryRevocationList, MemorySessionStore

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
POLICY = SessionPolicy()
seconds = st.floats(min_value=0, max_value=120, allow_nan=False).map(
    lambda s: timedelta(seconds=round(s, 6))
)
graces = st.integers(min_value=0, max_value=60_000_000).map(lambda us: timedelta(microseconds=us))


def new_hash() -> str:
    return hash_refresh_secret(secrets.token_bytes(32))


def open_session(remember_me: bool = False) -> Session:
    return Session.open(
        session_id=new_session_id(),
        user_id=uuid4(),
        first_secret_hash=new_hash(),
        now=START,
        policy=POLICY,
        auth_time=START,
        amr=("pwd",),
        remember_me=remember_me,
    )


@given(grace=graces, delay=seconds)
def test_only_the_predecessor_within_the_grace_window_is_accepted_again(
    grace: timedelta, delay: timedelta
) -> None:
    first, second = new_hash(), new_hash()
    state = RefreshState(first).rotated(second, START)
    now = START + delay
    expected = RefreshMatch.PREDECESSOR if delay < grace else RefreshMatch.STALE_PREDECESSOR
    assert state.match(first, now, grace) is expected
    assert state.match(second, now, grace) is RefreshMatch.CURRENT
    assert state.match(new_hash(), now, grace) is RefreshMatch.UNKNOWN
    grandchild = state.rotated(new_hash(), START)
    assert grandchild.match(first, START, grace) is RefreshMatch.UNKNOWN  # never a predecessor


@given(
    gaps=st.lists(
        st.integers(min_value=1, max_value=45 * 60).map(lambda s: timedelta(seconds=s)),
        min_size=1,
        max_size=60,
    ),
    remember_me=st.booleans(),
)
def test_rotation_slides_the_idle_deadline_but_never_the_absolute_one(
    gaps: list[timedelta], remember_me: bool
) -> None:
    session = open_session(remember_me)
    absolute = session.absolute_expires_at
    lifetime, idle = POLICY.lifetime(remember_me=remember_me)
    assert absolute == START + lifetime
    now, last_seen, alive = START, START, True
    for gap in gaps:
        now += gap
        alive = alive and now - last_seen < idle and now < absolute
        current = session.refresh.current_hash
        if alive:
            session.rotate(current, new_hash(), now)
            last_seen = now
        else:
            with pytest.raises(AuthenticationFailed):
                session.rotate(current, new_hash(), now)
        assert session.absolute_expires_at == absolute
        assert session.last_seen_at == last_seen
        assert session.expires_at == min(absolute, last_seen + idle)


def test_twelve_hours_and_one_second_is_too_late_even_when_just_refreshed() -> None:
    session = open_session()
    for minute in range(10, 12 * 60, 10):
        session.rotate(session.refresh.current_hash, new_hash(), START + timedelta(minutes=minute))
    session.rotate(
        session.refresh.current_hash, new_hash(), START + timedelta(hours=11, minutes=59)
    )
    with pytest.raises(AuthenticationFailed):
        session.match_refresh(
            session.refresh.current_hash, START + timedelta(hours=12, seconds=1), POLICY.grace
        )


@given(text=st.text(max_size=80) | st.from_regex(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_=+/-]{40,46}"))
def test_a_token_either_parses_canonically_or_is_invalid(text: str) -> None:
    outcome = _parse(text)
    if isinstance(outcome, AuthenticationFailed):
        assert outcome.code == "invalid_refresh_token"
    else:
        assert outcome.encode() == text
        assert len(outcome.secret) == 32


def _parse(text: str) -> RefreshToken | AuthenticationFailed:
    try:
        return RefreshToken.parse(text)
    except AuthenticationFailed as exc:
        return exc


@given(secret=st.binary(min_size=32, max_size=32))
def test_tokens_round_trip(secret: bytes) -> None:
    token = RefreshToken(new_session_id(), secret)
    assert RefreshToken.parse(token.encode()) == token
    assert token.secret_hash == hashlib.sha256(secret).hexdigest()


@given(
    rotations=st.integers(min_value=1, max_value=6),
    depth=st.integers(min_value=1, max_value=6),
    delay=st.integers(min_value=0, max_value=20),
)
def test_presenting_an_old_token_is_grace_or_reuse(rotations: int, depth: int, delay: int) -> None:
    """R0 → … → Rn, then R(n-depth) at +delay s: the immediate predecessor within the grace window
    gets Rn back; every other case revokes the session (RT-1, RT-2)."""
    depth = min(depth, rotations)
    asyncio.run(_present_ancestor(rotations, depth, delay))


async def _present_ancestor(rotations: int, depth: int, delay: int) -> None:
    clock = FakeClock(START)
    database = MemoryDatabase()
    uow = MemoryUnitOfWork(database)
    revocations = MemoryRevocationList(clock)
    sessions = Sessions(
        MemorySessionStore(clock),
        revocations,
        HmacRefreshSecretDeriver(b"k" * 32),
        uow,
        AuditTrail(MemoryAuditLog(uow), clock, SequentialIds()),
        clock,
        challenges=MemoryLoginChallengeRepository(uow),
        policy=POLICY,
        access_token_lifetime=timedelta(minutes=10),
    )
    caller = CallerContext()
    grant = await sessions.start(uuid4(), caller=caller, auth_time=START, amr=("pwd",))
    tokens = [grant.refresh_token]
    for _ in range(rotations):
        tokens.append((await sessions.refresh(tokens[-1], caller=caller)).refresh_token)
    clock.advance(seconds=delay)
    old = tokens[-1 - depth]
    if depth == 1 and delay < POLICY.grace.total_seconds():
        assert (await sessions.refresh(old, caller=caller)).refresh_token == tokens[-1]
        assert not revocations.is_revoked(SessionId(grant.session.id))
        return
    with pytest.raises(AuthenticationFailed):
        await sessions.refresh(old, caller=caller)
    assert revocations.is_revoked(grant.session.id)
    with pytest.raises(AuthenticationFailed):
        await sessions.refresh(tokens[-1], caller=caller)
