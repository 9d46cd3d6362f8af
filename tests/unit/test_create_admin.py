"""``dashcore users create-admin`` on an account that exists: the operator's way in sets the
password as a reset would (found by QA: sessions held before stayed valid and became an
administrator's at their next refresh, and nobody was told), and a disabled account is
enabled again (it said "ready" while its login still failed)."""

from __future__ import annotations

import pytest

from dashcore.application.sign_in import IssuedTokens
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.errors import InvalidInput
from dashcore.domain.users import Role, UserStatus
from dashcore_memory.users import MemoryUserRepository
from tests.unit.identity_world import CALLER, World

NEW_PASSWORD = "an operator's brand new admin phrase"


@pytest.fixture
def world() -> World:
    return World.create()


async def test_promoting_an_account_ends_its_sessions_and_tells_the_owner(world: World) -> None:
    member = await world.add_user("carol@example.com")
    await world.password_login("carol@example.com")
    assert len(await world.sessions_of(member)) == 1
    reset_link = await world.reset_token(member)

    promoted = await world.create_admin(world.uow())("carol@example.com", NEW_PASSWORD, CALLER)

    assert promoted.id == member.id and promoted.role is Role.ADMIN
    assert await world.sessions_of(member) == []
    assert [mail.recipient for mail in world.mails("password_changed")] == ["carol@example.com"]
    uow = world.uow()
    with pytest.raises(InvalidInput) as dead:
        await world.email_tokens(uow).peek(
            reset_link, TokenPurpose.PASSWORD_RESET, MemoryUserRepository(uow)
        )
    assert dead.value.code == "invalid_token"
    assert isinstance(await world.password_login("carol@example.com", NEW_PASSWORD), IssuedTokens)


async def test_a_disabled_account_named_by_the_operator_is_enabled_again(world: World) -> None:
    member = await world.add_user("dora@example.com")
    await world.disable(member)

    await world.create_admin(world.uow())("dora@example.com", NEW_PASSWORD, CALLER)

    assert (await world.stored(member)).status is UserStatus.ACTIVE
    assert "admin_user_enabled" in world.actions()
    assert isinstance(await world.password_login("dora@example.com", NEW_PASSWORD), IssuedTokens)
