"""Access tokens: round trip and the attacks of security.md b.1 (JWT-1, JWT-2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
from datetime import timedelta
from typing import Any
from uuid import UUID

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashcore.domain.errors import AuthenticationFailed, InvalidInput
from dashcore.domain.tokens import AccessClaims
from dashcore.testing.clock import FakeClock
from dashcore_security.jwt import JwtAccessTokens
from dashcore_security.signing import SigningKey, SigningKeyRing

ISSUER = "https://api.dashcore.test"
AUDIENCE = "dashcore-api"
LIFETIME = timedelta(minutes=10)
LEEWAY = timedelta(seconds=30)
USER = UUID("0195f0c1-7d3a-7b2e-9a10-3c4d5e6f7a8b")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ring(clock: FakeClock) -> SigningKeyRing:
    return SigningKeyRing.generate(now=clock.now())


@pytest.fixture
def tokens(ring: SigningKeyRing, clock: FakeClock) -> JwtAccessTokens:
    return JwtAccessTokens(ring, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock)


def claims_at(clock: FakeClock, **changes: Any) -> AccessClaims:
    now = clock.now()
    values: dict[str, Any] = {
        "subject": USER,
        "session_id": "sess_01",
        "token_id": "tok_01",
        "issued_at": now,
        "expires_at": now + LIFETIME,
        "auth_time": now - timedelta(minutes=1),
        "role": "user",
        "amr": ("pwd",),
    }
    return AccessClaims(**{**values, **changes})


def payload_at(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(USER),
        "sid": "sess_01",
        "jti": "tok_01",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "auth_time": now - 60,
        "role": "user",
        "amr": ["pwd"],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not DROP}


DROP = object()


def signed(
    ring: SigningKeyRing,
    payload: dict[str, Any] | bytes,
    header: dict[str, Any] | bytes | None = None,
    *,
    key: SigningKey | None = None,
) -> str:
    """A token signed by ``key`` (our active key by default) over arbitrary segments."""
    key = key or ring.active
    if header is None:
        header = {"alg": "EdDSA", "typ": "at+jwt", "kid": key.id}
    header_bytes = header if isinstance(header, bytes) else compact(header)
    payload_bytes = payload if isinstance(payload, bytes) else compact(payload)
    signing_input = f"{b64(header_bytes)}.{b64(payload_bytes)}"
    return f"{signing_input}.{b64(key.private_key.sign(signing_input.encode()))}"


def rejected(tokens: JwtAccessTokens, token: Any) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        tokens.verify(token)
    assert raised.value.code == "invalid_token"
    assert raised.value.message == "Authentication failed."
    return raised.value


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification never opens a connection (jku/x5u must not be fetched)."""

    def refuse(*_: object) -> None:
        pytest.fail("token verification attempted network I/O")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# -- the happy path ------------------------------------------------------------------------
def test_round_trip(tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing) -> None:
    claims = claims_at(clock, role="admin", amr=("pwd", "otp"))
    token = tokens.issue(claims)
    assert tokens.verify(token) == claims
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active.id}
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(payload) == {
        "iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "auth_time", "role", "amr",
    }  # fmt: skip
    assert payload["nbf"] == payload["iat"] and payload["aud"] == AUDIENCE


def test_instants_travel_at_whole_seconds(tokens: JwtAccessTokens, clock: FakeClock) -> None:
    clock.advance(microseconds=750_000)
    claims = claims_at(clock, expires_at=clock.now() + timedelta(minutes=5))
    verified = tokens.verify(tokens.issue(claims))
    assert verified.issued_at == claims.issued_at.replace(microsecond=0)
    assert verified.expires_at == claims.expires_at.replace(microsecond=0)


def test_pyjwt_reads_our_tokens_with_the_published_key(
    tokens: JwtAccessTokens, clock: FakeClock
) -> None:
    """Interoperability: a standard library verifies our tokens from the JWKS alone."""
    (jwk,) = tokens.jwks()["keys"]  # type: ignore[misc]
    key = pyjwt.PyJWK(jwk)
    token = tokens.issue(claims_at(clock))
    decoded = pyjwt.decode(
        token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )  # fmt: skip
    assert decoded["sub"] == str(USER)


def test_jwks_publishes_only_public_verification_keys(
    ring: SigningKeyRing, clock: FakeClock
) -> None:
    rotated = ring.rotate(overlap=LIFETIME + LEEWAY, now=clock.now())
    tokens = JwtAccessTokens(rotated, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock)
    keys = tokens.jwks()["keys"]
    assert isinstance(keys, list)
    assert {key["kid"] for key in keys} == {ring.active_id, rotated.active_id}
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
    clock.advance(LIFETIME + LEEWAY)
    assert [key["kid"] for key in tokens.jwks()["keys"]] == [rotated.active_id]  # type: ignore[attr-defined]


def test_issue_refuses_a_lifetime_beyond_the_configured_one(
    tokens: JwtAccessTokens, clock: FakeClock
) -> None:
    too_long = claims_at(clock, expires_at=clock.now() + LIFETIME + timedelta(seconds=1))
    with pytest.raises(InvalidInput) as raised:
        tokens.issue(too_long)
    assert raised.value.code == "access_token_lifetime_exceeded"
    assert tokens.lifetime == LIFETIME


# -- signature and algorithm ---------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "Z2FyYmFnZQ"])
def test_alg_none_in_every_spelling(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, alg: str, signature: str
) -> None:
    header = b64(compact({"alg": alg, "typ": "at+jwt", "kid": ring.active_id}))
    rejected(tokens, f"{header}.{b64(compact(payload_at(clock)))}.{signature}")


def test_stripped_signature(tokens: JwtAccessTokens, clock: FakeClock) -> None:
    head, body, _ = tokens.issue(claims_at(clock)).split(".")
    rejected(tokens, f"{head}.{body}.")
    rejected(tokens, f"{head}.{body}")


def _public_key_forms(ring: SigningKeyRing) -> list[bytes]:
    public = ring.active.public_key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = public.public_bytes_raw()
    jwk = json.dumps(ring.active.public_jwk()).encode()
    return [pem, der, raw, jwk]


@pytest.mark.parametrize("form", range(4), ids=["pem", "der", "raw", "jwk"])
@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_hmac_signed_with_our_public_key(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, form: int, alg: str
) -> None:
    secret = _public_key_forms(ring)[form]
    digest = hashlib.sha256 if alg == "HS256" else hashlib.sha512
    header = b64(compact({"alg": alg, "typ": "at+jwt", "kid": ring.active_id}))
    signing_input = f"{header}.{b64(compact(payload_at(clock)))}"
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    rejected(tokens, f"{signing_input}.{b64(mac)}")


def _foreign_keys() -> dict[str, Any]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "HS256": b"k" * 32,
        "HS512": b"k" * 64,
        "RS256": rsa_key,
        "PS256": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES256K": ec.generate_private_key(ec.SECP256K1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
    }


FOREIGN_KEYS = _foreign_keys()


@pytest.mark.parametrize("alg", sorted(FOREIGN_KEYS))
def test_algorithms_outside_the_allowlist(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, alg: str
) -> None:
    token = pyjwt.encode(
        payload_at(clock), FOREIGN_KEYS[alg], algorithm=alg,
        headers={"typ": "at+jwt", "kid": ring.active_id},
    )  # fmt: skip
    rejected(tokens, token)


@pytest.mark.parametrize("alg", ["Ed25519", "eddsa", "EDDSA", "EdDSA "])
def test_near_miss_algorithm_names_signed_by_our_key(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, alg: str
) -> None:
    header = {"alg": alg, "typ": "at+jwt", "kid": ring.active_id}
    rejected(tokens, signed(ring, payload_at(clock), header))


def test_token_from_another_ring_even_with_our_kid(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    other = SigningKeyRing.generate(now=clock.now())
    rejected(tokens, JwtAccessTokens(other, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock).issue(
        claims_at(clock)
    ))  # fmt: skip
    impostor = SigningKey(ring.active_id, b"\x07" * 32, clock.now())
    rejected(tokens, signed(ring, payload_at(clock), key=impostor))


def test_a_tampered_signature(tokens: JwtAccessTokens, clock: FakeClock) -> None:
    head, body, signature = tokens.issue(claims_at(clock)).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    rejected(tokens, f"{head}.{body}.{b64(bytes(raw))}")


# -- kid -----------------------------------------------------------------------------------
KID_ATTACKS = [
    "../../../../dev/null",
    "' OR '1'='1",
    '"; DROP TABLE keys;--',
    "k" * 10_000,
    "k" * 65,
    "clé",
    "ключ",
    "",
    "valid\n",
    "a b",
    None,
    123,
    ["k"],
    {"kid": "k"},
]


@pytest.mark.parametrize("kid", KID_ATTACKS, ids=range(len(KID_ATTACKS)))
def test_kid_injection_never_reaches_the_key_lookup(
    tokens: JwtAccessTokens,
    clock: FakeClock,
    ring: SigningKeyRing,
    monkeypatch: pytest.MonkeyPatch,
    kid: object,
) -> None:
    lookups: list[object] = []
    real_lookup = SigningKeyRing.verification_key

    def spy(self: SigningKeyRing, key_id: str, now: Any) -> SigningKey | None:
        lookups.append(key_id)
        return real_lookup(self, key_id, now)

    monkeypatch.setattr(SigningKeyRing, "verification_key", spy)
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
    rejected(tokens, signed(ring, payload_at(clock), header))
    assert lookups == []


def test_unknown_kid(tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": "s2099unknown"}
    rejected(tokens, signed(ring, payload_at(clock), header))


def test_old_key_verifies_until_retired_then_not(ring: SigningKeyRing, clock: FakeClock) -> None:
    before = JwtAccessTokens(ring, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock, cache_size=0)
    old_token = before.issue(claims_at(clock))
    rotated = ring.rotate(overlap=LIFETIME + LEEWAY, now=clock.now())
    after = JwtAccessTokens(rotated, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock, cache_size=0)
    assert after.verify(old_token).token_id == "tok_01"
    new_token = after.issue(claims_at(clock))
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == (
        rotated.active_id
    )
    clock.advance(LIFETIME + LEEWAY)
    # A token the retired key signs with an exp still in range is refused: the key is gone.
    rejected(after, signed(ring, payload_at(clock)))
    assert after.verify(signed(rotated, payload_at(clock))).session_id == "sess_01"


# -- header members ------------------------------------------------------------------------
def _attacker_jwk() -> dict[str, str]:
    attacker = SigningKeyRing.generate().active.public_jwk()
    return {k: v for k, v in attacker.items() if k in {"kty", "crv", "x"}}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", _attacker_jwk()),
        ("x5c", ["MIIBszCCAVmgAwIBAgIUQ0o="]),
        ("crit", ["unknown-ext"]),
        ("crit", ["b64"]),
        ("b64", False),
        ("cty", "JWT"),
        ("zip", "DEF"),
        ("enc", "A256GCM"),
    ],
)
def test_extra_header_members_are_refused_without_fetching(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, name: str, value: object
) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active_id, name: value}
    rejected(tokens, signed(ring, payload_at(clock), header))


def test_a_token_signed_by_the_key_it_embeds(tokens: JwtAccessTokens, clock: FakeClock) -> None:
    attacker = SigningKeyRing.generate(now=clock.now())
    header = {
        "alg": "EdDSA",
        "typ": "at+jwt",
        "kid": attacker.active_id,
        "jwk": attacker.active.public_jwk(),
    }
    rejected(tokens, signed(attacker, payload_at(clock), header))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT", "AT+JWT", "application/at+jwt", "", None])
def test_typ_other_than_at_jwt(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, typ: object
) -> None:
    header = {"alg": "EdDSA", "typ": typ, "kid": ring.active_id}
    rejected(tokens, signed(ring, payload_at(clock), header))


def test_missing_typ(tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing) -> None:
    rejected(tokens, signed(ring, payload_at(clock), {"alg": "EdDSA", "kid": ring.active_id}))


# -- format --------------------------------------------------------------------------------
def test_jwe_and_json_serialisation(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    head, body, signature = signed(ring, payload_at(clock)).split(".")
    rejected(tokens, f"{head}..{b64(b'iv' * 6)}.{body}.{signature}")  # JWE-shaped, 5 parts
    general = {"payload": body, "signatures": [{"protected": head, "signature": signature}]}
    rejected(tokens, json.dumps(general))
    rejected(tokens, json.dumps({"payload": body, "protected": head, "signature": signature}))
    rejected(tokens, b64(json.dumps(general).encode()))


def test_duplicate_member_names(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    kid = ring.active_id
    header = f'{{"alg":"EdDSA","alg":"none","typ":"at+jwt","kid":"{kid}"}}'.encode()
    rejected(tokens, signed(ring, payload_at(clock), header))
    body = compact(payload_at(clock))[:-1] + b',"sub":"' + str(UUID(int=1)).encode() + b'"}'
    rejected(tokens, signed(ring, body))
    nested = compact(payload_at(clock))[:-1] + b',"x":{"a":1,"a":2}}'
    rejected(tokens, signed(ring, nested))


def _header_text(ring: SigningKeyRing) -> str:
    return f'{{"alg":"EdDSA","typ":"at+jwt","kid":"{ring.active_id}"}}'


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # UTF-8 BOM
        lambda text: text.encode("utf-16"),
        lambda text: text.encode().replace(b"EdDSA", b"EdDSA\xff"),  # not UTF-8
        lambda text: text.encode().replace(b'"typ"', b'"typ\xc0\xaf"'),  # overlong "/"
        lambda text: text.encode().replace(b'"at+jwt"', b'"at+jwt\xed\xa0\x80"'),  # surrogate
        lambda text: text.encode()[:-1] + b',"n":NaN}',
        lambda text: b"[" + text.encode() + b"]",
        lambda text: b'"' + text.encode().replace(b'"', b'\\"') + b'"',
        lambda text: text.encode() + b"{}",
    ],
    ids=["bom", "utf16", "ff", "overlong", "surrogate", "nan", "array", "string", "trailing"],
)
def test_header_must_be_strict_utf8_json(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, mangle: Any
) -> None:
    rejected(tokens, signed(ring, payload_at(clock), mangle(_header_text(ring))))


@pytest.mark.parametrize(
    "body",
    [b"\xef\xbb\xbf{}", b"[]", b"null", b'"text"', b"\xff\xfe", b"[" * 2500 + b"]" * 2500],
    ids=["bom", "array", "null", "string", "binary", "deep"],
)
def test_payload_must_be_a_strict_json_object(
    tokens: JwtAccessTokens, ring: SigningKeyRing, body: bytes
) -> None:
    rejected(tokens, signed(ring, body))


def _token_with_dash_or_underscore(ring: SigningKeyRing, clock: FakeClock) -> str:
    for session in ("??>", "a??>", "ab??>", "~~~", "a~~~", "ab~~~"):
        token = signed(ring, payload_at(clock, sid=session))
        if {"-", "_"} & set(token.split(".")[1]):
            return token
    raise AssertionError("no payload spelled with - or _")


def test_non_canonical_base64url(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    token = _token_with_dash_or_underscore(ring, clock)
    assert tokens.verify(token).session_id in {"??>", "a??>", "ab??>", "~~~", "a~~~", "ab~~~"}
    head, body, signature = token.split(".")
    rejected(tokens, f"{head}.{body.replace('-', '+').replace('_', '/')}.{signature}")
    rejected(tokens, f"{head}{'=' * (-len(head) % 4) or '=='}.{body}.{signature}")
    rejected(tokens, f"{head}.{body}.{signature}==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) ^ 1]  # same bytes, unused bits set
    assert base64.urlsafe_b64decode(signature[:-1] + twin + "==") == base64.urlsafe_b64decode(
        signature + "=="
    )
    rejected(tokens, f"{head}.{body}.{signature[:-1]}{twin}")
    for spaced in (f" {token}", f"{token}\n", f"{head}. {body}.{signature}"):
        rejected(tokens, spaced)


@pytest.mark.parametrize("token", [None, b"abc", 42, "", "..", "a.b", "a.b.c.d", "é.é.é"])
def test_not_a_token(tokens: JwtAccessTokens, token: object) -> None:
    rejected(tokens, token)


def test_oversized_tokens_fail_before_parsing(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parsing(*_: object, **__: object) -> None:
        pytest.fail("an oversized token was decoded")

    big = signed(ring, payload_at(clock, pad="x" * 8 * 1024))
    monkeypatch.setattr(base64, "urlsafe_b64decode", no_parsing)
    monkeypatch.setattr(json, "loads", no_parsing)
    rejected(tokens, big)
    rejected(tokens, "a" * 512 * 1024 + ".b.c")
    rejected(tokens, "e" * 8 * 1024 + "X")


def test_a_token_of_exactly_the_limit_is_parsed(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    token = signed(ring, payload_at(clock))
    padding = 8 * 1024 - len(token)
    body = payload_at(clock, pad="")
    while len(signed(ring, {**body, "pad": "x" * padding})) > 8 * 1024:
        padding -= 1
    at_limit = signed(ring, {**body, "pad": "x" * padding})
    assert len(at_limit) <= 8 * 1024
    assert tokens.verify(at_limit).token_id == "tok_01"


# -- claims --------------------------------------------------------------------------------
NOW = int(FakeClock().now().timestamp())


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": NOW - 31},
        {"exp": NOW - 30},
        {"nbf": NOW + 31},
        {"iat": NOW + 3600, "exp": NOW + 3600 + 600, "nbf": NOW},
        {"exp": DROP},
        {"nbf": DROP},
        {"iat": DROP},
        {"auth_time": DROP},
        {"exp": str(NOW + 600)},
        {"exp": float(NOW + 600)},
        {"exp": 1e20},
        {"exp": 10**20},
        {"exp": -1},
        {"exp": True},
        {"exp": None},
        {"iat": NOW - 600, "exp": NOW + 1},  # lives 601 s > 600 s lifetime
        {"iss": "https://attacker.example"},
        {"iss": ISSUER + "/"},
        {"iss": [ISSUER]},
        {"iss": DROP},
        {"aud": "other-api"},
        {"aud": [AUDIENCE, "other-api"]},
        {"aud": [AUDIENCE]},
        {"aud": DROP},
        {"sub": ""},
        {"sub": "not-a-uuid"},
        {"sub": str(USER).upper()},
        {"sub": USER.hex},
        {"sub": 1},
        {"sub": DROP},
        {"sid": ""},
        {"sid": None},
        {"sid": "x" * 129},
        {"sid": DROP},
        {"jti": ""},
        {"jti": DROP},
        {"role": "root"},
        {"role": ["admin"]},
        {"role": DROP},
        {"amr": "pwd"},
        {"amr": []},
        {"amr": [1]},
        {"amr": DROP},
        {"auth_time": NOW + 5},  # authenticated after the token was issued
        {"auth_time": "yesterday"},
    ],
    ids=lambda changes: ",".join(
        f"{k}={'<missing>' if v is DROP else repr(v)}"[:40] for k, v in changes.items()
    ),
)
def test_claim_matrix(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, changes: dict[str, Any]
) -> None:
    rejected(tokens, signed(ring, payload_at(clock, **changes)))


@pytest.mark.parametrize(
    "changes",
    [
        {"iat": NOW - 629, "nbf": NOW - 629, "exp": NOW - 29, "auth_time": NOW - 700},
        {"nbf": NOW + 29},
        {"iat": NOW + 29, "exp": NOW + 29 + 600},
        {"x": 1},
    ],
)
def test_leeway_and_unknown_claims_are_accepted(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing, changes: dict[str, Any]
) -> None:
    assert tokens.verify(signed(ring, payload_at(clock, **changes))).subject == USER


def test_expiry_is_rechecked_on_every_cached_hit(tokens: JwtAccessTokens, clock: FakeClock) -> None:
    token = tokens.issue(claims_at(clock))
    assert tokens.verify(token).token_id == "tok_01"
    clock.advance(LIFETIME + LEEWAY - timedelta(seconds=1))
    assert tokens.verify(token).token_id == "tok_01"
    clock.advance(seconds=1)
    rejected(tokens, token)
    rejected(tokens, token)


def test_a_rejected_token_is_not_remembered(
    tokens: JwtAccessTokens, clock: FakeClock, ring: SigningKeyRing
) -> None:
    early = signed(ring, payload_at(clock, nbf=NOW + 60, iat=NOW + 60, exp=NOW + 600))
    rejected(tokens, early)
    rejected(tokens, early)
    clock.advance(seconds=60)
    assert tokens.verify(early).token_id == "tok_01"


def test_the_cache_is_bounded(ring: SigningKeyRing, clock: FakeClock) -> None:
    tokens = JwtAccessTokens(ring, ISSUER, AUDIENCE, LIFETIME, LEEWAY, clock, cache_size=2)
    issued = [tokens.issue(claims_at(clock, token_id=f"t{n}")) for n in range(5)]
    for token in issued:
        tokens.verify(token)
    assert len(tokens._cache) == 2
    assert [tokens.verify(token).token_id for token in issued] == [f"t{n}" for n in range(5)]


def test_the_reason_goes_to_the_debug_log_only(
    tokens: JwtAccessTokens, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    head, body, _ = tokens.issue(claims_at(clock)).split(".")
    forged = f"{head}.{body}.{b64(b'x' * 64)}"
    with caplog.at_level(logging.DEBUG, logger="dashcore_security.jwt"):
        error = rejected(tokens, forged)
    assert "signature" not in str(error)
    (record,) = caplog.records
    assert record.getMessage() == "access_token_rejected" and record.reason == "signature"  # type: ignore[attr-defined]
    assert forged not in caplog.text


# -- property: no claim can be changed without the key ------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
CLOCK = FakeClock()
RING = SigningKeyRing.generate(now=CLOCK.now())
TOKENS = JwtAccessTokens(RING, ISSUER, AUDIENCE, LIFETIME, LEEWAY, CLOCK, cache_size=0)
GOOD = TOKENS.issue(claims_at(CLOCK))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(
    claim=st.sampled_from(sorted({*payload_at(CLOCK), "alg", "typ", "kid"}))
    | st.text(min_size=1, max_size=8),
    value=JSON_VALUES,
    in_header=st.booleans(),
)
def test_any_change_without_re_signing_is_rejected(
    claim: str, value: object, in_header: bool
) -> None:
    head, body, signature = GOOD.split(".")
    part = head if in_header else body
    document = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if document.get(claim, DROP) == value and type(document.get(claim)) is type(value):
        value = [value]
    document[claim] = value
    mutated = b64(compact(document))
    token = f"{mutated}.{body}.{signature}" if in_header else f"{head}.{mutated}.{signature}"
    with pytest.raises(AuthenticationFailed):
        TOKENS.verify(token)


# -- the claims value object ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"session_id": ""}, "session_id"),
        ({"token_id": "tab\there"}, "token_id"),
        ({"role": "owner"}, "role"),
        ({"role": ["user"]}, "role"),
        ({"amr": ()}, "amr"),
        ({"amr": ["pwd"]}, "amr"),
        ({"expires_at": FakeClock().now()}, "expires_at"),
        ({"auth_time": FakeClock().now() + timedelta(seconds=1)}, "auth_time"),
        ({"issued_at": FakeClock().now().replace(tzinfo=None)}, "issued_at"),
        ({"subject": str(USER)}, "subject"),
    ],
)
def test_access_claims_invariants(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        claims_at(FakeClock(), **changes)
    assert raised.value.errors[0].field == field
