"""PyotpTotp: RFC 6238/4226 vectors, secrets, provisioning URIs (security.md TOTP-1)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import IntegrityError
from dashcore.domain.mfa import TotpPolicy, parse_one_time_code
from dashcore_security.totp import SECRET_LENGTH, PyotpTotp, TotpDigest

POLICY = TotpPolicy()
TOTP = PyotpTotp()

# RFC 6238 Appendix B: the seeds are ASCII strings of 20, 32 and 64 bytes.
RFC6238_SEEDS: dict[TotpDigest, bytes] = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_DIGESTS: tuple[TotpDigest, ...] = ("sha1", "sha256", "sha512")
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
# RFC 4226 Appendix D: six-digit HOTP values of counters 0..9 for the SHA-1 seed.
RFC4226_CODES = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]
BASE32 = re.compile(r"[A-Z2-7]+")


def b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode("ascii")


@pytest.mark.parametrize(
    ("digest", "unix_time", "expected"),
    [
        (digest, unix_time, expected)
        for unix_time, *codes in RFC6238_VECTORS
        for digest, expected in zip(RFC6238_DIGESTS, codes, strict=True)
    ],
)
def test_rfc6238_appendix_b_vectors(digest: TotpDigest, unix_time: int, expected: str) -> None:
    step = POLICY.step_at(datetime.fromtimestamp(unix_time, UTC))
    totp = PyotpTotp(digits=8, digest=digest)
    assert totp.code_at(b32(RFC6238_SEEDS[digest]), step) == expected


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_CODES)))
def test_defaults_give_six_digit_sha1_hotp_of_the_step(counter: int, expected: str) -> None:
    assert TOTP.code_at(b32(RFC6238_SEEDS["sha1"]), counter) == expected


def test_a_code_keeps_its_leading_zeros() -> None:
    step = POLICY.step_at(datetime.fromtimestamp(1111111109, UTC))
    assert PyotpTotp(digits=8).code_at(b32(RFC6238_SEEDS["sha1"]), step) == "07081804"
    assert PyotpTotp(digits=7).code_at(b32(RFC6238_SEEDS["sha1"]), step) == "7081804"


@given(st.integers(min_value=0, max_value=2**40))
def test_every_code_is_one_the_domain_accepts_as_typed(step: int) -> None:
    code = TOTP.code_at(b32(RFC6238_SEEDS["sha1"]), step)
    assert parse_one_time_code(code) == code


def test_codes_change_with_the_step_and_the_secret() -> None:
    seed = b32(RFC6238_SEEDS["sha1"])
    other = TOTP.new_secret()
    codes = {TOTP.code_at(seed, step) for step in range(50)}
    assert len(codes) > 45
    assert [TOTP.code_at(seed, s) for s in range(50)] != [TOTP.code_at(other, s) for s in range(50)]


def test_a_negative_step_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        TOTP.code_at(TOTP.new_secret(), -1)


# ------------------------------------------------------------------------------------ secrets


def test_a_new_secret_is_160_bits_of_unpadded_base32() -> None:
    secret = TOTP.new_secret()
    assert len(secret) == SECRET_LENGTH == 32
    assert BASE32.fullmatch(secret)
    assert len(base64.b32decode(secret)) == 20


def test_new_secrets_look_random() -> None:
    secrets = [TOTP.new_secret() for _ in range(400)]
    assert len(set(secrets)) == len(secrets)
    text = "".join(secrets)
    # 12,800 characters over 32 symbols: about 400 each; a missing symbol means a broken source.
    assert set(text) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    bits = "".join(f"{byte:08b}" for secret in secrets for byte in base64.b32decode(secret))
    assert 0.47 < bits.count("1") / len(bits) < 0.53


def _code(secret: str) -> str:
    return TOTP.code_at(secret, 1)


def _uri(secret: str) -> str:
    return TOTP.provisioning_uri(secret, account="a@example.org", issuer="Dashcore")


@pytest.mark.parametrize("operation", [_code, _uri])
@pytest.mark.parametrize(
    "stored",
    [
        "not base32 at all!",
        "GEZDGNBVGY3TQOJQ",  # 80 bits: below the 112-bit floor
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",  # a digit outside the base32 alphabet
    ],
)
def test_an_unusable_stored_secret_is_an_integrity_error_that_does_not_leak(
    operation: Callable[[str], str], stored: str
) -> None:
    with pytest.raises(IntegrityError) as caught:
        operation(stored)
    assert caught.value.code == "totp_secret_unusable"
    assert stored not in str(caught.value)
    assert stored not in repr(caught.value)


def test_the_adapter_holds_no_secret_and_its_repr_shows_parameters_only() -> None:
    totp = PyotpTotp()
    secret = totp.new_secret()
    totp.code_at(secret, 1)
    totp.provisioning_uri(secret, account="a@example.org", issuer="Dashcore")
    assert repr(totp) == "PyotpTotp(digits=6, digest='sha1', step=30s)"
    assert secret not in repr(vars(totp))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"digits": 5}, "digits"),
        ({"digits": 9}, "digits"),
        ({"digest": "md5"}, "digest"),
        ({"step": timedelta(0)}, "step"),
        ({"step": timedelta(seconds=121)}, "step"),
        ({"step": timedelta(seconds=30.5)}, "step"),
    ],
)
def test_parameters_outside_rfc_6238_practice_are_refused(
    kwargs: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        PyotpTotp(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- provisioning URI


def test_provisioning_uri_names_issuer_and_account_and_carries_the_secret() -> None:
    secret = TOTP.new_secret()
    uri = TOTP.provisioning_uri(secret, account="mike@example.org", issuer="Dashcore")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Dashcore:mike@example.org"
    assert parse_qs(parts.query, strict_parsing=True) == {
        "secret": [secret],
        "issuer": ["Dashcore"],
    }
    assert "=" not in secret and "%3D" not in uri


def test_provisioning_uri_states_non_default_parameters() -> None:
    totp = PyotpTotp(digits=8, digest="sha256", step=timedelta(seconds=60))
    uri = totp.provisioning_uri(totp.new_secret(), account="a@example.org", issuer="Dashcore")
    query = parse_qs(urlsplit(uri).query)
    assert (query["algorithm"], query["digits"], query["period"]) == (["SHA256"], ["8"], ["60"])


def test_provisioning_uri_encodes_spaces_and_reserved_characters() -> None:
    uri = TOTP.provisioning_uri(
        TOTP.new_secret(), account="o'neil+tag:x@example.org", issuer="Dash Core & Co"
    )
    label = urlsplit(uri).path
    assert " " not in uri and "+" not in uri
    assert label == "/Dash%20Core%20%26%20Co:o%27neil%2Btag%3Ax%40example.org"
    assert parse_qs(urlsplit(uri).query)["issuer"] == ["Dash Core & Co"]


@given(
    account=st.text(min_size=1, max_size=40),
    issuer=st.text(min_size=1, max_size=20).filter(lambda s: ":" not in s),
    step=st.integers(min_value=0, max_value=2**34),
)
def test_an_app_scanning_the_uri_gets_the_same_entry_and_codes(
    account: str, issuer: str, step: int
) -> None:
    secret = TOTP.new_secret()
    scanned = pyotp.parse_uri(TOTP.provisioning_uri(secret, account=account, issuer=issuer))
    assert isinstance(scanned, pyotp.TOTP)
    assert (scanned.name, scanned.issuer, scanned.secret) == (account, issuer, secret)
    assert scanned.generate_otp(step) == TOTP.code_at(secret, step)


@pytest.mark.parametrize(
    ("account", "issuer", "reason"),
    [
        ("", "Dashcore", "needs an account and an issuer"),
        ("a@example.org", "", "needs an account and an issuer"),
        ("a@example.org", "Dash:core", "cannot contain ':'"),
    ],
)
def test_provisioning_uri_refuses_an_empty_name_or_a_colon_in_the_issuer(
    account: str, issuer: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        TOTP.provisioning_uri(TOTP.new_secret(), account=account, issuer=issuer)
