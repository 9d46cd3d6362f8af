"""The Ed25519 signing key ring: rotation overlap, persistence, dev flag (JWT-1, CRYPTO-2)."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.testing.clock import FakeClock
from dashcore_security.jwt import DEFAULT_LEEWAY, DEFAULT_LIFETIME
from dashcore_security.signing import KID_PATTERN, SigningKey, SigningKeyError, SigningKeyRing

OVERLAP = DEFAULT_LIFETIME + DEFAULT_LEEWAY


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_new_ring_has_one_active_key_that_never_retires(clock: FakeClock) -> None:
    ring = SigningKeyRing.generate(now=clock.now())
    assert list(ring.keys) == [ring.active_id]
    assert KID_PATTERN.fullmatch(ring.active_id)
    assert ring.active.retire_after is None
    clock.advance(timedelta(days=3650))
    assert ring.verification_key(ring.active_id, clock.now()) is ring.active


def test_rotation_keeps_the_old_key_for_verification_until_retire_after(clock: FakeClock) -> None:
    ring = SigningKeyRing.generate(now=clock.now())
    old = ring.active_id
    rotated_at = clock.advance(hours=1)
    rotated = ring.rotate(overlap=OVERLAP, now=rotated_at)
    assert rotated.active_id != old
    assert rotated.keys[old].retire_after == rotated_at + OVERLAP
    assert rotated.active.retire_after is None

    clock.advance(OVERLAP - timedelta(seconds=1))
    assert rotated.verification_key(old, clock.now()) is not None
    assert {k.id for k in rotated.verification_keys(clock.now())} == {old, rotated.active_id}

    clock.advance(seconds=1)
    assert rotated.verification_key(old, clock.now()) is None
    assert [k.id for k in rotated.verification_keys(clock.now())] == [rotated.active_id]
    assert list(rotated.prune(clock.now()).keys) == [rotated.active_id]


def test_rotating_again_keeps_earlier_retirement_dates_and_drops_retired_keys(
    clock: FakeClock,
) -> None:
    first = SigningKeyRing.generate(now=clock.now())
    second = first.rotate(overlap=OVERLAP, now=clock.advance(minutes=1))
    third = second.rotate(overlap=OVERLAP, now=clock.advance(minutes=1))
    assert third.keys[first.active_id].retire_after == second.keys[first.active_id].retire_after
    assert len(third.keys) == 3
    fourth = third.rotate(overlap=OVERLAP, now=clock.advance(hours=1))
    assert set(fourth.keys) == {third.active_id, fourth.active_id}


def test_a_negative_overlap_is_refused(clock: FakeClock) -> None:
    with pytest.raises(SigningKeyError, match="negative"):
        SigningKeyRing.generate(now=clock.now()).rotate(overlap=timedelta(-1), now=clock.now())


def test_file_round_trip_is_private_and_drops_retired_keys(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "keys" / "signing.json"
    ring = SigningKeyRing.generate(development=True, now=clock.now())
    rotated = ring.rotate(overlap=OVERLAP, now=clock.now())
    rotated.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    loaded = SigningKeyRing.load(path, now=clock.now())
    assert loaded == rotated and loaded.keys[ring.active_id].development
    assert (
        loaded.active.public_key.public_bytes_raw() == rotated.active.public_key.public_bytes_raw()
    )

    later = SigningKeyRing.load(path, now=clock.now() + OVERLAP)
    assert list(later.keys) == [rotated.active_id]


def test_env_value_round_trip_carries_retirement(clock: FakeClock) -> None:
    rotated = SigningKeyRing.generate(now=clock.now()).rotate(overlap=OVERLAP, now=clock.now())
    value = rotated.to_env_value()
    assert value.startswith(f"{rotated.active_id}=")
    again = SigningKeyRing.from_env_value(value, now=clock.now())
    assert again.active_id == rotated.active_id
    assert {k: v.seed for k, v in again.keys.items()} == {
        k: v.seed for k, v in rotated.keys.items()
    }
    assert {k: v.retire_after for k, v in again.keys.items()} == {
        k: v.retire_after for k, v in rotated.keys.items()
    }
    assert not again.development
    assert list(SigningKeyRing.from_env_value(value, now=clock.now() + OVERLAP).keys) == [
        rotated.active_id
    ]


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ",
        "k1",
        "k1=!!!",
        "k1=" + "A" * 10,
        "bad/kid=" + "A" * 43,
        "k1=" + "A" * 43 + "@yesterday",
        "k1=" + "A" * 43 + "@2026-01-01T00:00:00",
        "k1=" + "A" * 43 + ",k1=" + "B" * 43,
        "k1=" + "A" * 43 + "@2030-01-01T00:00:00+00:00",  # the active key cannot retire
    ],
)
def test_bad_env_values_are_refused(value: str) -> None:
    with pytest.raises(SigningKeyError):
        SigningKeyRing.from_env_value(value)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "{}",
        '{"active": "k1", "keys": []}',
        '{"active": "k1", "keys": [{"id": "k1", "key": "AAAA", "created_at": "2026-01-01"}]}',
        '{"active": "k1", "keys": [{"id": "k 1", "key": "' + "A" * 43 + '", '
        '"created_at": "2026-01-01T00:00:00+00:00"}]}',
    ],
)
def test_bad_files_are_refused(tmp_path: Path, document: str) -> None:
    path = tmp_path / "signing.json"
    path.write_text(document)
    with pytest.raises(SigningKeyError):
        SigningKeyRing.load(path)


def test_a_missing_file_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SigningKeyRing.load(tmp_path / "absent.json")


def test_rotation_takes_a_ring_off_its_development_key(clock: FakeClock) -> None:
    ring = SigningKeyRing.generate(development=True, now=clock.now())
    assert ring.development
    rotated = ring.rotate(overlap=OVERLAP, now=clock.now())
    assert not rotated.development
    assert rotated.keys[ring.active_id].development  # it still verifies, marked, until it retires
    assert not SigningKeyRing.generate(now=clock.now()).development


def test_a_file_marked_as_a_whole_development_ring_marks_every_key(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "signing.json"
    SigningKeyRing.generate(now=clock.now()).rotate(overlap=OVERLAP, now=clock.now()).save(path)
    document = json.loads(path.read_text())
    document["development"] = True
    for item in document["keys"]:
        del item["development"]
    path.write_text(json.dumps(document))
    loaded = SigningKeyRing.load(path, now=clock.now())
    assert all(key.development for key in loaded.keys.values())


def test_private_material_stays_out_of_reprs(clock: FakeClock, tmp_path: Path) -> None:
    ring = SigningKeyRing.generate(now=clock.now())
    seed_text = ring.to_env_value().split("=", 1)[1]
    assert seed_text not in repr(ring) and seed_text not in repr(ring.active)
    assert str(ring.active.seed) not in repr(ring.active)
    assert "d" not in ring.active.public_jwk()


@pytest.mark.parametrize("kid", ["", "k" * 65, "a/b", "a\n", "é", "a.b"])
def test_key_ids_follow_the_header_pattern(kid: str, clock: FakeClock) -> None:
    with pytest.raises(SigningKeyError, match="invalid key id"):
        SigningKey(kid, b"\x01" * 32, clock.now())


def test_ring_invariants(clock: FakeClock) -> None:
    key = SigningKey("k1", b"\x01" * 32, clock.now())
    with pytest.raises(SigningKeyError, match="not in the ring"):
        SigningKeyRing("k2", {"k1": key})
    with pytest.raises(SigningKeyError, match="filed under"):
        SigningKeyRing("k2", {"k2": key})
    with pytest.raises(SigningKeyError, match="bytes"):
        SigningKey("k1", b"\x01" * 31, clock.now())
    with pytest.raises(SigningKeyError, match="time zone"):
        SigningKey("k1", b"\x01" * 32, clock.now().replace(tzinfo=None))


@given(st.lists(st.integers(min_value=0, max_value=3600), min_size=1, max_size=6))
def test_after_any_rotations_the_active_key_verifies_and_signs(gaps: list[int]) -> None:
    clock = FakeClock()
    ring = SigningKeyRing.generate(now=clock.now())
    for gap in gaps:
        ring = ring.rotate(overlap=OVERLAP, now=clock.advance(seconds=gap))
        assert ring.verification_key(ring.active_id, clock.now()) is ring.active
        for key in ring.keys.values():
            assert key.id == ring.active_id or key.retire_after is not None
            assert key.retire_after is None or key.retire_after <= clock.now() + OVERLAP


def test_the_ring_file_is_json_with_no_public_key_needed(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "signing.json"
    SigningKeyRing.generate(now=clock.now()).save(path)
    document = json.loads(path.read_text())
    assert set(document) == {"active", "keys"}
    assert set(document["keys"][0]) == {"id", "key", "created_at", "retire_after", "development"}
