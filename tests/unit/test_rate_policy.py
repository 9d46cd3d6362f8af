"""Rate policies and decisions, and the RateLimit fields rendered from them (RL-1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import InvalidInput
from dashcore.domain.ratelimit import RateDecision, RatePolicy, retry_after
from dashcore_http.ratelimit_fields import rate_limit_field, rate_limit_policy_field

LOGIN = RatePolicy("login", 5, 60)

policies = st.builds(
    RatePolicy,
    name=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    limit=st.integers(min_value=1, max_value=10_000),
    window=st.integers(min_value=1, max_value=86_400),
)
raw_seconds = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**6), 10**6).map(float)
)


@st.composite
def decisions(draw: st.DrawFn) -> RateDecision:
    return RateDecision.from_window(
        draw(policies),
        allowed=draw(st.booleans()),
        remaining=draw(st.integers(min_value=-5, max_value=20_000)),
        seconds_to_reset=draw(raw_seconds),
    )


@pytest.mark.parametrize(
    ("name", "limit", "window"),
    [
        ("", 5, 60),
        ("Login", 5, 60),
        ('lo"gin', 5, 60),
        ("login;q=1", 5, 60),
        ("9lives", 5, 60),
        ("x" * 65, 5, 60),
        ("login", 0, 60),
        ("login", True, 60),
        ("login", 5, 0),
        ("login", 5, -60),
        ("login", 5, 1.5),
    ],
)
def test_invalid_policies_are_refused(name: str, limit: int, window: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        RatePolicy(name, limit, window)
    assert raised.value.code == "invalid_rate_policy"


def test_a_decision_outside_its_bounds_is_refused() -> None:
    for remaining, reset_after in [(-1, 10), (6, 10), (0, 0), (0, 61)]:
        with pytest.raises(InvalidInput):
            RateDecision(LOGIN, False, remaining, reset_after)


@given(decisions())
def test_every_decision_keeps_the_invariants(decision: RateDecision) -> None:
    assert 0 <= decision.remaining <= decision.limit
    assert 0 < decision.reset_after <= decision.policy.window


@given(policies, st.floats(min_value=0.000001, max_value=86_400))
def test_reset_is_rounded_up_never_early(policy: RatePolicy, seconds: float) -> None:
    decision = RateDecision.from_window(
        policy, allowed=False, remaining=0, seconds_to_reset=seconds
    )
    assert decision.reset_after >= min(seconds, policy.window)


def test_a_full_quota_resets_a_whole_window_from_now() -> None:
    fresh = RateDecision.from_window(LOGIN, allowed=True, remaining=5, seconds_to_reset=-3.0)
    assert fresh.reset_after == 60
    spent = RateDecision.from_window(LOGIN, allowed=False, remaining=0, seconds_to_reset=41.2)
    assert spent.reset_after == 42


@given(st.lists(decisions(), max_size=6))
def test_retry_after_is_never_earlier_than_any_refusal_resets(
    batch: list[RateDecision],
) -> None:
    wait = retry_after(batch)
    refused = [d.reset_after for d in batch if not d.allowed]
    if not refused:
        assert wait is None
    else:
        assert wait is not None
        assert all(wait >= reset for reset in refused)
        assert wait in refused


def test_scaled_down_keeps_at_least_one() -> None:
    assert RatePolicy("login", 20, 60).scaled_down(4) == RatePolicy("login", 5, 60)
    assert RatePolicy("login", 3, 60).scaled_down(8).limit == 1
    with pytest.raises(InvalidInput):
        LOGIN.scaled_down(0)


def test_the_fields_read_as_in_security_md() -> None:
    spent = RateDecision(LOGIN, False, 0, 42)
    assert rate_limit_policy_field([spent]) == '"login";q=5;w=60'
    assert rate_limit_field([spent]) == '"login";r=0;t=42'
    hour = RateDecision(RatePolicy("login_hour", 200, 3600), True, 150, 3000)
    assert rate_limit_field([spent, hour]) == '"login";r=0;t=42, "login_hour";r=150;t=3000'
