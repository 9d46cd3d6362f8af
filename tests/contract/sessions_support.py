"""Backends for the session contract suites: memory and real Redis (one key prefix per test)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from dashcore.domain.sessions import (
    Session,
    SessionPolicy,
    hash_refresh_secret,
    new_session_id,
)
from dashcore.ports.sessions import SessionStore
from dashcore.testing.clock import FakeClock
from dashcore_memory.sessions import MemorySessionStore
from dashcore_redis.client import create_redis
from dashcore_redis.sessions import RedisSessionStore
from tests.services import delete_prefix

BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
POLICY = SessionPolicy()


def new_hash() -> str:
    return hash_refresh_secret(secrets.token_bytes(32))


def make_session(
    clock: FakeClock,
    user_id: UUID | None = None,
    *,
    remember_me: bool = False,
    policy: SessionPolicy = POLICY,
) -> Session:
    now = clock.now()
    return Session.open(
        session_id=new_session_id(),
        user_id=user_id or uuid4(),
        first_secret_hash=new_hash(),
        now=now,
        policy=policy,
        auth_time=now - timedelta(seconds=3),
        amr=("pwd", "otp"),
        remember_me=remember_me,
        role="user",
        device_label="Pixel 8 ☂",
        user_agent="Mozilla/5.0 (Android 14)",
        ip="2001:db8::7",
    )


@dataclass(slots=True)
class StoreHarness:
    name: str
    store: SessionStore
    clock: FakeClock
    redis: Redis | None = None
    prefix: str = ""


async def store_harness(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[StoreHarness]:
    clock = FakeClock()
    if kind == "memory":
        yield StoreHarness("memory", MemorySessionStore(clock), clock)
        return
    url: str = request.getfixturevalue("redis_server_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    client = create_redis(url)
    try:
        yield StoreHarness(
            "redis", RedisSessionStore(client, clock, prefix=prefix), clock, client, prefix
        )
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()
