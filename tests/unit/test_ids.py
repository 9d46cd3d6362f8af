from datetime import UTC, datetime

from dashcore_system import SystemClock, Uuid7Generator


def test_uuid7_are_version_7_rfc_variant_and_strictly_increasing() -> None:
    ids = Uuid7Generator()
    made = [ids.new_id() for _ in range(20_000)]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in made)
    assert made == sorted(made) and len(set(made)) == len(made)


def test_uuid7_embeds_the_current_millisecond() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = Uuid7Generator().new_id()
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= made.int >> 80 <= after


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
