"""The ``UserRepository`` and ``EmailTokenRepository`` contracts on memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from dashcore.domain.email import Email
from dashcore.domain.email_tokens import EmailToken, TokenPurpose, hash_token
from dashcore.domain.errors import Conflict
from dashcore.domain.users import LockoutPolicy, LoginThrottle, Role, User, UserStatus
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import EmailTokenRepository, UserRepository
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import (
    MemoryEmailTokenRepository,
    MemoryKnownDevices,
    MemoryUserRepository,
)
from dashcore_sql.users import SqlEmailTokenRepository, SqlKnownDevices, SqlUserRepository
from tests.contract.conftest import Backend

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Repos:
    uow: UnitOfWork
    users: UserRepository
    tokens: EmailTokenRepository


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        if isinstance(work.native, MemoryUnitOfWork):
            yield Repos(
                work.uow,
                MemoryUserRepository(work.native),
                MemoryEmailTokenRepository(work.native),
            )
        else:
            yield Repos(
                work.uow, SqlUserRepository(work.native), SqlEmailTokenRepository(work.native)
            )


def user(number: int, email: str | None = None) -> User:
    return User(
        id=UUID(f"00000000-0000-7000-8000-{number:012x}"),
        email=Email(email or f"user{number}@example.org"),
        password_hash=f"$argon2id$v=19$m=19456,t=2,p=1$salt{number}$hash",
        created_at=NOW,
        updated_at=NOW + timedelta(seconds=number),
        display_name=f"User {number}",
    )


async def add(backend: Backend, *users: User) -> None:
    async with repos(backend) as r:
        for item in users:
            await r.users.add(item)
        await r.uow.commit()


async def test_a_user_reads_back_exactly_by_id_and_by_canonical_email(backend: Backend) -> None:
    original = user(1, "Mike@Example.ORG")
    original.verified = True
    original.plan = "pro"
    await add(backend, original)
    async with repos(backend) as r:
        by_id = await r.users.get(original.id)
        by_key = await r.users.get_by_email_key(Email("ｍike@example.org").key)
    assert by_id == original
    assert by_key == original
    assert by_id is not None
    assert by_id.email.value == "Mike@Example.ORG"
    assert by_id.password_hash == original.password_hash


async def test_a_second_account_for_a_case_or_width_variant_is_a_conflict(
    backend: Backend,
) -> None:
    await add(backend, user(1, "mike@example.org"))
    with pytest.raises(Conflict) as caught:
        await add(backend, user(2, "ＭＩＫＥ@EXAMPLE.ORG"))
    assert caught.value.code == "users_email_taken"


async def test_save_writes_every_mutable_field_and_uncommitted_changes_vanish(
    backend: Backend,
) -> None:
    original = user(1)
    await add(backend, original)
    later = NOW + timedelta(hours=1)
    async with repos(backend) as r:
        loaded = await r.users.get(original.id)
        assert loaded is not None
        loaded.mark_verified(later)
        loaded.grant_plan("pro", later)
        loaded.disable(later)
        loaded.promote_to_admin(later)
        loaded.record_login_failure(later, LockoutPolicy(threshold=1))
        await r.users.save(loaded)
        await r.uow.commit()
        saved = replace(loaded)
        loaded.rename("Not saved", later)
    async with repos(backend) as r:
        again = await r.users.get(original.id)
        assert again == saved
        assert again is not None
        assert again.display_name == "User 1"
        assert (again.role, again.status, again.plan) == (Role.ADMIN, UserStatus.DISABLED, "pro")
        assert again.throttle.locked_until == later + timedelta(minutes=1)
        assert await r.users.count_admins() == 1


async def test_the_throttle_is_read_and_written_on_its_own(backend: Backend) -> None:
    original = user(1)
    await add(backend, original)
    throttle = LoginThrottle(
        failures=7, last_failure_at=NOW, locked_until=NOW, password_login_disabled=True
    )
    async with repos(backend) as r:
        assert await r.users.lock_throttle(original.id) == LoginThrottle()
        await r.users.save_throttle(original.id, throttle)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.users.lock_throttle(original.id) == throttle
        assert await r.users.lock_throttle(UUID(int=1)) is None


async def test_pages_are_ordered_by_id(backend: Backend) -> None:
    await add(backend, *(user(n) for n in (3, 1, 2, 5, 4)))
    async with repos(backend) as r:
        first = await r.users.page(after=None, limit=2)
        rest = await r.users.page(after=first[-1].id, limit=10)
    assert [u.display_name for u in [*first, *rest]] == [f"User {n}" for n in range(1, 6)]


def token(
    number: int, owner: User, purpose: TokenPurpose = TokenPurpose.VERIFY_EMAIL
) -> EmailToken:
    digest = hash_token(f"secret-{number}")
    assert digest is not None
    return EmailToken(
        id=UUID(f"00000000-0000-7000-9000-{number:012x}"),
        user_id=owner.id,
        purpose=purpose,
        token_hash=digest,
        email_key=owner.email.key,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )


async def test_tokens_are_found_by_hash_and_purpose_and_consumed_once(backend: Backend) -> None:
    owner = user(1)
    verify, reset = token(1, owner), token(2, owner, TokenPurpose.PASSWORD_RESET)
    await add(backend, owner)
    async with repos(backend) as r:
        await r.tokens.add(verify)
        await r.tokens.add(reset)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.tokens.find(verify.token_hash, TokenPurpose.VERIFY_EMAIL) == verify
        assert await r.tokens.find(verify.token_hash, TokenPurpose.PASSWORD_RESET) is None
        assert await r.tokens.consume(verify.id, NOW) is True
        assert await r.tokens.consume(verify.id, NOW) is False
        await r.uow.commit()
    async with repos(backend) as r:
        found = await r.tokens.find(verify.token_hash, TokenPurpose.VERIFY_EMAIL)
        assert found is not None
        assert found.used_at == NOW
        assert not found.usable(NOW, owner.email.key)


async def test_voiding_removes_only_unused_tokens_of_that_purpose(backend: Backend) -> None:
    owner = user(1)
    await add(backend, owner)
    tokens = [token(1, owner), token(2, owner), token(3, owner, TokenPurpose.PASSWORD_RESET)]
    async with repos(backend) as r:
        for item in tokens:
            await r.tokens.add(item)
        await r.tokens.consume(tokens[0].id, NOW)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.tokens.void_for_user(owner.id, TokenPurpose.VERIFY_EMAIL) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.tokens.find(tokens[1].token_hash, TokenPurpose.VERIFY_EMAIL) is None
        assert await r.tokens.find(tokens[0].token_hash, TokenPurpose.VERIFY_EMAIL) is not None
        assert await r.tokens.find(tokens[2].token_hash, TokenPurpose.PASSWORD_RESET) is not None


async def test_known_devices_tell_new_from_seen_per_account(backend: Backend) -> None:
    owner, other = user(1), user(2)
    await add(backend, owner, other)
    async with backend.work() as work:
        devices = (
            MemoryKnownDevices(work.native)
            if isinstance(work.native, MemoryUnitOfWork)
            else SqlKnownDevices(work.native)
        )
        assert await devices.count(owner.id) == 0
        assert await devices.remember(owner.id, "a" * 32, NOW) is True
        assert await devices.remember(owner.id, "a" * 32, NOW + timedelta(hours=1)) is False
        assert await devices.remember(owner.id, "b" * 32, NOW) is True
        assert await devices.remember(other.id, "a" * 32, NOW) is True
        await work.uow.commit()
    async with backend.work() as work:
        devices = (
            MemoryKnownDevices(work.native)
            if isinstance(work.native, MemoryUnitOfWork)
            else SqlKnownDevices(work.native)
        )
        assert (await devices.count(owner.id), await devices.count(other.id)) == (2, 1)
