"""The login use case with in-memory adapters and a controlled clock (LOCK-1, PW-1, ENUM-1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from passlib.hash import bcrypt

from dashcore.application.access import IssuedTokens
from dashcore.application.login import LoginAttempt
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed, RateLimited
from dashcore.domain.users import UserStatus
from dashcore.ports.passwords import PasswordCheck
from dashcore_memory.users import MemoryUserRepository
from tests.unit.identity_world import PASSWORD, World


@pytest.fixture
def world() -> World:
    return World.create()


async def attempt(world: World, email: str, password: str, *, ip: str = "198.51.100.7") -> str:
    caller = CallerContext(ip=ip, user_agent="pytest")
    result = await world.login(world.uow())(LoginAttempt(email, password), caller)
    assert isinstance(result, IssuedTokens)
    return result.access_token


async def test_a_locked_account_refuses_even_the_right_password_until_the_lock_ends(
    world: World,
) -> None:
    await world.add_user("ada@example.org")
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
    await world.add_user("known@example.org")
    await world.add_user("unverified@example.org", verified=False)
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
    user = await world.add_user(
        "imported@example.org", password_hash=bcrypt.using(rounds=4).hash(PASSWORD)
    )
    await attempt(world, "imported@example.org", PASSWORD)
    assert (await world.stored(user)).password_hash.startswith("$argon2id$")
    await attempt(world, "imported@example.org", PASSWORD)


async def test_the_account_and_address_limit_applies_before_any_hashing(world: World) -> None:
    await world.add_user("hammered@example.org")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await attempt(world, "hammered@example.org", "nope nope nope")
    world.clock.advance(timedelta(minutes=30))
    with pytest.raises(RateLimited) as limited:
        await attempt(world, "hammered@example.org", PASSWORD)
    assert limited.value.retry_after is not None
    assert limited.value.policy is not None and limited.value.policy.name == "login_account"


async def test_a_disable_that_lands_while_the_password_is_hashed_is_not_undone(
    world: World,
) -> None:
    """Login saves the user as stored after hashing, not the copy it read before."""
    user = await world.add_user("racing@example.org")
    real_verify = world.hasher.verify

    async def verify_while_an_admin_disables(password: str, stored: str) -> PasswordCheck:
        uow = world.uow()
        users = MemoryUserRepository(uow)
        current = await users.get(user.id)
        assert current is not None
        current.disable(world.clock.now())
        await users.save(current)
        await uow.commit()
        return await real_verify(password, stored)

    world.hasher.verify = verify_while_an_admin_disables  # type: ignore[method-assign,assignment]
    with pytest.raises(AuthenticationFailed):
        await attempt(world, "racing@example.org", PASSWORD)
    assert (await world.stored(user)).status is UserStatus.DISABLED
