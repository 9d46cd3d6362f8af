"""AES-256-GCM vault and key ring (security.md CRYPTO-1, CRYPTO-2)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import DecryptionFailed
from dashcore.domain.secrets import SecretContext
from dashcore_security import AesGcmVault, KeyRing, KeyRingError, VaultKey
from dashcore_security.files import b64url

HERE = SecretContext("sealed_secrets", "row-1", "user:1/totp_seed")
RING = KeyRing.generate()
VAULT = AesGcmVault(RING)


@given(st.binary(max_size=512))
def test_round_trip_for_arbitrary_bytes(plaintext: bytes) -> None:
    assert VAULT.open(VAULT.seal(plaintext, HERE), HERE) == plaintext


@given(st.data())
def test_flipping_any_bit_fails_closed(data: st.DataObject) -> None:
    sealed = bytearray(VAULT.seal(b"provider refresh token", HERE))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionFailed):
        VAULT.open(bytes(sealed), HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        SecretContext("sealed_secrets", "row-2", "user:1/totp_seed"),
        SecretContext("sealed_secrets", "row-1", "user:2/totp_seed"),
        SecretContext("other_table", "row-1", "user:1/totp_seed"),
    ],
)
def test_a_ciphertext_moved_to_another_owner_does_not_open(elsewhere: SecretContext) -> None:
    with pytest.raises(DecryptionFailed):
        VAULT.open(VAULT.seal(b"seed", HERE), elsewhere)


def test_every_seal_uses_a_fresh_nonce_and_names_its_key() -> None:
    sealed = {VAULT.seal(b"same", HERE) for _ in range(1000)}
    assert len(sealed) == 1000
    assert {VAULT.key_id_of(c) for c in sealed} == {RING.active_id}


def test_rotation_keeps_old_keys_for_decryption_only() -> None:
    old = VAULT.seal(b"old secret", HERE)
    rotated = RING.rotate()
    vault = AesGcmVault(rotated)
    assert vault.open(old, HERE) == b"old secret"
    assert vault.key_id_of(vault.seal(b"new", HERE)) == rotated.active_id != RING.active_id
    without_old = AesGcmVault(rotated.without(RING.active_id))
    with pytest.raises(DecryptionFailed, match="not in the ring"):
        without_old.open(old, HERE)


def test_the_active_key_cannot_be_removed() -> None:
    with pytest.raises(KeyRingError, match="active"):
        RING.without(RING.active_id)


def test_garbage_is_not_a_ciphertext() -> None:
    for garbage in (b"", b"v1", b"v2" + bytes(40), b"v1\x02ab" + bytes(5)):
        with pytest.raises(DecryptionFailed):
            VAULT.open(garbage, HERE)


def test_key_file_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vault.json"
    first = KeyRing.generate(development=True)
    ring = first.rotate()
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = KeyRing.load(path)
    assert loaded.active_id == ring.active_id
    assert {k: v.material for k, v in loaded.keys.items()} == {
        k: v.material for k, v in ring.keys.items()
    }
    assert loaded.development_key_ids == (first.active_id,)


def test_rotation_and_removal_take_a_ring_out_of_development() -> None:
    first = KeyRing.generate(development=True)
    assert first.development
    rotated = first.rotate()
    assert not rotated.development and rotated.development_key_ids == (first.active_id,)
    assert rotated.without(first.active_id).development_key_ids == ()


def test_a_file_marked_as_a_whole_development_ring_marks_every_key(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    KeyRing.generate().rotate().save(path)
    document = json.loads(path.read_text())
    document["development"] = True
    for item in document["keys"]:
        del item["development"]
    path.write_text(json.dumps(document))
    loaded = KeyRing.load(path)
    assert loaded.development and len(loaded.development_key_ids) == 2


def test_environment_value_round_trip_and_validation() -> None:
    ring = KeyRing.generate().rotate()
    again = KeyRing.from_env_value(ring.to_env_value())
    assert again.active_id == ring.active_id and set(again.keys) == set(ring.keys)
    for bad in ("", "k1", "k1=c2hvcnQ", "k1=!!!"):
        with pytest.raises(KeyRingError):
            KeyRing.from_env_value(bad)


def test_a_key_id_given_twice_is_refused() -> None:
    """A rotation mistyped as ``k1=new,k1=old`` would seal under one and lose the other."""
    with pytest.raises(KeyRingError, match="given twice"):
        KeyRing.from_env_value(f"k1={'A' * 43},k1={'B' * 43}")


def test_key_material_never_shows_in_repr() -> None:
    ring = KeyRing.generate()
    assert ring.active.material.hex() not in repr(ring) + repr(ring.active)


@pytest.mark.parametrize("kid", ["a b", "a=b", "", "k" * 65, "k\x07"])
def test_a_key_id_is_printable_ascii_without_space_comma_or_equals(kid: str) -> None:
    with pytest.raises(KeyRingError, match="invalid key id"):
        VaultKey(kid, bytes(32), datetime.now(UTC))


def test_a_key_that_is_not_base64url_is_named() -> None:
    with pytest.raises(KeyRingError, match="key 'second' is not valid base64url"):
        KeyRing.from_env_value(f"first={b64url(bytes(32))},second=not*base64")
