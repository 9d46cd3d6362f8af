"""The login use case with in-memory adapters and a controlled clock (LOCK-1, PW-1, ENUM-1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from passlib.hash import bcrypt

from dashcore.application.access import AccessTokens
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.login import Login, LoginAttempt
from dashcore.application.notifications import Notifications
from dashcore.application.outbox import MailQueue
from dashcore.application.sessions import HmacRefreshSecretDeriver, Sessions
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.errors import AuthenticationFailed, RateLimited
from dashcore.domain.sessions import SessionPolicy
from dashcore.domain.users import User, UserStatus
from dashcore.ports.passwords import PasswordCheck
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.sessions import MemoryRevocationList, MemorySessionStore
from dashcore_memory.users import MemoryKnownDevices, MemoryUserRepository
from dashcore_ratelimit.limiter import LimitsRateLimiter
from dashcore_security import AesGcmVault, KeyRing
from dashcore_security.jwt import JwtAccessTokens
from dashcore_security.passwords import CHEAPEST, LibpassHasher
from dashcore_security.signing import SigningKeyRing

PASSWORD = "correct horse battery staple"
CALLER = CallerContext(ip="198.51.100.7", user_agent="pytest")


@dataclass
class World:
    clock: FakeClock
    database: MemoryDatabase
    hasher: LibpassHasher
    limiter: LimitsRateLimiter
    store: MemorySessionStore
    revocations: MemoryRevocationList
    tokens: JwtAccessTokens
    ids: SequentialIds
    vault: AesGcmVault

    def login(self) -> tuple[Login, MemoryUnitOfWork]:
        uow = MemoryUnitOfWork(self.database)
        audit = AuditTrail(MemoryAuditLog(uow), self.clock, self.ids)
        sessions = Sessions(
            self.store,
            self.revocations,
            HmacRefreshSecretDeriver(b"k" * 32),
            uow,
            audit,
            self.clock,
            policy=SessionPolicy(),
            access_token_lifetime=timedelta(minutes=10),
        )
        access = AccessTokens(self.tokens, self.clock)
        users = MemoryUserRepository(uow)
        notifications = Notifications(
            MailQueue(MemoryOutbox(uow), self.vault, self.ids), self.clock, "https://app.test"
        )
        login = Login(
            users,
            self.hasher,
            self.limiter,
            sessions,
            access,
            MemoryKnownDevices(uow),
            notifications,
            audit,
            uow,
            self.clock,
        )
        return login, uow

    async def add_user(self, email: str, password_hash: str, *, verified: bool = True) -> User:
        uow = MemoryUnitOfWork(self.database)
        now = self.clock.now()
        user = User(
            id=self.ids.new_id(),
            email=Email(email),
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
            verified=verified,
        )
        await MemoryUserRepository(uow).add(user)
        await uow.commit()
        return user

    async def stored(self, user: User) -> User:
        found = await MemoryUserRepository(MemoryUnitOfWork(self.database)).get(user.id)
        assert found is not None
        return found

    def audit_actions(self) -> list[tuple[str, AuditOutcome, str]]:
        records = self.database.table("audit_events").values()
        return [
            (r.event.action, r.event.outcome, str(r.event.metadata.get("reason", "")))
            for r in sorted(records, key=lambda r: r.event.occurred_at)
        ]


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    return World(
        clock=clock,
        database=MemoryDatabase(),
        hasher=LibpassHasher(CHEAPEST, allow_weak=True),
        limiter=LimitsRateLimiter("memory://"),
        store=MemorySessionStore(clock),
        revocations=MemoryRevocationList(clock),
        tokens=JwtAccessTokens(
            SigningKeyRing.generate(now=clock.now()),
            "dashcore",
            "dashcore-api",
            timedelta(minutes=10),
            timedelta(seconds=30),
            clock,
        ),
        ids=SequentialIds(),
        vault=AesGcmVault(KeyRing.generate()),
    )


async def attempt(world: World, email: str, password: str, *, ip: str = "198.51.100.7") -> str:
    login, _ = world.login()
    caller = CallerContext(ip=ip, user_agent="pytest")
    return (await login(LoginAttempt(email, password), caller)).access_token


async def test_a_locked_account_refuses_even_the_right_password_until_the_lock_ends(
    world: World,
) -> None:
    await world.add_user("ada@example.org", await world.hasher.hash(PASSWORD))
    for n in range(5):
        with pytest.raises(AuthenticationFailed):
            await attempt(world, "ada@example.org", "wrong guess", ip=f"203.0.113.{n}")
    with pytest.raises(AuthenticationFailed) as locked:
        await attempt(world, "ADA@example.org", PASSWORD, ip="203.0.113.99")
    assert locked.value.code == "invalid_credentials"
    world.clock.advance(timedelta(seconds=61))
    token = await attempt(world, "ada@example.org", PASSWORD, ip="203.0.113.100")
    assert world.tokens.verify(token).role == "user"
    reasons = [
        reason for action, _, reason in world.audit_actions() if action == "authn_login_fail"
    ]
    assert reasons == ["wrong_password"] * 5 + ["account_locked"]
    assert "authn_login_lock" in [action for action, _, _ in world.audit_actions()]


async def test_the_three_failures_raise_the_same_error(world: World) -> None:
    await world.add_user("known@example.org", await world.hasher.hash(PASSWORD))
    await world.add_user(
        "unverified@example.org", await world.hasher.hash(PASSWORD), verified=False
    )
    errors = []
    for email, password in [
        ("nobody@example.org", PASSWORD),
        ("known@example.org", "wrong password here"),
        ("unverified@example.org", PASSWORD),
    ]:
        with pytest.raises(AuthenticationFailed) as caught:
            await attempt(world, email, password)
        errors.append((caught.value.code, caught.value.message))
    assert len(set(errors)) == 1


async def test_an_imported_bcrypt_hash_is_upgraded_to_argon2id_on_login(world: World) -> None:
    user = await world.add_user("imported@example.org", bcrypt.using(rounds=4).hash(PASSWORD))
    await attempt(world, "imported@example.org", PASSWORD)
    assert (await world.stored(user)).password_hash.startswith("$argon2id$")
    await attempt(world, "imported@example.org", PASSWORD)


async def test_the_account_and_address_limit_applies_before_any_hashing(world: World) -> None:
    await world.add_user("hammered@example.org", await world.hasher.hash(PASSWORD))
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await attempt(world, "hammered@example.org", "nope nope nope")
    world.clock.advance(timedelta(minutes=30))
    with pytest.raises(RateLimited) as limited:
        await attempt(world, "hammered@example.org", PASSWORD)
    assert limited.value.retry_after is not None


async def test_a_disable_that_lands_while_the_password_is_hashed_is_not_undone(
    world: World,
) -> None:
    """Login saves the user as stored after hashing, not the copy it read before."""
    user = await world.add_user("racing@example.org", await world.hasher.hash(PASSWORD))
    real_verify = world.hasher.verify

    async def verify_while_an_admin_disables(password: str, stored: str) -> PasswordCheck:
        uow = MemoryUnitOfWork(world.database)
        users = MemoryUserRepository(uow)
        current = await users.get(user.id)
        assert current is not None
        current.disable(world.clock.now())
        await users.save(current)
        await uow.commit()
        return await real_verify(password, stored)

    world.hasher.verify = verify_while_an_admin_disables  # type: ignore[method-assign]
    with pytest.raises(AuthenticationFailed):
        await attempt(world, "racing@example.org", PASSWORD)
    assert (await world.stored(user)).status is UserStatus.DISABLED
