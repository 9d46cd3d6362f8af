"""Passwordless login with an emailed code (security.md OTP-1, ENUM-1), with memory adapters
and the fake clock. Codes are read from the outbox, as the user reads their mail."""

from __future__ import annotations

import asyncio

import pytest

from dashcore.application.access import IssuedTokens
from dashcore.application.otp_login import LoginCodeSent, OtpLoginAttempt
from dashcore.application.sign_in import MfaRequired
from dashcore.domain.errors import AuthenticationFailed, InvalidInput, RateLimited
from dashcore.domain.mfa import ChallengeKind
from dashcore.domain.users import User
from dashcore_ratelimit.limiter import NoRateLimits
from tests.unit.identity_world import CALLER, World

ADA = "ada@example.org"


@pytest.fixture
def world() -> World:
    return World.create()


async def ask(world: World, email: str = ADA) -> LoginCodeSent:
    return await world.request_login_code(world.uow())(email, CALLER)


async def log_in(
    world: World, challenge_id: str, code: str, *, email: str = ADA, requires_totp: bool = True
) -> IssuedTokens | MfaRequired:
    attempt = OtpLoginAttempt(email, code, challenge_id)
    return await world.otp_login(world.uow(), requires_totp=requires_totp)(attempt, CALLER)


async def refused(world: World, challenge_id: str, code: str, *, email: str = ADA) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        await log_in(world, challenge_id, code, email=email)
    return caught.value.code


async def ada(world: World) -> User:
    return await world.add_user(ADA)


def last_code(world: World) -> str:
    return world.mails("login_code")[-1].login_code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_an_unknown_address_gets_the_same_answer_and_nothing_happens(world: World) -> None:
    await ada(world)
    sent = await ask(world, "nobody@example.org")
    assert isinstance(sent.challenge_id, str) and len(sent.challenge_id) == 22
    assert sent.expires_in == 300
    assert world.mails() == []
    assert world.database.table("login_challenges") == {}
    assert world.audit_actions()[-1][2] == "unknown_account"


async def test_an_account_that_cannot_log_in_gets_no_mail(world: World) -> None:
    await world.add_user("late@example.org", verified=False)
    await ask(world, "late@example.org")
    assert world.mails() == []
    assert world.database.table("login_challenges") == {}


async def test_a_known_address_is_mailed_a_six_digit_code_stored_only_as_a_digest(
    world: World,
) -> None:
    await ada(world)
    sent = await ask(world)
    [mail] = world.mails("login_code")
    assert mail.recipient == ADA
    code = mail.login_code
    [stored] = world.database.table("login_challenges").values()
    assert stored.kind is ChallengeKind.EMAIL_OTP
    assert code not in repr(stored) and code not in (stored.code_digest or "")
    assert sent.challenge_id not in repr(stored)


async def test_the_mailed_code_logs_in_with_otp_as_the_only_method(world: World) -> None:
    user = await ada(world)
    sent = await ask(world)
    issued = await log_in(world, sent.challenge_id, last_code(world))
    assert isinstance(issued, IssuedTokens)
    claims = world.tokens.verify(issued.access_token)
    assert (claims.subject, claims.amr) == (user.id, ("otp",))
    assert "authn_otp_verified" in world.actions()


async def test_the_address_is_compared_as_an_address(world: World) -> None:
    await ada(world)
    sent = await ask(world, "ADA@Example.org")
    assert isinstance(await log_in(world, sent.challenge_id, last_code(world)), IssuedTokens)


async def test_five_wrong_codes_kill_the_challenge(world: World) -> None:
    user = await ada(world)
    sent = await ask(world)
    code = last_code(world)
    for _ in range(5):
        assert await refused(world, sent.challenge_id, wrong(code)) == "invalid_code"
    assert await refused(world, sent.challenge_id, code) == "invalid_code"
    assert await world.sessions_of(user) == []


async def test_a_code_works_only_with_its_own_challenge(world: World) -> None:
    world.limiter = NoRateLimits()
    await ada(world)
    await world.add_user("bob@example.org")
    mine = await ask(world)
    my_code = last_code(world)
    theirs = await ask(world, "bob@example.org")
    assert await refused(world, theirs.challenge_id, my_code, email=ADA) == "invalid_code"
    assert await refused(world, theirs.challenge_id, my_code, email="bob@example.org") == (
        "invalid_code"
    )
    assert isinstance(await log_in(world, mine.challenge_id, my_code), IssuedTokens)


async def test_a_challenge_given_with_another_address_is_refused(world: World) -> None:
    await ada(world)
    await world.add_user("bob@example.org")
    sent = await ask(world)
    code = last_code(world)
    assert await refused(world, sent.challenge_id, code, email="bob@example.org") == (
        "invalid_code"
    )


async def test_a_code_works_once(world: World) -> None:
    user = await ada(world)
    sent = await ask(world)
    code = last_code(world)
    await log_in(world, sent.challenge_id, code)
    assert await refused(world, sent.challenge_id, code) == "invalid_code"
    assert len(await world.sessions_of(user)) == 1


async def test_a_code_expires_after_five_minutes(world: World) -> None:
    await ada(world)
    sent = await ask(world)
    world.clock.advance(minutes=5)
    assert await refused(world, sent.challenge_id, last_code(world)) == "invalid_code"


async def test_a_new_code_replaces_the_old_one(world: World) -> None:
    world.limiter = NoRateLimits()
    await ada(world)
    first = await ask(world)
    old = last_code(world)
    second = await ask(world)
    assert await refused(world, first.challenge_id, old) == "invalid_code"
    assert isinstance(await log_in(world, second.challenge_id, last_code(world)), IssuedTokens)


async def test_a_second_request_within_a_minute_is_refused(world: World) -> None:
    await ada(world)
    await ask(world)
    with pytest.raises(RateLimited) as limited:
        await ask(world)
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60
    assert len(world.mails("login_code")) == 1


async def test_an_unknown_address_is_limited_like_a_known_one(world: World) -> None:
    await ask(world, "nobody@example.org")
    with pytest.raises(RateLimited):
        await ask(world, "nobody@example.org")


@pytest.mark.parametrize("requires_totp", [True, False])
async def test_with_totp_on_policy_decides_whether_the_code_is_enough(
    world: World, requires_totp: bool
) -> None:
    user = await ada(world)
    await world.enrol_totp(user)
    sent = await ask(world)
    result = await log_in(world, sent.challenge_id, last_code(world), requires_totp=requires_totp)
    if requires_totp:
        assert isinstance(result, MfaRequired)
        assert await world.sessions_of(user) == []
    else:
        assert isinstance(result, IssuedTokens)
        assert world.tokens.verify(result.access_token).amr == ("otp",)


@pytest.mark.parametrize("code", ["１２３４５６", "١٢٣٤٥٦", "12345 ", "12345", "1234567"])
async def test_a_code_that_is_not_six_ascii_digits_is_bad_input(world: World, code: str) -> None:
    await ada(world)
    sent = await ask(world)
    with pytest.raises(InvalidInput) as bad:
        await log_in(world, sent.challenge_id, code)
    assert bad.value.code == "invalid_code"
    assert isinstance(await log_in(world, sent.challenge_id, last_code(world)), IssuedTokens)


async def test_ten_simultaneous_logins_with_the_right_code_make_one_session(
    world: World,
) -> None:
    user = await ada(world)
    sent = await ask(world)
    code = last_code(world)

    async def try_once() -> IssuedTokens | MfaRequired | None:
        try:
            return await log_in(world, sent.challenge_id, code)
        except AuthenticationFailed:
            return None

    outcomes = await asyncio.gather(*(try_once() for _ in range(10)))
    assert sum(isinstance(outcome, IssuedTokens) for outcome in outcomes) == 1
    assert len(await world.sessions_of(user)) == 1
