"""Second-factor domain: typed codes, TOTP factor state, recovery codes, login challenges
(security.md OTP-1, TOTP-1, RC-1)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput
from dashcore.domain.mfa import (
    AMR_EMAIL_OTP,
    AMR_MFA,
    AMR_PASSWORD,
    AMR_RECOVERY_CODE,
    AMR_TOTP,
    RECOVERY_CODE_COUNT,
    ChallengeKind,
    ChallengePolicy,
    FactorStatus,
    LoginChallenge,
    TotpFactor,
    TotpPolicy,
    hash_challenge_handle,
    new_challenge_handle,
    new_recovery_codes,
    normalise_recovery_code,
    parse_challenge_handle,
    parse_one_time_code,
    second_factor_amr,
)
from dashcore.testing.clock import FakeClock

USER = UUID("0190a3a1-7c2e-7000-8000-000000000001")
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
POLICY = TotpPolicy()
STEP = POLICY.step
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ASCII_DIGITS = "0123456789"

# Steps whose 30-second slots fall between 2001 and 2100.
steps = st.integers(min_value=33_000_000, max_value=137_000_000)
crockford_codes = st.text(alphabet=CROCKFORD, min_size=10, max_size=10)


def step_start(step: int) -> datetime:
    return datetime.fromtimestamp(step * int(STEP.total_seconds()), UTC)


def pending() -> TotpFactor:
    return TotpFactor.enrol(USER, START)


def active(*, last_used_step: int | None = None) -> TotpFactor:
    return TotpFactor(
        user_id=USER,
        status=FactorStatus.ACTIVE,
        created_at=START,
        confirmed_at=START,
        last_used_step=last_used_step,
    )


def fail(factor: TotpFactor, clock: FakeClock, times: int) -> TotpFactor:
    for _ in range(times):
        factor = factor.failed(clock.now(), POLICY)
    return factor


# ------------------------------------------------------------------------ typed six-digit codes


@pytest.mark.parametrize("code", ["000000", "123456", "012345", "999999"])
def test_six_ascii_digits_are_a_code_kept_as_typed(code: str) -> None:
    assert parse_one_time_code(code) == code


@pytest.mark.parametrize(
    "text",
    [
        "１２３４５６",  # fullwidth digits
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "¹²³⁴⁵⁶",  # superscripts
        "12345 ",
        " 123456",
        "123 456",
        "123456\n",
        "12345",
        "1234567",
        "12345a",
        "",
    ],
)
def test_anything_but_six_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_one_time_code(text, field="otp")
    assert caught.value.code == "invalid_code"
    assert [error.field for error in caught.value.errors] == ["otp"]


@pytest.mark.parametrize("value", [None, 123456, b"123456"])
def test_a_code_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_one_time_code(value)  # type: ignore[arg-type]


@given(
    st.one_of(
        st.text(max_size=8),
        st.text(alphabet=ASCII_DIGITS, min_size=5, max_size=7),
        st.text(alphabet=st.characters(categories=["Nd"]), min_size=6, max_size=6),
    )
)
def test_a_string_is_a_code_exactly_when_it_is_six_ascii_digits(text: str) -> None:
    expected = len(text) == 6 and all(char in ASCII_DIGITS for char in text)
    try:
        accepted = parse_one_time_code(text) == text
    except InvalidInput:
        accepted = False
    assert accepted is expected


# ---------------------------------------------------------------------------------- TOTP window


@given(step=steps, offset=st.integers(min_value=-90_000_000, max_value=90_000_000))
def test_a_code_is_accepted_from_its_step_to_the_end_of_the_next_one(
    step: int, offset: int
) -> None:
    """Clock offsets of -90..+90 s (to the microsecond) from the start of the code's step."""
    now = step_start(step) + timedelta(microseconds=offset)
    accepted = step in pending().usable_steps(now, POLICY)
    assert accepted is (0 <= offset < 60_000_000)


@given(
    step=steps,
    offset=st.integers(min_value=-90, max_value=90),
    look_back=st.integers(min_value=0, max_value=2),
)
def test_the_window_is_the_current_step_and_look_back_steps_before_it(
    step: int, offset: int, look_back: int
) -> None:
    policy = TotpPolicy(look_back=look_back)
    now = step_start(step) + timedelta(seconds=offset)
    current = policy.step_at(now)
    assert policy.window(now) == tuple(range(current, current - look_back - 1, -1))
    accepted = step in pending().usable_steps(now, policy)
    assert accepted is (0 <= offset < 30 * (look_back + 1))


@given(step=steps, second=st.integers(min_value=0, max_value=29))
def test_codes_from_two_steps_back_or_one_step_ahead_are_refused(step: int, second: int) -> None:
    now = step_start(step) + timedelta(seconds=second)
    usable = pending().usable_steps(now, POLICY)
    assert usable == (step, step - 1)
    assert step - 2 not in usable
    assert step + 1 not in usable


def test_the_step_is_unix_time_over_thirty_seconds() -> None:
    assert POLICY.step_at(datetime(1970, 1, 1, 0, 0, 59, tzinfo=UTC)) == 1
    assert POLICY.step_at(datetime(2005, 3, 18, 1, 58, 29, tzinfo=UTC)) == 37037036
    assert POLICY.step_at(datetime(2005, 3, 18, 1, 58, 31, tzinfo=UTC)) == 37037037


def test_the_step_does_not_depend_on_the_time_zone_of_the_instant() -> None:
    elsewhere = START.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert POLICY.step_at(elsewhere) == POLICY.step_at(START)
    with pytest.raises(InvalidInput):
        POLICY.step_at(START.replace(tzinfo=None))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"step": timedelta(0)},
        {"step": timedelta(seconds=-30)},
        {"step": timedelta(seconds=30, milliseconds=1)},
        {"look_back": -1},
        {"look_back": 3},
        {"lock_threshold": 0},
        {"lock_threshold": 100, "retire_after": 100},
    ],
)
def test_a_totp_policy_outside_the_rules_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"step|look_back|lock_threshold"):
        TotpPolicy(**kwargs)  # type: ignore[arg-type]


# -------------------------------------------------------------------------- replay and states


@given(step=steps, later=st.integers(min_value=0, max_value=600))
def test_a_used_step_is_never_usable_again(step: int, later: int) -> None:
    used_at = step_start(step) + timedelta(seconds=15)
    factor = active().accepted(step, used_at)
    usable = factor.usable_steps(used_at + timedelta(seconds=later), POLICY)
    assert all(candidate > step for candidate in usable)


def test_the_same_code_twice_inside_its_window_is_refused_but_the_next_step_is_not() -> None:
    step = POLICY.step_at(START)
    factor = active().accepted(step - 1, START)
    assert factor.usable_steps(START, POLICY) == (step,)
    factor = factor.accepted(step, START)
    assert factor.usable_steps(START, POLICY) == ()
    assert factor.usable_steps(START + STEP, POLICY) == (step + 1,)


@pytest.mark.parametrize("offset", [0, -1, -5])
def test_accepting_a_step_not_newer_than_the_last_one_is_refused(offset: int) -> None:
    factor = active(last_used_step=1000)
    with pytest.raises(ValueError, match="accepted once"):
        factor.accepted(1000 + offset, START)


def test_a_pending_factor_becomes_active_on_its_first_accepted_code() -> None:
    factor = pending()
    assert not factor.is_active
    assert factor.usable_steps(START, POLICY) == POLICY.window(START)
    confirmed_at = START + timedelta(minutes=2)
    confirmed = factor.accepted(POLICY.step_at(confirmed_at), confirmed_at)
    assert confirmed.is_active
    assert confirmed.status is FactorStatus.ACTIVE
    assert confirmed.confirmed_at == confirmed_at
    later = confirmed_at + timedelta(days=3)
    assert confirmed.accepted(POLICY.step_at(later), later).confirmed_at == confirmed_at


def test_factor_states_that_cannot_exist_are_refused() -> None:
    with pytest.raises(ValueError, match="confirmation time"):
        TotpFactor(user_id=USER, status=FactorStatus.ACTIVE, created_at=START)
    with pytest.raises(ValueError, match="confirmation time"):
        TotpFactor(user_id=USER, status=FactorStatus.PENDING, created_at=START, confirmed_at=START)
    with pytest.raises(ValueError, match="negative"):
        replace(active(), failures=-1)
    with pytest.raises(InvalidInput):
        TotpFactor.enrol(USER, START.replace(tzinfo=None))


# ---------------------------------------------------------------------------- failure counting


def test_five_failures_in_a_row_lock_the_factor_for_fifteen_minutes() -> None:
    clock = FakeClock(START)
    factor = fail(active(), clock, 4)
    assert factor.failures == 4
    assert not factor.is_locked(clock.now())
    factor = fail(factor, clock, 1)
    assert factor.locked_until == START + timedelta(minutes=15)
    assert factor.is_locked(clock.advance(minutes=14, seconds=59))
    assert not factor.is_locked(clock.advance(seconds=1))


def test_failures_while_locked_do_not_count() -> None:
    clock = FakeClock(START)
    locked = fail(active(), clock, 5)
    clock.advance(minutes=5)
    assert fail(locked, clock, 20) == locked


def test_after_a_lock_five_more_failures_lock_again() -> None:
    clock = FakeClock(START)
    factor = fail(active(), clock, 5)
    clock.advance(minutes=15)
    factor = fail(factor, clock, 4)
    assert (factor.failures, factor.is_locked(clock.now())) == (9, False)
    factor = fail(factor, clock, 1)
    assert factor.locked_until == clock.now() + timedelta(minutes=15)


def test_a_success_clears_the_counter_and_the_lock() -> None:
    clock = FakeClock(START)
    factor = fail(active(), clock, 5)
    step = POLICY.step_at(clock.now())
    cleared = factor.accepted(step, clock.now())
    assert (cleared.failures, cleared.locked_until) == (0, None)
    assert fail(cleared, clock, 4).locked_until is None


def test_a_recovery_code_clears_the_counter_but_keeps_the_spent_steps() -> None:
    clock = FakeClock(START)
    factor = fail(active(last_used_step=POLICY.step_at(START)), clock, 7)
    recovered = factor.recovered()
    assert (recovered.failures, recovered.locked_until) == (0, None)
    assert recovered.last_used_step == factor.last_used_step
    assert recovered.is_active


def test_a_hundred_failures_in_a_row_retire_totp_codes() -> None:
    clock = FakeClock(START)
    factor = active()
    for _ in range(99):
        clock.advance(minutes=16)  # past any lock, so that every failure counts
        factor = factor.failed(clock.now(), POLICY)
    assert factor.failures == 99
    assert not factor.codes_retired(POLICY)
    factor = fail(factor, clock, 1)
    assert factor.failures == 100
    assert factor.codes_retired(POLICY)
    assert factor.recovered().codes_retired(POLICY) is False


@given(st.lists(st.booleans(), max_size=60))
def test_failures_count_the_wrong_codes_since_the_last_success(outcomes: list[bool]) -> None:
    clock = FakeClock(START)
    factor = active()
    expected = 0
    for success in outcomes:
        clock.advance(minutes=16)  # never locked when the next code arrives
        now = clock.now()
        if success:
            factor = factor.accepted(POLICY.step_at(now), now)
            expected = 0
        else:
            factor = factor.failed(now, POLICY)
            expected += 1
        assert factor.failures == expected
        assert factor.is_locked(now) is (expected > 0 and expected % 5 == 0)


# ------------------------------------------------------------------------------ recovery codes

_DISPLAYED = re.compile(rf"[{CROCKFORD}]{{5}}-[{CROCKFORD}]{{5}}")


def test_ten_distinct_codes_in_crockford_groups_of_five() -> None:
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(codes)) == 10
    assert all(_DISPLAYED.fullmatch(code) for code in codes)


def test_recovery_codes_use_the_whole_alphabet() -> None:
    text = "".join(code.replace("-", "") for _ in range(40) for code in new_recovery_codes())
    assert set(text) == set(CROCKFORD)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("ABCDE-FGHJK", "ABCDEFGHJK"),
        ("abcde-fghjk", "ABCDEFGHJK"),
        ("AbCdE FgHjK", "ABCDEFGHJK"),
        (" abcde - fghjk ", "ABCDEFGHJK"),
        ("A-B-C-D-E-F-G-H-J-K", "ABCDEFGHJK"),
        ("O0oIiLl1-23", "0001111123"),
    ],
)
def test_typed_recovery_codes_are_read_leniently(typed: str, canonical: str) -> None:
    assert normalise_recovery_code(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "ABCDE-FGHJ",  # nine characters
        "ABCDE-FGHJKM",  # eleven
        "ABCDE-FGHJU",  # U is not in Crockford's alphabet
        "ABCDE_FGHJK",
        "ABCDE\tFGHJK",
        "ＡＢＣＤＥ-ＦＧＨＪＫ",  # fullwidth letters
        "ABCDE-FGHJÉ",
        "ABCDE-FGHJK" + " " * 22,  # 33 characters: oversized before any work
        "-" * 1000 + "ABCDEFGHJK",
        "",
    ],
)
def test_malformed_recovery_codes_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_recovery_code(typed, field="code")
    assert caught.value.code == "invalid_recovery_code"
    assert [error.field for error in caught.value.errors] == ["code"]


@given(crockford_codes, st.data())
def test_any_way_of_typing_a_code_normalises_back_to_it(raw: str, data: st.DataObject) -> None:
    assert normalise_recovery_code(f"{raw[:5]}-{raw[5:]}") == raw
    typed = "".join(
        data.draw(st.sampled_from([char, char.lower()]))
        + data.draw(st.sampled_from(["", "-", " "]))
        for char in raw
    )
    assert normalise_recovery_code(typed) == raw


def test_generated_codes_normalise_to_themselves_without_the_hyphen() -> None:
    for code in new_recovery_codes():
        assert normalise_recovery_code(code) == code.replace("-", "")
        assert normalise_recovery_code(code.lower()) == code.replace("-", "")


# ----------------------------------------------------------------------------------- challenges


CHALLENGES = ChallengePolicy()


def challenge(
    kind: ChallengeKind = ChallengeKind.SECOND_FACTOR,
    policy: ChallengePolicy = CHALLENGES,
    **kwargs: Any,
) -> LoginChallenge:
    return LoginChallenge.open(new_challenge_handle(), kind, USER, START, policy, **kwargs)


def test_a_handle_is_22_base64url_characters_and_parses() -> None:
    handles = {new_challenge_handle() for _ in range(200)}
    assert len(handles) == 200
    for handle in handles:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", handle)
        assert parse_challenge_handle(handle, field="challenge_id") == handle


@pytest.mark.parametrize(
    "text",
    [
        "A" * 21,
        "A" * 23,
        "A" * 21 + "=",
        "A" * 21 + "+",
        "A" * 21 + "/",
        "A" * 21 + "é",
        " " + "A" * 21,
        "",
    ],
)
def test_anything_else_is_not_a_challenge_handle(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_challenge_handle(text, field="challenge_id")
    assert caught.value.code == "invalid_challenge"
    assert [error.field for error in caught.value.errors] == ["challenge_id"]


def test_only_the_sha256_of_a_handle_is_kept() -> None:
    assert hash_challenge_handle("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    handle = new_challenge_handle()
    opened = LoginChallenge.open(handle, ChallengeKind.SECOND_FACTOR, USER, START, CHALLENGES)
    assert opened.handle_hash == hashlib.sha256(handle.encode()).hexdigest()
    assert handle not in repr(opened)


def test_opening_a_challenge_takes_expiry_and_attempts_from_the_policy() -> None:
    policy = ChallengePolicy(ttl=timedelta(minutes=3), max_attempts=2)
    opened = challenge(policy=policy, amr=(AMR_PASSWORD,), remember_me=True, device_label="Mac")
    assert (opened.created_at, opened.expires_at) == (START, START + timedelta(minutes=3))
    assert opened.expires_in == timedelta(minutes=3)
    assert (opened.max_attempts, opened.attempts, opened.consumed_at) == (2, 0, None)
    assert (opened.amr, opened.remember_me, opened.device_label) == ((AMR_PASSWORD,), True, "Mac")
    assert challenge().expires_at == START + timedelta(minutes=5)
    assert challenge().max_attempts == 5


def test_a_challenge_closes_when_it_expires() -> None:
    clock = FakeClock(START)
    opened = challenge()
    assert opened.is_open(clock.advance(minutes=4, seconds=59))
    assert not opened.is_open(clock.advance(seconds=1))


def test_a_challenge_closes_when_consumed() -> None:
    opened = challenge()
    assert not replace(opened, consumed_at=START + timedelta(seconds=5)).is_open(START)


def test_a_challenge_closes_when_its_attempts_are_spent() -> None:
    opened = challenge()
    assert replace(opened, attempts=4).is_open(START)
    assert not replace(opened, attempts=5).is_open(START)


def test_an_emailed_code_challenge_carries_a_digest_and_hides_it() -> None:
    digest = "f" * 64
    opened = challenge(ChallengeKind.EMAIL_OTP, code_digest=digest)
    assert opened.code_digest == digest
    assert digest not in repr(opened)
    with pytest.raises(ValueError, match="code digest"):
        challenge(ChallengeKind.EMAIL_OTP)


def test_a_second_factor_challenge_carries_no_digest() -> None:
    with pytest.raises(ValueError, match="code digest"):
        challenge(ChallengeKind.SECOND_FACTOR, code_digest="f" * 64)


def test_a_challenge_expires_after_it_is_created() -> None:
    opened = challenge()
    with pytest.raises(ValueError, match="expires after"):
        replace(opened, expires_at=opened.created_at)
    with pytest.raises(InvalidInput):
        replace(opened, consumed_at=START.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"ttl": timedelta(minutes=10, seconds=1)}, "10 minutes"),
        ({"ttl": timedelta(0)}, "10 minutes"),
        ({"ttl": timedelta(minutes=-1)}, "10 minutes"),
        ({"max_attempts": 0}, "at least one attempt"),
    ],
)
def test_a_challenge_policy_outside_otp_1_is_refused(
    kwargs: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        ChallengePolicy(**kwargs)  # type: ignore[arg-type]


def test_a_ten_minute_challenge_is_the_longest_allowed() -> None:
    assert ChallengePolicy(ttl=timedelta(minutes=10)).ttl == timedelta(minutes=10)


# --------------------------------------------------------------------------------------- amr


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ((AMR_PASSWORD,), AMR_TOTP, (AMR_PASSWORD, AMR_TOTP, AMR_MFA)),
        ((AMR_PASSWORD,), AMR_RECOVERY_CODE, (AMR_PASSWORD, AMR_RECOVERY_CODE, AMR_MFA)),
        ((AMR_EMAIL_OTP,), AMR_TOTP, (AMR_EMAIL_OTP, AMR_TOTP, AMR_MFA)),
        ((AMR_PASSWORD, AMR_TOTP), AMR_TOTP, (AMR_PASSWORD, AMR_TOTP, AMR_MFA)),
        ((AMR_PASSWORD, AMR_MFA), AMR_TOTP, (AMR_PASSWORD, AMR_MFA, AMR_TOTP)),
    ],
)
def test_second_factor_amr_keeps_order_drops_repeats_and_says_mfa(
    first: tuple[str, ...], second: str, expected: tuple[str, ...]
) -> None:
    assert second_factor_amr(first, second) == expected


@pytest.mark.parametrize("second", [AMR_PASSWORD, AMR_EMAIL_OTP])
def test_second_factor_amr_refuses_a_method_that_is_not_a_second_factor(second: str) -> None:
    with pytest.raises(ValueError, match="second factor"):
        second_factor_amr((AMR_PASSWORD,), second)
