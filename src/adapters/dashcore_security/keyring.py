"""The vault key ring: one active key that seals, any number of decrypt-only keys.

Sources (the entrypoint picks one):
- a JSON file (``keys/vault.json``, mode 0600) that ``dashcore keys generate|rotate|remove`` edit;
- an environment value ``kid=base64url,kid=base64url`` whose first entry is the active key.

Keys are 32 random bytes (AES-256). Each key records whether it was made for development (by
``generate --development`` or the embedded default's first start); production refuses to start
while such a key is the active one. ``rotate`` always adds a real key, so rotate → reencrypt →
remove takes a ring out of development without a flag.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashcore_security.files import b64url, from_b64url, write_private_json

__all__ = ["KEY_BYTES", "KeyRing", "KeyRingError", "VaultKey"]

KEY_BYTES = 32


class KeyRingError(ValueError):
    """The key ring is missing, malformed or would be left unusable by a change."""


def _unb64(text: str, kid: str) -> bytes:
    try:
        return from_b64url(text)
    except ValueError as exc:
        raise KeyRingError(f"key {kid!r} is not valid base64url") from exc


@dataclass(frozen=True, slots=True)
class VaultKey:
    id: str
    material: bytes = field(repr=False)
    created_at: datetime
    development: bool = False

    def __post_init__(self) -> None:
        kid = self.id
        printable = 0 < len(kid) <= 64 and kid.isascii() and kid.isprintable()
        if not printable or set(kid) & set(" ,="):
            raise KeyRingError(
                f"invalid key id {kid!r}: 1-64 printable ASCII characters, no space, comma or ="
            )
        if len(self.material) != KEY_BYTES:
            raise KeyRingError(f"key {self.id} must be {KEY_BYTES} bytes, not {len(self.material)}")


@dataclass(frozen=True, slots=True)
class KeyRing:
    active_id: str
    keys: Mapping[str, VaultKey]

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyRingError(f"active key {self.active_id} is not in the ring")

    def __repr__(self) -> str:
        return f"KeyRing(active_id={self.active_id!r}, key_ids={sorted(self.keys)!r})"

    @property
    def active(self) -> VaultKey:
        return self.keys[self.active_id]

    @property
    def development(self) -> bool:
        """True while the key that seals new secrets was made for development."""
        return self.active.development

    @property
    def development_key_ids(self) -> tuple[str, ...]:
        """Every key made for development, active or decrypt-only."""
        return tuple(kid for kid, key in self.keys.items() if key.development)

    # -- changes (each returns a new ring) ----------------------------------------------
    @classmethod
    def generate(cls, *, development: bool = False, now: datetime | None = None) -> KeyRing:
        key = _new_key(now or datetime.now(UTC), development=development)
        return cls(key.id, {key.id: key})

    def rotate(self, *, now: datetime | None = None) -> KeyRing:
        """Add a fresh (never development) key and make it active; every old key stays for
        decryption."""
        key = _new_key(now or datetime.now(UTC))
        return replace(self, active_id=key.id, keys={**self.keys, key.id: key})

    def without(self, key_id: str) -> KeyRing:
        """Drop a decrypt-only key. The caller must first prove no ciphertext uses it."""
        if key_id == self.active_id:
            raise KeyRingError("the active key cannot be removed; rotate first")
        if key_id not in self.keys:
            raise KeyRingError(f"no key {key_id} in the ring")
        return replace(self, keys={k: v for k, v in self.keys.items() if k != key_id})

    # -- persistence -----------------------------------------------------------------
    @classmethod
    def from_env_value(cls, value: str) -> KeyRing:
        entries = [item.strip() for item in value.split(",") if item.strip()]
        if not entries:
            raise KeyRingError("no keys given")
        keys: dict[str, VaultKey] = {}
        for entry in entries:
            kid, sep, material = entry.partition("=")
            if not sep:
                raise KeyRingError("each key must be written kid=base64url")
            if kid in keys:
                raise KeyRingError(f"key {kid!r} is given twice")
            keys[kid] = VaultKey(kid, _unb64(material, kid), datetime.fromtimestamp(0, UTC))
        return cls(entries[0].partition("=")[0], keys)

    def to_env_value(self) -> str:
        ordered = [self.active_id, *(k for k in self.keys if k != self.active_id)]
        return ",".join(f"{kid}={b64url(self.keys[kid].material)}" for kid in ordered)

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read ``path``. A file written before keys carried their own mark has one for the
        whole ring; every key of such a ring counts as a development key."""
        try:
            document: dict[str, Any] = json.loads(path.read_text("utf-8"))
            whole_ring = bool(document.get("development", False))
            keys = {
                item["id"]: VaultKey(
                    item["id"],
                    _unb64(item["key"], item["id"]),
                    datetime.fromisoformat(item["created_at"]),
                    bool(item.get("development", whole_ring)),
                )
                for item in document["keys"]
            }
            return cls(document["active"], keys)
        except FileNotFoundError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyRingError(f"{path} is not a valid key ring: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (a crash leaves the old file, never half a ring)."""
        document = {
            "active": self.active_id,
            "keys": [
                {
                    "id": k.id,
                    "key": b64url(k.material),
                    "created_at": k.created_at.isoformat(),
                    "development": k.development,
                }
                for k in self.keys.values()
            ],
        }
        write_private_json(path, document)


def _new_key(now: datetime, *, development: bool = False) -> VaultKey:
    kid = f"k{now.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
    return VaultKey(kid, secrets.token_bytes(KEY_BYTES), now, development)
