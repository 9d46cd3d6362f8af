"""Refreshing a token pair while the database cannot answer (RT-1; found by the outage QA)."""

from __future__ import annotations

from uuid import UUID

import pytest

from dashcore.application.access import AccessTokens, IssuedTokens
from dashcore.application.profile import GetProfile
from dashcore.application.token_refresh import RefreshTokens
from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.users import User
from dashcore_memory.profile_cache import MemoryProfileCache
from dashcore_memory.users import MemoryUserDirectory
from tests.unit.identity_world import CALLER, World

ADA = "ada@example.org"


class FlakyDatabase:
    """The profile read of a database that is down until ``up`` says otherwise."""

    def __init__(self, profile: GetProfile) -> None:
        self.profile = profile
        self.up = True

    async def __call__(self, user_id: UUID) -> User:
        if not self.up:
            raise DependencyUnavailable("The database is unavailable.", dependency="database")
        return await self.profile(user_id)


@pytest.fixture
def world() -> World:
    return World.create()


def refresher(world: World, profile: FlakyDatabase) -> RefreshTokens:
    uow = world.uow()
    return RefreshTokens(
        world.sessions(uow),
        profile,  # type: ignore[arg-type]  # a GetProfile with an outage switch
        AccessTokens(world.tokens, world.clock),
        world.notifications(uow),
        uow,
        world.clock,
    )


async def test_a_refresh_the_database_fails_leaves_the_token_current(world: World) -> None:
    """The client gets a 503 and keeps its token; retried after the grace window, it is a
    plain refresh, not a reuse that would end the session and mail a false alarm."""
    await world.add_user(ADA)
    signed_in = await world.password_login(ADA)
    assert isinstance(signed_in, IssuedTokens)
    database = FlakyDatabase(
        GetProfile(MemoryUserDirectory(world.database), MemoryProfileCache(world.clock))
    )
    database.up = False
    with pytest.raises(DependencyUnavailable):
        await refresher(world, database)(signed_in.refresh_token, CALLER)

    database.up = True
    world.clock.advance(minutes=1)  # past the 10 s grace of a rotated predecessor
    again = await refresher(world, database)(signed_in.refresh_token, CALLER)

    assert again.session_id == signed_in.session_id
    assert not world.revocations.is_revoked(signed_in.session_id)
    assert world.mails("refresh_token_reuse") == []
