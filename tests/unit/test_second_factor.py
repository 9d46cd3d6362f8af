"""Second factors at work: TOTP codes, recovery codes and the MFA step of a login
(security.md TOTP-1, RC-1, AUD-1), with memory adapters and the fake clock."""

from __future__ import annotations

import asyncio

import pytest

from dashcore.application.access import IssuedTokens
from dashcore.application.second_factor import FactorKind, SecondFactorProof
from dashcore.application.sign_in import MfaRequired
from dashcore.domain.errors import AuthenticationFailed, Conflict, InvalidInput, RateLimited
from dashcore.domain.users import User
from tests.unit.identity_world import CALLER, World


@pytest.fixture
def world() -> World:
    return World.create()


def totp(code: str) -> SecondFactorProof:
    return SecondFactorProof(FactorKind.TOTP, code)


def recovery(code: str) -> SecondFactorProof:
    return SecondFactorProof(FactorKind.RECOVERY_CODE, code)


async def enrolled(world: World, email: str = "ada@example.org") -> tuple[User, str, list[str]]:
    """A user with an active authenticator app, its secret and recovery codes; the clock is
    moved three steps on, so no code of the window has been used yet."""
    user = await world.add_user(email)
    secret, codes = await world.enrol_totp(user)
    world.clock.advance(seconds=90)
    return user, secret, list(codes)


async def challenge(world: World, email: str = "ada@example.org") -> str:
    result = await world.password_login(email)
    assert isinstance(result, MfaRequired)
    return result.mfa_token


async def complete(world: World, mfa_token: str, proof: SecondFactorProof) -> IssuedTokens:
    return await world.complete_mfa_login(world.uow())(mfa_token, proof, CALLER)


# ----------------------------------------------------------------------------------- TOTP


async def test_codes_of_the_previous_and_the_current_step_are_accepted(world: World) -> None:
    user, secret, _ = await enrolled(world)
    assert await world.check_second_factor(user, totp(world.code(secret, -1))) is FactorKind.TOTP
    assert await world.check_second_factor(user, totp(world.code(secret))) is FactorKind.TOTP


@pytest.mark.parametrize("steps", [-2, 1])
async def test_codes_two_steps_back_or_one_ahead_are_refused(world: World, steps: int) -> None:
    user, secret, _ = await enrolled(world)
    assert await world.check_second_factor(user, totp(world.code(secret, steps))) is None
    factor = await world.factor(user)
    assert factor is not None and factor.failures == 1


async def test_a_code_is_accepted_once(world: World) -> None:
    user, secret, _ = await enrolled(world)
    code = world.code(secret)
    assert await world.check_second_factor(user, totp(code)) is FactorKind.TOTP
    assert await world.check_second_factor(user, totp(code)) is None
    world.clock.advance(seconds=30)  # the code is now of the previous step, still in the window
    assert await world.check_second_factor(user, totp(code)) is None


async def test_an_older_step_is_refused_once_a_newer_one_was_used(world: World) -> None:
    user, secret, _ = await enrolled(world)
    previous = world.code(secret, -1)
    assert await world.check_second_factor(user, totp(world.code(secret))) is FactorKind.TOTP
    assert await world.check_second_factor(user, totp(previous)) is None


async def lock(world: World, user: User, secret: str) -> None:
    """Five wrong codes in a row."""
    wrong = world.code(secret, 5)
    for _ in range(5):
        assert await world.check_second_factor(user, totp(wrong)) is None


async def test_five_wrong_codes_lock_the_factor_for_fifteen_minutes(world: World) -> None:
    user, secret, _ = await enrolled(world)
    await lock(world, user, secret)
    with pytest.raises(RateLimited) as locked:
        await world.check_second_factor(user, totp(world.code(secret)))
    assert locked.value.code == "second_factor_locked"
    assert locked.value.retry_after == 900
    world.clock.advance(minutes=14, seconds=59)
    with pytest.raises(RateLimited) as still:
        await world.check_second_factor(user, totp(world.code(secret)))
    assert still.value.retry_after == 1
    world.clock.advance(seconds=1)
    assert await world.check_second_factor(user, totp(world.code(secret))) is FactorKind.TOTP
    assert "authn_mfa_lock" in world.actions()


async def test_attempts_while_locked_do_not_count(world: World) -> None:
    user, secret, codes = await enrolled(world)
    await lock(world, user, secret)
    for proof in (totp("000000"), recovery("AAAAA-AAAAA"), recovery(codes[0])):
        with pytest.raises(RateLimited):
            await world.check_second_factor(user, proof)
    factor = await world.factor(user)
    assert factor is not None and factor.failures == 5
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert state.recovery_codes_remaining == 10


async def test_a_success_clears_the_count_of_failures(world: World) -> None:
    user, secret, _ = await enrolled(world)
    wrong = world.code(secret, 5)
    for _ in range(4):
        assert await world.check_second_factor(user, totp(wrong)) is None
    assert await world.check_second_factor(user, totp(world.code(secret))) is FactorKind.TOTP
    for _ in range(4):
        assert await world.check_second_factor(user, totp(wrong)) is None
    world.clock.advance(seconds=30)
    assert await world.check_second_factor(user, totp(world.code(secret))) is FactorKind.TOTP


async def test_a_hundred_failures_retire_totp_codes_but_a_recovery_code_still_works(
    world: World,
) -> None:
    user, secret, codes = await enrolled(world)
    for _ in range(20):
        await lock(world, user, secret)
        world.clock.advance(minutes=15)
    assert await world.check_second_factor(user, totp(world.code(secret))) is None
    reasons = [reason for action, _, reason in world.audit_actions() if action == "authn_mfa_fail"]
    assert reasons[-1] == "totp_retired"
    assert await world.check_second_factor(user, recovery(codes[0])) is FactorKind.RECOVERY_CODE


# ------------------------------------------------------------------------- recovery codes


async def test_ten_distinct_recovery_codes_are_shown(world: World) -> None:
    _, _, codes = await enrolled(world)
    assert len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)


async def test_each_recovery_code_works_once(world: World) -> None:
    user, _, codes = await enrolled(world)
    for code in codes:
        assert await world.check_second_factor(user, recovery(code)) is FactorKind.RECOVERY_CODE
    for code in codes[:2]:
        assert await world.check_second_factor(user, recovery(code)) is None
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert state.recovery_codes_remaining == 0


async def test_a_recovery_code_may_be_typed_in_lower_case_without_its_hyphen(
    world: World,
) -> None:
    user, _, codes = await enrolled(world)
    typed = codes[3].replace("-", "").lower()
    assert await world.check_second_factor(user, recovery(typed)) is FactorKind.RECOVERY_CODE
    assert await world.check_second_factor(user, recovery(codes[3])) is None


async def test_a_malformed_recovery_code_is_bad_input(world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        recovery("ABCDE-ＦGHIJ")
    assert bad.value.code == "invalid_recovery_code"


async def test_using_a_recovery_code_mails_the_owner_with_the_codes_left(world: World) -> None:
    user, _, codes = await enrolled(world)
    await world.check_second_factor(user, recovery(codes[0]))
    [mail] = world.mails("recovery_code_used")
    assert mail.recipient == "ada@example.org"
    assert "Unused codes left: 9." in mail.text
    assert codes[0] not in mail.text and codes[1] not in mail.text
    assert "authn_recovery_code_used" in world.actions()


async def test_new_recovery_codes_void_the_old_set(world: World) -> None:
    user, _, old = await enrolled(world)
    new = await world.totp_enrolment(world.uow()).regenerate_recovery_codes(user.id, CALLER)
    assert set(new).isdisjoint(old)
    assert await world.check_second_factor(user, recovery(old[0])) is None
    assert await world.check_second_factor(user, recovery(new[0])) is FactorKind.RECOVERY_CODE


async def test_two_simultaneous_uses_of_one_recovery_code_make_one_session(world: World) -> None:
    user, _, codes = await enrolled(world)
    first, second = await challenge(world), await challenge(world)

    async def use(mfa_token: str) -> IssuedTokens | None:
        """The session, or ``None`` when refused (the memory adapter's loser may only learn
        it at commit, as ``Conflict``); anything else is a defect and propagates."""
        try:
            return await complete(world, mfa_token, recovery(codes[0]))
        except (AuthenticationFailed, Conflict):
            return None

    outcomes = await asyncio.gather(use(first), use(second))
    winners = [outcome for outcome in outcomes if outcome is not None]
    assert len(winners) == 1
    assert [s.id for s in await world.sessions_of(user)] == [winners[0].session_id]
    assert len(world.mails("recovery_code_used")) == 1


# ---------------------------------------------------------------------------- MFA login


async def test_a_password_login_with_totp_on_asks_for_the_second_factor(world: World) -> None:
    user, _, _ = await enrolled(world)
    result = await world.password_login("ada@example.org")
    assert isinstance(result, MfaRequired)
    assert result.expires_in == 300
    assert result.methods == ("totp", "recovery_code")
    assert await world.sessions_of(user) == []
    assert "authn_mfa_challenge" in world.actions()


async def test_the_totp_code_turns_the_challenge_into_a_session(world: World) -> None:
    user, secret, _ = await enrolled(world)
    issued = await complete(world, await challenge(world), totp(world.code(secret)))
    claims = world.tokens.verify(issued.access_token)
    assert claims.subject == user.id
    assert claims.amr == ("pwd", "totp", "mfa")
    assert [s.id for s in await world.sessions_of(user)] == [issued.session_id]


async def test_a_recovery_code_completes_a_login_too(world: World) -> None:
    _, _, codes = await enrolled(world)
    issued = await complete(world, await challenge(world), recovery(codes[0]))
    assert world.tokens.verify(issued.access_token).amr == ("pwd", "recovery_code", "mfa")


async def test_a_wrong_code_is_invalid_code_and_the_challenge_survives(world: World) -> None:
    _, secret, _ = await enrolled(world)
    token = await challenge(world)
    with pytest.raises(AuthenticationFailed) as wrong:
        await complete(world, token, totp(world.code(secret, 3)))
    assert wrong.value.code == "invalid_code"
    assert await complete(world, token, totp(world.code(secret)))


async def test_a_challenge_expires_after_five_minutes(world: World) -> None:
    _, secret, _ = await enrolled(world)
    token = await challenge(world)
    world.clock.advance(minutes=5)
    with pytest.raises(AuthenticationFailed) as expired:
        await complete(world, token, totp(world.code(secret)))
    assert expired.value.code == "invalid_mfa_token"


async def test_after_five_attempts_the_challenge_is_dead_even_for_the_right_code(
    world: World,
) -> None:
    _, secret, codes = await enrolled(world)
    token = await challenge(world)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await complete(world, token, totp(world.code(secret, 4)))
    world.clock.advance(minutes=4)  # the factor's lock still runs; the challenge is what fails
    with pytest.raises(AuthenticationFailed) as dead:
        await complete(world, token, recovery(codes[0]))
    assert dead.value.code == "invalid_mfa_token"


async def test_a_handle_works_for_one_session(world: World) -> None:
    user, secret, _ = await enrolled(world)
    token = await challenge(world)
    await complete(world, token, totp(world.code(secret)))
    world.clock.advance(seconds=30)
    with pytest.raises(AuthenticationFailed) as reused:
        await complete(world, token, totp(world.code(secret)))
    assert reused.value.code == "invalid_mfa_token"
    assert len(await world.sessions_of(user)) == 1


async def test_an_emailed_code_challenge_is_not_an_mfa_token(world: World) -> None:
    _, secret, _ = await enrolled(world)
    sent = await world.request_login_code(world.uow())("ada@example.org", CALLER)
    with pytest.raises(AuthenticationFailed) as other_kind:
        await complete(world, sent.challenge_id, totp(world.code(secret)))
    assert other_kind.value.code == "invalid_mfa_token"


async def test_a_malformed_mfa_token_is_bad_input(world: World) -> None:
    await enrolled(world)
    with pytest.raises(InvalidInput) as bad:
        await complete(world, "not a handle", totp("123456"))
    assert bad.value.code == "invalid_challenge"
    assert [error.field for error in bad.value.errors] == ["mfa_token"]


async def test_a_user_disabled_between_the_two_steps_gets_no_session(world: World) -> None:
    user, secret, _ = await enrolled(world)
    token = await challenge(world)
    await world.disable(user)
    with pytest.raises(AuthenticationFailed) as refused:
        await complete(world, token, totp(world.code(secret)))
    assert refused.value.code == "invalid_mfa_token"
    assert await world.sessions_of(user) == []
