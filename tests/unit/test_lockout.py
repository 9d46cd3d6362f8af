"""LOCK-1: the per-account lockout schedule, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.users import LockoutPolicy, LoginThrottle

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = LockoutPolicy()


def fail(throttle: LoginThrottle, at: datetime) -> LoginThrottle:
    return throttle.after_failure(at, POLICY)


def test_four_failures_do_not_lock_and_the_fifth_locks_for_one_minute() -> None:
    throttle = LoginThrottle()
    for second in range(4):
        throttle = fail(throttle, T0 + timedelta(seconds=second))
        assert not throttle.is_locked(T0 + timedelta(seconds=second))
    throttle = fail(throttle, T0 + timedelta(seconds=4))
    assert throttle.is_locked(T0 + timedelta(seconds=4))
    assert throttle.locked_until == T0 + timedelta(seconds=64)
    assert not throttle.is_locked(T0 + timedelta(seconds=65))


def test_failures_while_locked_do_not_count() -> None:
    """KEYCLOAK-5420: attempts during a lock must not extend it or grow the counter."""
    throttle = LoginThrottle()
    for second in range(5):
        throttle = fail(throttle, T0 + timedelta(seconds=second))
    locked = throttle
    for second in range(5, 60):
        throttle = fail(throttle, T0 + timedelta(seconds=second))
    assert throttle == locked


def test_each_further_failure_doubles_the_lock_up_to_fifteen_minutes() -> None:
    throttle, now, periods = LoginThrottle(), T0, []
    for _ in range(12):
        throttle = fail(throttle, now)
        if throttle.locked_until is not None:
            periods.append(throttle.locked_until - now)
            now = throttle.locked_until
        now += timedelta(seconds=1)
    assert [p.total_seconds() / 60 for p in periods] == [1, 2, 4, 8, 15, 15, 15, 15]


def test_twelve_quiet_hours_forget_the_count() -> None:
    throttle = fail(fail(fail(LoginThrottle(), T0), T0), T0)
    later = T0 + timedelta(hours=12, seconds=1)
    throttle = fail(throttle, later)
    assert throttle.failures == 1


def test_a_hundred_failures_switch_password_login_off_for_good() -> None:
    throttle, now = LoginThrottle(), T0
    for _ in range(100):
        throttle = fail(throttle, now)
        now = max(now, throttle.locked_until or now) + timedelta(seconds=1)
    assert throttle.password_login_disabled
    assert throttle.is_locked(now + timedelta(days=365))


@given(failures=st.integers(min_value=0, max_value=10**9))
def test_the_lock_period_is_bounded_for_any_count(failures: int) -> None:
    """No overflow for huge counts (Keycloak issue 30939)."""
    period = POLICY.lock_period(failures)
    assert timedelta(0) <= period <= POLICY.max_lock
    assert (period == timedelta(0)) == (failures < POLICY.threshold)


@given(st.lists(st.integers(min_value=0, max_value=3600), max_size=60))
def test_the_counter_never_exceeds_the_number_of_counted_attempts(gaps: list[int]) -> None:
    throttle, now, counted = LoginThrottle(), T0, 0
    for gap in gaps:
        now += timedelta(seconds=gap)
        before = throttle
        throttle = fail(throttle, now)
        if throttle != before:
            counted += 1
        assert throttle.failures <= counted
        assert throttle.locked_until is None or throttle.locked_until > now - POLICY.max_lock
