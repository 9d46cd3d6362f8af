"""The access-token signing key ring: Ed25519 keys, one active (security.md JWT-1, CRYPTO-2).

The active key signs every new token. After a rotation the previous key stops signing but keeps
verifying until its ``retire_after`` instant (rotation time + the longest access-token lifetime
+ leeway), so no token it signed is cut short; from then on it is refused, and loading or
pruning the ring drops it. Key ids match ``^[A-Za-z0-9_-]{1,64}$`` (they travel in token
headers and the JWKS).

Sources (the entrypoint picks one):
- a JSON file (``keys/signing.json``, mode 0600) that ``dashcore keys signing-*`` edit;
- an environment value ``kid=seed[@retire_after],kid=seed@retire_after`` whose first entry is
  the active key; ``seed`` is the 32-byte Ed25519 private seed in base64url, ``retire_after``
  an ISO 8601 instant with its offset.

Seeds come from ``secrets.token_bytes`` (RAND-1). Each key records whether it was made for
development (``generate(development=True)``, as the embedded default's first start does);
production refuses to start while such a key signs. ``rotate`` always adds a real key, and the
development key it replaces retires with the overlap like any other.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from dashcore_security.files import b64url, from_b64url, write_private_json

__all__ = ["KID_PATTERN", "SEED_BYTES", "SigningKey", "SigningKeyError", "SigningKeyRing"]

SEED_BYTES = 32
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Use with ``fullmatch``: ``$`` would accept a trailing newline."""


class SigningKeyError(ValueError):
    """The signing key ring is missing, malformed or would be left unusable by a change."""


def _unb64(text: str, kid: str) -> bytes:
    try:
        return from_b64url(text)
    except ValueError as exc:
        raise SigningKeyError(f"key {kid!r} is not valid base64url") from exc


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SigningKeyError(f"{what} must carry a time zone")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key. ``retire_after`` is ``None`` for a key with no end date (the active one)."""

    id: str
    seed: bytes = field(repr=False)
    created_at: datetime
    retire_after: datetime | None = None
    development: bool = False
    private_key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    public_key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not KID_PATTERN.fullmatch(self.id):
            raise SigningKeyError(f"invalid key id {self.id!r}: use 1-64 of A-Z a-z 0-9 _ -")
        if len(self.seed) != SEED_BYTES:
            raise SigningKeyError(f"key {self.id} must be {SEED_BYTES} bytes, not {len(self.seed)}")
        object.__setattr__(self, "created_at", _aware(self.created_at, "created_at"))
        if self.retire_after is not None:
            object.__setattr__(self, "retire_after", _aware(self.retire_after, "retire_after"))
        private_key = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "private_key", private_key)
        object.__setattr__(self, "public_key", private_key.public_key())

    def is_retired(self, now: datetime) -> bool:
        return self.retire_after is not None and now >= self.retire_after

    def public_jwk(self) -> dict[str, str]:
        """The public half as an RFC 8037 OKP JWK."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_key.public_bytes_raw()),
            "kid": self.id,
            "use": "sig",
            "alg": "EdDSA",
        }


@dataclass(frozen=True, slots=True)
class SigningKeyRing:
    active_id: str
    keys: Mapping[str, SigningKey]

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise SigningKeyError(f"active key {self.active_id} is not in the ring")
        if self.active.retire_after is not None:
            raise SigningKeyError(f"active key {self.active_id} cannot have a retirement time")
        for kid, key in self.keys.items():
            if kid != key.id:
                raise SigningKeyError(f"key {key.id} is filed under {kid}")

    def __repr__(self) -> str:
        return f"SigningKeyRing(active_id={self.active_id!r}, key_ids={sorted(self.keys)!r})"

    @property
    def active(self) -> SigningKey:
        return self.keys[self.active_id]

    @property
    def development(self) -> bool:
        """True while the key that signs new tokens was made for development."""
        return self.active.development

    def verification_key(self, kid: str, now: datetime) -> SigningKey | None:
        """The key that may verify a token naming ``kid`` now; ``None`` if unknown or retired."""
        key = self.keys.get(kid)
        if key is None or key.is_retired(now):
            return None
        return key

    def verification_keys(self, now: datetime) -> tuple[SigningKey, ...]:
        return tuple(key for key in self.keys.values() if not key.is_retired(now))

    # -- changes (each returns a new ring) ----------------------------------------------
    @classmethod
    def generate(cls, *, development: bool = False, now: datetime | None = None) -> SigningKeyRing:
        key = _new_key(now or datetime.now(UTC), development=development)
        return cls(key.id, {key.id: key})

    def rotate(self, *, overlap: timedelta, now: datetime | None = None) -> SigningKeyRing:
        """Make a fresh (never development) key active. The old active key verifies for
        ``overlap`` more (pass the access-token lifetime + leeway), then retires; already
        retiring keys keep their date. Retired keys are dropped.
        """
        if overlap < timedelta(0):
            raise SigningKeyError("the overlap cannot be negative")
        instant = _aware(now or datetime.now(UTC), "now")
        key = _new_key(instant)
        previous = replace(self.active, retire_after=instant + overlap)
        kept = {**self.prune(instant).keys, previous.id: previous, key.id: key}
        return replace(self, active_id=key.id, keys=kept)

    def prune(self, now: datetime) -> SigningKeyRing:
        """Drop every key whose ``retire_after`` has passed (the active key never retires)."""
        kept = {kid: key for kid, key in self.keys.items() if not key.is_retired(now)}
        return self if len(kept) == len(self.keys) else replace(self, keys=kept)

    # -- persistence -----------------------------------------------------------------
    @classmethod
    def from_env_value(cls, value: str, *, now: datetime | None = None) -> SigningKeyRing:
        entries = [item.strip() for item in value.split(",") if item.strip()]
        if not entries:
            raise SigningKeyError("no keys given")
        keys: dict[str, SigningKey] = {}
        for entry in entries:
            kid, sep, rest = entry.partition("=")
            if not sep:
                raise SigningKeyError("each key must be written kid=base64url[@retire_after]")
            if kid in keys:
                raise SigningKeyError(f"key {kid!r} is given twice")
            seed, at, retire = rest.partition("@")
            keys[kid] = SigningKey(
                kid,
                _unb64(seed, kid),
                datetime.fromtimestamp(0, UTC),
                _parse_instant(retire) if at else None,
            )
        ring = cls(entries[0].partition("=")[0], keys)
        return ring.prune(now or datetime.now(UTC))

    def to_env_value(self) -> str:
        ordered = [self.active, *(k for k in self.keys.values() if k.id != self.active_id)]
        return ",".join(
            f"{key.id}={b64url(key.seed)}"
            + (f"@{key.retire_after.isoformat()}" if key.retire_after else "")
            for key in ordered
        )

    @classmethod
    def load(cls, path: Path, *, now: datetime | None = None) -> SigningKeyRing:
        """Read ``path``; keys retired by ``now`` are dropped. A file written before keys
        carried their own mark has one for the whole ring; every key of such a ring counts as
        a development key."""
        try:
            document: dict[str, Any] = json.loads(path.read_text("utf-8"))
            whole_ring = bool(document.get("development", False))
            keys = {
                item["id"]: SigningKey(
                    item["id"],
                    _unb64(item["key"], item["id"]),
                    datetime.fromisoformat(item["created_at"]),
                    _parse_instant(item["retire_after"]) if item.get("retire_after") else None,
                    bool(item.get("development", whole_ring)),
                )
                for item in document["keys"]
            }
            ring = cls(document["active"], keys)
        except FileNotFoundError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningKeyError(f"{path} is not a valid signing key ring: {exc}") from exc
        return ring.prune(now or datetime.now(UTC))

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (a crash leaves the old file, never half a ring)."""
        document = {
            "active": self.active_id,
            "keys": [
                {
                    "id": k.id,
                    "key": b64url(k.seed),
                    "created_at": k.created_at.isoformat(),
                    "retire_after": k.retire_after.isoformat() if k.retire_after else None,
                    "development": k.development,
                }
                for k in self.keys.values()
            ],
        }
        write_private_json(path, document)


def _parse_instant(text: str) -> datetime:
    try:
        return _aware(datetime.fromisoformat(text), "retire_after")
    except ValueError as exc:
        raise SigningKeyError(f"retire_after {text!r} is not an ISO 8601 instant") from exc


def _new_key(now: datetime, *, development: bool = False) -> SigningKey:
    kid = f"s{now.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
    return SigningKey(kid, secrets.token_bytes(SEED_BYTES), now, development=development)
