"""Step-up before sensitive operations (security.md STEP-1, LOCK-1), with memory adapters and
the fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashcore.application.access import IssuedTokens
from dashcore.application.second_factor import FactorKind, SecondFactorProof
from dashcore.application.step_up import StepUpProof
from dashcore.domain.errors import (
    AuthenticationFailed,
    Forbidden,
    InvalidInput,
    RateLimited,
    StepUpRequired,
)
from dashcore.domain.sessions import RevocationReason, SessionId
from dashcore.domain.users import User
from tests.unit.identity_world import CALLER, PASSWORD, World

ADA = "ada@example.org"


@pytest.fixture
def world() -> World:
    return World.create()


async def signed_in(world: World) -> tuple[User, IssuedTokens]:
    user = await world.add_user(ADA)
    issued = await world.password_login(ADA)
    assert isinstance(issued, IssuedTokens)
    return user, issued


async def step_up(world: World, user: User, session_id: str, proof: StepUpProof) -> IssuedTokens:
    return await world.step_up(world.uow())(user.id, session_id, proof, CALLER)


async def require(world: World, user: User, auth_age: timedelta, amr: tuple[str, ...]) -> None:
    gate = world.step_up_gate(world.uow())
    await gate.require(user.id, world.clock.now() - auth_age, amr)


# ----------------------------------------------------------------------------------- gate


async def test_the_gate_passes_an_authentication_up_to_five_minutes_old(world: World) -> None:
    user = await world.add_user(ADA)
    await require(world, user, timedelta(minutes=5), ("pwd",))


async def test_the_gate_refuses_an_older_authentication_and_says_how_old_is_enough(
    world: World,
) -> None:
    user = await world.add_user(ADA)
    with pytest.raises(StepUpRequired) as stale:
        await require(world, user, timedelta(minutes=5, seconds=1), ("pwd",))
    assert stale.value.code == "step_up_required"
    assert stale.value.max_age == 300


async def test_with_totp_on_the_gate_wants_a_session_that_proved_it(world: World) -> None:
    user = await world.add_user(ADA)
    await world.enrol_totp(user)
    for amr in [("pwd",), ("otp",)]:
        with pytest.raises(StepUpRequired) as weak:
            await require(world, user, timedelta(0), amr)
        assert weak.value.max_age == 300
    await require(world, user, timedelta(0), ("pwd", "totp", "mfa"))
    await require(world, user, timedelta(0), ("otp", "recovery_code", "mfa"))


# ---------------------------------------------------------------------------------- step-up


async def test_the_password_opens_a_new_session_and_ends_the_old_one(world: World) -> None:
    user, old = await signed_in(world)
    world.clock.advance(minutes=20)
    new = await step_up(world, user, old.session_id, StepUpProof(password=PASSWORD))
    assert new.session_id != old.session_id
    claims = world.tokens.verify(new.access_token)
    assert claims.auth_time == world.clock.now()
    assert claims.amr == ("pwd",)
    ended = await world.store.get(SessionId(old.session_id))
    assert ended is not None and ended.revoked_reason is RevocationReason.STEP_UP
    assert world.revocations.is_revoked(old.session_id)
    assert [s.id for s in await world.sessions_of(user)] == [new.session_id]
    assert "authn_step_up" in world.actions()


async def test_a_wrong_password_is_forbidden_and_counts_toward_the_lockout(world: World) -> None:
    user, issued = await signed_in(world)
    with pytest.raises(Forbidden) as wrong:
        await step_up(world, user, issued.session_id, StepUpProof(password="not my password"))
    assert wrong.value.code == "wrong_password"
    assert (await world.stored(user)).throttle.failures == 1
    assert [s.id for s in await world.sessions_of(user)] == [issued.session_id]
    assert "authn_step_up_fail" in world.actions()


async def test_five_wrong_passwords_lock_step_up_like_login(world: World) -> None:
    user, issued = await signed_in(world)
    for _ in range(5):
        with pytest.raises(Forbidden):
            await step_up(world, user, issued.session_id, StepUpProof(password="not my password"))
    assert (await world.stored(user)).throttle.is_locked(world.clock.now())
    with pytest.raises(RateLimited) as locked:
        await step_up(world, user, issued.session_id, StepUpProof(password=PASSWORD))
    assert locked.value.code == "account_locked" and 0 < locked.value.retry_after <= 60
    reasons = [r for action, _, r in world.audit_actions() if action == "authn_step_up_fail"]
    assert reasons[-1] == "account_locked"


async def test_a_session_that_ended_cannot_step_up(world: World) -> None:
    user, issued = await signed_in(world)
    await step_up(world, user, issued.session_id, StepUpProof(password=PASSWORD))
    with pytest.raises(AuthenticationFailed) as ended:
        await step_up(world, user, issued.session_id, StepUpProof(password=PASSWORD))
    assert ended.value.code == "invalid_token"


async def test_exactly_one_proof_is_given() -> None:
    with pytest.raises(InvalidInput):
        StepUpProof()
    with pytest.raises(InvalidInput):
        StepUpProof(password=PASSWORD, second_factor=SecondFactorProof(FactorKind.TOTP, "123456"))


async def enrolled_session(world: World) -> tuple[User, str, IssuedTokens]:
    """Ada with TOTP on, signed in with password and TOTP; the clock three steps on."""
    user = await world.add_user(ADA)
    secret, _ = await world.enrol_totp(user)
    world.clock.advance(seconds=90)
    challenge = await world.password_login(ADA)
    assert not isinstance(challenge, IssuedTokens)
    proof = SecondFactorProof(FactorKind.TOTP, world.code(secret))
    issued = await world.complete_mfa_login(world.uow())(challenge.mfa_token, proof, CALLER)
    world.clock.advance(minutes=10)
    return user, secret, issued


async def test_with_totp_on_a_password_is_not_enough(world: World) -> None:
    user, _, issued = await enrolled_session(world)
    with pytest.raises(Forbidden) as refused:
        await step_up(world, user, issued.session_id, StepUpProof(password=PASSWORD))
    assert refused.value.code == "second_factor_required"


async def test_with_totp_on_a_code_steps_up(world: World) -> None:
    user, secret, issued = await enrolled_session(world)
    proof = StepUpProof(second_factor=SecondFactorProof(FactorKind.TOTP, world.code(secret)))
    new = await step_up(world, user, issued.session_id, proof)
    claims = world.tokens.verify(new.access_token)
    assert claims.amr == ("pwd", "totp", "mfa")
    assert claims.auth_time == world.clock.now()
    assert [s.id for s in await world.sessions_of(user)] == [new.session_id]


async def test_with_totp_on_a_wrong_code_is_forbidden_and_counted(world: World) -> None:
    user, secret, issued = await enrolled_session(world)
    proof = StepUpProof(second_factor=SecondFactorProof(FactorKind.TOTP, world.code(secret, 3)))
    with pytest.raises(Forbidden) as wrong:
        await step_up(world, user, issued.session_id, proof)
    assert wrong.value.code == "wrong_code"
    factor = await world.factor(user)
    assert factor is not None and factor.failures == 1
    assert [s.id for s in await world.sessions_of(user)] == [issued.session_id]
