"""Access tokens as EdDSA-signed JWTs (RFC 9068 profile; security.md JWT-1, JWT-2).

Issued header ``{"alg":"EdDSA","kid":…,"typ":"at+jwt"}``; claims ``iss aud sub sid jti iat nbf
exp auth_time role amr``.

A token is accepted only if every rule holds, checked cheapest first so garbage costs little:
- at most 8 KiB, printable ASCII, exactly three non-empty segments of canonical base64url
  (no padding, no ``+/``, no stray trailing bits): one token has one spelling;
- header and payload are strict UTF-8 JSON objects: no BOM, no duplicate member names, no
  ``NaN``/``Infinity``;
- the header has exactly ``alg``, ``typ`` and ``kid``: ``alg`` is ``EdDSA``, ``typ`` is
  ``at+jwt``, ``kid`` matches ``^[A-Za-z0-9_-]{1,64}$`` before any key look-up and names a
  local key that is not retired. Any other member (``jku``, ``x5u``, ``jwk``, ``x5c``,
  ``crit``, ``b64``…) rejects the token: keys are never taken from, or fetched for, a token;
- the Ed25519 signature verifies (pyjwt's ``EdDSA`` algorithm, the only one registered). The
  segments are not handed to ``PyJWS.decode``: the checks above are stricter than its parser
  (which accepts padding) and it would decode everything again character by character;
- ``iss`` and ``aud`` equal ours exactly. ``aud`` must be a single string: an array is refused
  even when it contains our audience, because we never issue one and a token addressed to
  several services could be replayed from any of them;
- ``sub`` is a canonical UUID; ``iat``/``nbf``/``exp``/``auth_time`` are integers; with the
  leeway, ``exp`` is in the future and ``nbf``/``iat`` are not; the token lives no longer than
  the configured lifetime; ``auth_time`` is not after ``iat``; ``role``/``amr`` are valid.

Verified tokens are cached per process (bounded, oldest first out) so that the request path
pays a dictionary look-up instead of a signature check; every hit re-checks ``exp`` against the
clock. Only tokens that passed every check enter the cache.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID

from jwt import PyJWS

from dashcore.domain.errors import AuthenticationFailed, InvalidInput
from dashcore.domain.json_members import DuplicateMember, unique_members
from dashcore.domain.tokens import AccessClaims
from dashcore.ports.clock import Clock
from dashcore.ports.tokens import AccessTokenIssuer, AccessTokenVerifier
from dashcore_security.signing import KID_PATTERN, SigningKeyRing

__all__ = [
    "ALGORITHM",
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_LEEWAY",
    "DEFAULT_LIFETIME",
    "MAX_TOKEN_LENGTH",
    "TOKEN_TYPE",
    "JwtAccessTokens",
]

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
MAX_TOKEN_LENGTH = 8 * 1024
DEFAULT_LIFETIME = timedelta(minutes=10)
DEFAULT_LEEWAY = timedelta(seconds=30)
DEFAULT_CACHE_SIZE = 10_000

_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_REQUIRED_CLAIMS = frozenset(
    {"iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "auth_time", "role", "amr"}
)
_MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_log = logging.getLogger(__name__)


class _Rejected(Exception):
    """Internal: why a token was refused (debug log only, never to the caller)."""


def _reject(reason: str) -> NoReturn:
    raise _Rejected(reason)


def _segment_bytes(segment: str) -> bytes:
    """Decode one canonical base64url segment; any other spelling is refused."""
    if len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment):
        _reject("segment_not_base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):
        _reject("segment_not_base64url")
    if base64.urlsafe_b64encode(data).rstrip(b"=") != segment.encode("ascii"):
        _reject("segment_not_canonical")
    return data


def _no_constants(name: str) -> NoReturn:
    _reject(f"json_constant_{name}")


def _strict_object(data: bytes, part: str) -> dict[str, Any]:
    """Strict JSON: UTF-8 only (no BOM), unique member names, no NaN/Infinity, an object."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=unique_members, parse_constant=_no_constants)
    except DuplicateMember:
        _reject("duplicate_member")
    except (ValueError, RecursionError):
        _reject(f"{part}_not_json")
    if not isinstance(value, dict):
        _reject(f"{part}_not_object")
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> int:
    value = claims[name]
    if type(value) is not int or not 0 <= value <= _MAX_NUMERIC_DATE:
        _reject(f"{name}_not_numeric_date")
    return value


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _timestamp(instant: datetime) -> int:
    return int(instant.timestamp())


class JwtAccessTokens(AccessTokenIssuer, AccessTokenVerifier):
    """Issues and verifies this API's access tokens with a local Ed25519 key ring."""

    def __init__(
        self,
        ring: SigningKeyRing,
        issuer: str,
        audience: str,
        lifetime: timedelta,
        leeway: timedelta,
        clock: Clock,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must be non-empty")
        if lifetime <= timedelta(0) or leeway < timedelta(0) or cache_size < 0:
            raise ValueError("lifetime must be positive; leeway and cache_size not negative")
        self._ring = ring
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime
        self._lifetime_seconds = lifetime.total_seconds()
        self._leeway = leeway.total_seconds()
        self._clock = clock
        self._jws = PyJWS(algorithms=[ALGORITHM])
        self._algorithm = self._jws.get_algorithm_by_name(ALGORITHM)
        self._cache: dict[str, tuple[AccessClaims, float]] = {}
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    # -- issuing ---------------------------------------------------------------------------
    def issue(self, claims: AccessClaims) -> str:
        """Sign ``claims`` with the active key. Instants are truncated to whole seconds."""
        if claims.expires_at - claims.issued_at > self._lifetime:
            raise InvalidInput(
                "The token would outlive the access-token lifetime.",
                code="access_token_lifetime_exceeded",
                field="expires_at",
            )
        issued_at = _timestamp(claims.issued_at)
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(claims.subject),
            "sid": claims.session_id,
            "jti": claims.token_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": _timestamp(claims.expires_at),
            "auth_time": _timestamp(claims.auth_time),
            "role": claims.role,
            "amr": list(claims.amr),
        }
        key = self._ring.active
        return self._jws.encode(
            json.dumps(payload, separators=(",", ":")).encode("utf-8"),
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.id, "typ": TOKEN_TYPE},
        )

    # -- verifying -------------------------------------------------------------------------
    def verify(self, token: str) -> AccessClaims:
        try:
            if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
                _reject("not_a_token_or_too_long")
            current = self._clock.now()
            now = current.timestamp()
            hit = self._cache.get(token)
            if hit is not None:
                if now < hit[1] + self._leeway:
                    return hit[0]
                self._forget(token)
                _reject("expired")
            claims, expires = self._verify_uncached(token, current)
        except _Rejected as rejected:
            _log.debug("access_token_rejected", extra={"reason": str(rejected)})
            raise AuthenticationFailed(code="invalid_token") from None
        self._remember(token, claims, expires)
        return claims

    def jwks(self) -> dict[str, object]:
        now = self._clock.now()
        return {"keys": [key.public_jwk() for key in self._ring.verification_keys(now)]}

    def _verify_uncached(self, token: str, current: datetime) -> tuple[AccessClaims, int]:
        if not token.isascii():
            _reject("not_ascii")
        segments = token.split(".")
        if len(segments) != 3:
            _reject("not_compact_jws")
        header_bytes, payload_bytes, signature = (_segment_bytes(s) for s in segments)
        header = _strict_object(header_bytes, "header")
        if header.keys() != _HEADER_MEMBERS:
            _reject("header_members")
        if header["alg"] != ALGORITHM or header["typ"] != TOKEN_TYPE:
            _reject("alg_or_typ")
        kid = header["kid"]
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            _reject("kid_format")
        key = self._ring.verification_key(kid, current)
        if key is None:
            _reject("kid_unknown_or_retired")
        signing_input = token[: len(segments[0]) + 1 + len(segments[1])].encode("ascii")
        if not self._algorithm.verify(signing_input, key.public_key, signature):
            _reject("signature")
        return self._claims(_strict_object(payload_bytes, "payload"), current.timestamp())

    def _claims(self, claims: dict[str, Any], now: float) -> tuple[AccessClaims, int]:
        if not claims.keys() >= _REQUIRED_CLAIMS:
            _reject("claim_missing")
        if claims["iss"] != self._issuer:
            _reject("iss")
        if not isinstance(claims["aud"], str) or claims["aud"] != self._audience:
            _reject("aud")
        issued, not_before, expires, auth_time = (
            _numeric_date(claims, name) for name in ("iat", "nbf", "exp", "auth_time")
        )
        if now >= expires + self._leeway:
            _reject("expired")
        if not_before > now + self._leeway or issued > now + self._leeway:
            _reject("not_yet_valid")
        if expires - issued > self._lifetime_seconds:
            _reject("lifetime_exceeded")
        subject, amr = claims["sub"], claims["amr"]
        if not isinstance(amr, list):
            _reject("amr")
        try:
            if not isinstance(subject, str) or str(UUID(subject)) != subject:
                _reject("sub")
            access = AccessClaims(
                subject=UUID(subject),
                session_id=claims["sid"],
                token_id=claims["jti"],
                issued_at=_instant(issued),
                expires_at=_instant(expires),
                auth_time=_instant(auth_time),
                role=claims["role"],
                amr=tuple(amr),
            )
        except (ValueError, TypeError, InvalidInput):
            _reject("claim_invalid")
        return access, expires

    # -- cache -----------------------------------------------------------------------------
    def _remember(self, token: str, claims: AccessClaims, expires: int) -> None:
        if self._cache_size == 0:
            return
        with self._cache_lock:
            while len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[token] = (claims, float(expires))

    def _forget(self, token: str) -> None:
        with self._cache_lock:
            self._cache.pop(token, None)
