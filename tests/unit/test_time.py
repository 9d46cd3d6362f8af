from datetime import UTC, datetime, timedelta, timezone

import pytest

from dashcore.domain.errors import InvalidInput
from dashcore.domain.time import ensure_utc, parse_utc, seconds_until


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput):
        ensure_utc(datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001


def test_aware_datetimes_are_converted_to_utc() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    converted = ensure_utc(datetime(2026, 1, 1, 6, 0, tzinfo=kolkata))
    assert converted == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert converted.tzinfo is UTC


def test_parse_requires_an_offset() -> None:
    assert parse_utc("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        parse_utc("2026-03-01T10:00:00")
    with pytest.raises(InvalidInput):
        parse_utc("yesterday")


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_instant_outside_the_years_1_to_9999_in_utc_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_utc(text, field="executed_at")
    assert [error.field for error in refused.value.errors] == ["executed_at"]
    with pytest.raises(InvalidInput):
        ensure_utc(datetime.fromisoformat(text))


def test_seconds_until_rounds_up_and_is_never_zero() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert seconds_until(now + timedelta(seconds=899, microseconds=1), now) == 900
    assert seconds_until(now + timedelta(seconds=900), now) == 900
    assert seconds_until(now + timedelta(microseconds=1), now) == 1
    assert seconds_until(now, now) == 1, "a lock ending now still answers a positive wait"
