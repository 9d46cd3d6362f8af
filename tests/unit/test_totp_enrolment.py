"""Turning the authenticator app on and off, recovery-code sets, and the password reset that
must not bypass it (security.md TOTP-1, RC-1, RESET-2, AUD-1), with memory adapters."""

from __future__ import annotations

import pytest

from dashcore.application.access import IssuedTokens
from dashcore.application.second_factor import FactorKind, SecondFactorProof
from dashcore.application.sign_in import MfaRequired
from dashcore.domain.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound
from dashcore.domain.mfa import FactorStatus
from dashcore.domain.users import User
from tests.unit.identity_world import CALLER, CONFIRMING_SESSION, PASSWORD, World

ADA = "ada@example.org"
NEW_PASSWORD = "a brand new pass phrase 42"


@pytest.fixture
def world() -> World:
    return World.create()


async def ada(world: World) -> User:
    return await world.add_user(ADA)


# ------------------------------------------------------------------------------- enrolment


async def test_enrolment_hands_out_the_secret_and_an_otpauth_uri(world: World) -> None:
    user = await ada(world)
    setup = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    assert setup.provisioning_uri.startswith("otpauth://totp/")
    assert f"secret={setup.secret}" in setup.provisioning_uri
    assert setup.secret not in repr(setup)


async def test_a_pending_enrolment_leaves_login_without_a_second_factor(world: World) -> None:
    user = await ada(world)
    await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert (state.totp, state.confirmed_at) == (FactorStatus.PENDING, None)
    assert isinstance(await world.password_login(ADA), IssuedTokens)


async def test_the_secret_is_stored_sealed(world: World) -> None:
    user = await ada(world)
    setup = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    await world.totp_enrolment(world.uow()).confirm(
        user.id, CONFIRMING_SESSION, world.code(setup.secret), CALLER
    )
    secret = setup.secret.encode()
    for table in world.database.tables.values():
        for row in table.values():
            assert setup.secret not in repr(row)
            assert secret not in getattr(row, "ciphertext", b"")


async def test_confirming_turns_it_on_and_shows_ten_codes_once(world: World) -> None:
    user = await ada(world)
    secret, codes = await world.enrol_totp(user)
    assert len(set(codes)) == 10
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert (state.totp, state.confirmed_at, state.recovery_codes_remaining) == (
        FactorStatus.ACTIVE,
        world.clock.now(),
        10,
    )
    stored = [repr(row) for row in world.database.table("recovery_codes").values()]
    assert all(code.replace("-", "") not in text for code in codes for text in stored)
    [mail] = world.mails("totp_enabled")
    assert mail.recipient == ADA and secret not in mail.text
    assert "authn_mfa_enabled" in world.actions()
    assert isinstance(await world.password_login(ADA), MfaRequired)


async def test_confirming_ends_the_sessions_signed_in_with_the_password_alone(world: World) -> None:
    """A session someone else opened with the password (before the owner turned the app on)
    must sign in again, with the second factor; the confirming one goes on."""
    user = await ada(world)
    other = await world.password_login(ADA)
    assert isinstance(other, IssuedTokens)
    setup = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    confirming = await world.password_login(ADA)
    assert isinstance(confirming, IssuedTokens)
    await world.totp_enrolment(world.uow()).confirm(
        user.id, confirming.session_id, world.code(setup.secret), CALLER
    )
    assert [s.id for s in await world.sessions_of(user)] == [confirming.session_id]
    assert world.revocations.is_revoked(other.session_id)


async def test_a_wrong_confirming_code_is_forbidden_and_leaves_it_pending(world: World) -> None:
    user = await ada(world)
    setup = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    with pytest.raises(Forbidden) as wrong:
        await world.totp_enrolment(world.uow()).confirm(
            user.id, CONFIRMING_SESSION, world.code(setup.secret, 2), CALLER
        )
    assert wrong.value.code == "wrong_code"
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert state.totp is FactorStatus.PENDING
    assert world.mails("totp_enabled") == []


async def test_a_confirming_code_that_is_not_six_digits_is_bad_input(world: World) -> None:
    user = await ada(world)
    await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    with pytest.raises(InvalidInput):
        await world.totp_enrolment(world.uow()).confirm(
            user.id, CONFIRMING_SESSION, "１２３４５６", CALLER
        )


async def test_confirming_twice_is_a_conflict(world: World) -> None:
    user = await ada(world)
    secret, _ = await world.enrol_totp(user)
    world.clock.advance(seconds=30)
    with pytest.raises(Conflict) as twice:
        await world.totp_enrolment(world.uow()).confirm(
            user.id, CONFIRMING_SESSION, world.code(secret), CALLER
        )
    assert twice.value.code == "mfa_already_enabled"


async def test_confirming_without_an_enrolment_is_a_conflict(world: World) -> None:
    user = await ada(world)
    with pytest.raises(Conflict) as none:
        await world.totp_enrolment(world.uow()).confirm(
            user.id, CONFIRMING_SESSION, "123456", CALLER
        )
    assert none.value.code == "no_pending_enrolment"


async def test_enrolling_while_on_is_a_conflict(world: World) -> None:
    user = await ada(world)
    await world.enrol_totp(user)
    with pytest.raises(Conflict) as again:
        await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    assert again.value.code == "mfa_already_enabled"


async def test_enrolling_again_while_pending_replaces_the_secret(world: World) -> None:
    user = await ada(world)
    first = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    second = await world.totp_enrolment(world.uow()).start(user.id, CALLER)
    assert first.secret != second.secret
    with pytest.raises(Forbidden):
        await world.totp_enrolment(world.uow()).confirm(
            user.id, CONFIRMING_SESSION, world.code(first.secret), CALLER
        )
    await world.totp_enrolment(world.uow()).confirm(
        user.id, CONFIRMING_SESSION, world.code(second.secret), CALLER
    )


# ------------------------------------------------------------------------- disable, regenerate


async def test_disabling_forgets_the_factor_its_secret_and_codes(world: World) -> None:
    user = await ada(world)
    await world.enrol_totp(user)
    await world.totp_enrolment(world.uow()).disable(user.id, CALLER)
    state = await world.totp_enrolment(world.uow()).state(user.id)
    assert (state.totp, state.recovery_codes_remaining) == (None, 0)
    assert world.database.table("sealed_secrets") == {}
    assert world.database.table("recovery_codes") == {}
    [mail] = world.mails("totp_disabled")
    assert mail.recipient == ADA and "you turned off" in mail.text
    assert "authn_mfa_disabled" in world.actions()
    assert isinstance(await world.password_login(ADA), IssuedTokens)


async def test_an_administrator_reset_is_audited_and_mailed_as_such(world: World) -> None:
    user = await ada(world)
    await world.enrol_totp(user)
    await world.totp_enrolment(world.uow()).disable(user.id, CALLER, by_administrator=True)
    assert "an administrator turned off" in world.mails("totp_disabled")[0].text
    assert "admin_mfa_reset" in world.actions()


async def test_disabling_without_a_factor_is_not_found(world: World) -> None:
    user = await ada(world)
    with pytest.raises(NotFound) as missing:
        await world.totp_enrolment(world.uow()).disable(user.id, CALLER)
    assert missing.value.code == "mfa_not_enabled"


async def test_new_recovery_codes_replace_the_whole_set(world: World) -> None:
    user = await ada(world)
    _, old = await world.enrol_totp(user)
    new = await world.totp_enrolment(world.uow()).regenerate_recovery_codes(user.id, CALLER)
    assert len(set(new)) == 10 and set(new).isdisjoint(old)
    assert len(world.database.table("recovery_codes")) == 10
    assert "authn_recovery_codes_regenerated" in world.actions()
    proof = SecondFactorProof(FactorKind.RECOVERY_CODE, old[0])
    assert await world.check_second_factor(user, proof) is None


async def test_new_recovery_codes_need_the_factor_on(world: World) -> None:
    user = await ada(world)
    with pytest.raises(NotFound):
        await world.totp_enrolment(world.uow()).regenerate_recovery_codes(user.id, CALLER)


# -------------------------------------------------------------------------------- RESET-2


async def reset(world: World, user: User, proof: SecondFactorProof | None = None) -> str:
    """Complete a password reset; the token used."""
    token = await world.reset_token(user)
    await world.complete_password_reset(world.uow())(
        token, NEW_PASSWORD, CALLER, second_factor=proof
    )
    return token


async def test_the_reset_link_tells_whether_a_second_factor_is_needed(world: World) -> None:
    user = await ada(world)
    check = world.check_password_reset(world.uow())
    assert await check(await world.reset_token(user)) is False
    await world.enrol_totp(user)
    assert await world.check_password_reset(world.uow())(await world.reset_token(user)) is True


async def test_with_totp_on_a_reset_without_a_code_changes_nothing(world: World) -> None:
    user = await ada(world)
    await world.enrol_totp(user)
    token = await world.reset_token(user)
    with pytest.raises(Forbidden) as refused:
        await world.complete_password_reset(world.uow())(token, NEW_PASSWORD, CALLER)
    assert refused.value.code == "second_factor_required"
    assert (await world.stored(user)).password_hash == user.password_hash
    assert await world.check_password_reset(world.uow())(token) is True


async def test_with_totp_on_a_reset_with_a_wrong_code_is_forbidden_and_counted(
    world: World,
) -> None:
    user = await ada(world)
    secret, _ = await world.enrol_totp(user)
    world.clock.advance(seconds=90)
    with pytest.raises(Forbidden) as wrong:
        await reset(world, user, SecondFactorProof(FactorKind.TOTP, world.code(secret, 3)))
    assert wrong.value.code == "wrong_code"
    assert (await world.stored(user)).password_hash == user.password_hash
    factor = await world.factor(user)
    assert factor is not None and factor.failures == 1


async def test_with_totp_on_a_reset_with_a_code_sets_the_password_and_ends_sessions(
    world: World,
) -> None:
    user = await ada(world)
    secret, _ = await world.enrol_totp(user)
    world.clock.advance(seconds=90)
    challenge = await world.password_login(ADA)
    assert isinstance(challenge, MfaRequired)
    proof = SecondFactorProof(FactorKind.TOTP, world.code(secret))
    await world.complete_mfa_login(world.uow())(challenge.mfa_token, proof, CALLER)
    assert len(await world.sessions_of(user)) == 1
    world.clock.advance(seconds=30)
    await reset(world, user, SecondFactorProof(FactorKind.TOTP, world.code(secret)))
    assert await world.sessions_of(user) == []
    assert isinstance(await world.password_login(ADA, NEW_PASSWORD), MfaRequired)
    with pytest.raises(AuthenticationFailed) as old:
        await world.password_login(ADA, PASSWORD)
    assert old.value.code == "invalid_credentials"


async def test_with_totp_on_a_recovery_code_completes_a_reset(world: World) -> None:
    user = await ada(world)
    _, codes = await world.enrol_totp(user)
    await reset(world, user, SecondFactorProof(FactorKind.RECOVERY_CODE, codes[0]))
    assert (await world.stored(user)).password_hash != user.password_hash


async def test_the_recovery_code_that_completed_a_reset_is_spent(world: World) -> None:
    user = await ada(world)
    _, codes = await world.enrol_totp(user)
    await reset(world, user, SecondFactorProof(FactorKind.RECOVERY_CODE, codes[0]))
    assert "authn_recovery_code_used" in world.actions()
    assert len(world.mails("recovery_code_used")) == 1
    proof = SecondFactorProof(FactorKind.RECOVERY_CODE, codes[0])
    assert await world.check_second_factor(user, proof) is None


async def test_the_totp_code_that_completed_a_reset_cannot_be_replayed(world: World) -> None:
    user = await ada(world)
    secret, _ = await world.enrol_totp(user)
    world.clock.advance(seconds=90)
    code = world.code(secret)
    await reset(world, user, SecondFactorProof(FactorKind.TOTP, code))
    assert "authn_mfa_success" in world.actions()
    assert await world.check_second_factor(user, SecondFactorProof(FactorKind.TOTP, code)) is None
