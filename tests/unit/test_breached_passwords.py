"""New passwords against a breach service (security.md PW-3), through the use cases that take
one: registration, change, reset and the first admin. The service is a hand-written fake."""

from __future__ import annotations

import hashlib

import pytest

from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.registration import Registration
from dashcore.domain.audit import AuditEvent, AuditOutcome
from dashcore.domain.email import Email
from dashcore.domain.errors import Forbidden, InvalidInput
from dashcore_memory.users import MemoryUserRepository
from dashcore_security.breached_passwords import NoBreachCheck
from tests.unit.identity_world import CALLER, PASSWORD, FakeBreachedPasswords, World

NEW = "violet harbour lantern 2047"
BREACHED = "tangerine submarine orchestra"
SESSION = "S" * 22


def world_with(breaches: FakeBreachedPasswords | NoBreachCheck) -> World:
    world = World.create()
    world.breaches = breaches
    return world


async def register(world: World, email: str, password: str) -> None:
    await world.register(world.uow())(Registration(email, password), CALLER)


async def is_registered(world: World, email: str) -> bool:
    return await MemoryUserRepository(world.uow()).get_by_email_key(Email(email).key) is not None


def warnings(world: World) -> list[AuditEvent]:
    records = world.database.table("audit_events").values()
    return [r.event for r in records if r.event.action == "password_breach_check_unavailable"]


def assert_breached(raised: pytest.ExceptionInfo[InvalidInput]) -> None:
    assert raised.value.code == "password_breached"
    assert [e.field for e in raised.value.errors] == ["password"]
    assert "pwned" not in raised.value.message.lower()


async def test_registration_refuses_a_password_seen_in_a_breach() -> None:
    breaches = FakeBreachedPasswords(seen={BREACHED: 3})
    world = world_with(breaches)
    with pytest.raises(InvalidInput) as raised:
        await register(world, "ada@example.com", BREACHED)
    assert_breached(raised)
    assert not await is_registered(world, "ada@example.com")
    assert world.mails() == []
    assert breaches.asked == [BREACHED]


async def test_the_service_is_asked_about_the_normalised_password() -> None:
    breaches = FakeBreachedPasswords(seen={BREACHED: 1})
    world = world_with(breaches)
    fullwidth = "ｔａｎｇｅｒｉｎｅ submarine orchestra"  # NFKC: the breached password
    with pytest.raises(InvalidInput):
        await register(world, "ada@example.com", fullwidth)
    assert breaches.asked == [BREACHED]


async def test_a_password_the_local_policy_refuses_is_never_sent() -> None:
    breaches = FakeBreachedPasswords()
    world = world_with(breaches)
    with pytest.raises(InvalidInput) as raised:
        await register(world, "ada@example.com", "passwordpassword")
    assert raised.value.code == "password_too_common"
    assert breaches.asked == []


async def test_a_password_never_seen_is_accepted_without_a_warning() -> None:
    world = world_with(FakeBreachedPasswords(seen={BREACHED: 1}))
    await register(world, "ada@example.com", NEW)
    assert await is_registered(world, "ada@example.com")
    assert warnings(world) == []


async def test_an_outage_accepts_on_the_local_list_and_says_so_in_the_audit_log() -> None:
    world = world_with(FakeBreachedPasswords(seen={BREACHED: 9}, available=False))
    await register(world, "ada@example.com", BREACHED)
    assert await is_registered(world, "ada@example.com")
    [warning] = warnings(world)
    assert warning.outcome is AuditOutcome.ERROR
    assert warning.metadata == {"purpose": "registration", "fallback": "local_list"}
    assert warning.ip == CALLER.ip and warning.target is None
    digest = hashlib.sha1(BREACHED.encode(), usedforsecurity=False).hexdigest()
    for secret in (BREACHED, digest[:5], digest[:5].upper()):
        assert secret not in repr(warning)


async def test_an_outage_still_enforces_the_local_list() -> None:
    breaches = FakeBreachedPasswords(available=False)
    world = world_with(breaches)
    with pytest.raises(InvalidInput) as raised:
        await register(world, "ada@example.com", "iloveyou12345678")
    assert raised.value.code == "password_too_common"
    assert breaches.asked == [] and warnings(world) == []


async def test_the_threshold_decides_how_many_sightings_refuse() -> None:
    world = world_with(FakeBreachedPasswords(seen={NEW: 4, BREACHED: 5}))
    uow = world.uow()
    check = BreachedPasswordCheck(world.breaches, world.audit(uow), uow, threshold=5)
    await check.refuse_breached(NEW, CALLER, purpose="registration")
    with pytest.raises(InvalidInput) as raised:
        await check.refuse_breached(BREACHED, CALLER, purpose="registration")
    assert_breached(raised)


def test_a_threshold_below_one_would_refuse_everything() -> None:
    world = World.create()
    uow = world.uow()
    with pytest.raises(ValueError, match="at least 1"):
        BreachedPasswordCheck(world.breaches, world.audit(uow), uow, threshold=0)


async def test_a_change_to_a_breached_password_is_refused_and_nothing_changes() -> None:
    world = world_with(FakeBreachedPasswords(seen={BREACHED: 1}))
    user = await world.add_user("ada@example.com")
    with pytest.raises(InvalidInput) as raised:
        await world.change_password(world.uow())(
            user.id, SESSION, current_password=PASSWORD, new_password=BREACHED, caller=CALLER
        )
    assert_breached(raised)
    assert (await world.stored(user)).password_hash == user.password_hash
    assert world.mails("password_changed") == []


async def test_an_outage_during_a_change_is_audited_even_when_the_change_fails() -> None:
    """The warning is committed at once: the wrong current password's rollback keeps it."""
    world = world_with(FakeBreachedPasswords(available=False))
    user = await world.add_user("ada@example.com")
    with pytest.raises(Forbidden):
        await world.change_password(world.uow())(
            user.id, SESSION, current_password="not the password", new_password=NEW, caller=CALLER
        )
    [warning] = warnings(world)
    assert warning.target == f"user:{user.id}"
    assert warning.metadata["purpose"] == "password_change"


async def test_a_reset_to_a_breached_password_is_refused_and_the_link_still_works() -> None:
    breaches = FakeBreachedPasswords(seen={BREACHED: 1})
    world = world_with(breaches)
    user = await world.add_user("ada@example.com")
    token = await world.reset_token(user)
    with pytest.raises(InvalidInput) as raised:
        await world.complete_password_reset(world.uow())(token, BREACHED, CALLER)
    assert_breached(raised)
    await world.complete_password_reset(world.uow())(token, NEW, CALLER)
    assert (await world.password_login("ada@example.com", NEW)) is not None
    assert breaches.asked == [BREACHED, NEW]


async def test_a_reset_with_a_dead_token_asks_no_breach_service() -> None:
    breaches = FakeBreachedPasswords()
    world = world_with(breaches)
    with pytest.raises(InvalidInput) as raised:
        await world.complete_password_reset(world.uow())("x" * 43, NEW, CALLER)
    assert raised.value.code == "invalid_token"
    assert breaches.asked == []


async def test_an_admin_cannot_be_created_with_a_breached_password() -> None:
    world = world_with(FakeBreachedPasswords(seen={BREACHED: 2}))
    with pytest.raises(InvalidInput) as raised:
        await world.create_admin(world.uow())("root@example.com", BREACHED, CALLER)
    assert_breached(raised)
    assert not await is_registered(world, "root@example.com")


async def test_with_the_check_off_passwords_are_held_to_the_local_list_alone() -> None:
    world = world_with(NoBreachCheck())
    await register(world, "ada@example.com", BREACHED)
    assert await is_registered(world, "ada@example.com")
    assert warnings(world) == []
    with pytest.raises(InvalidInput) as raised:
        await register(world, "bob@example.com", "passwordpassword")
    assert raised.value.code == "password_too_common"
