"""Sealed secrets: small secrets (provider tokens, TOTP seeds) kept only as ciphertext.

A sealed secret belongs to one owner and one purpose. The *context* binds a ciphertext to
exactly that place, so a ciphertext copied into another row, another owner or another field
fails to open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from dashcore.domain.time import ensure_utc

__all__ = ["SealedSecret", "SecretContext"]


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Where a secret lives: ``(table, row id, field)``. Its bytes are the AEAD associated data."""

    table: str
    row_id: str
    field: str

    def __post_init__(self) -> None:
        for part in (self.table, self.row_id, self.field):
            if not part or "\x1f" in part:
                raise ValueError("secret context parts must be non-empty and free of \\x1f")

    def associated_data(self) -> bytes:
        return "\x1f".join(("dashcore:v1", self.table, self.row_id, self.field)).encode("utf-8")


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A stored ciphertext with the key id it was sealed under (kept for the rotation job)."""

    id: UUID
    owner: str
    purpose: str
    ciphertext: bytes
    key_id: str
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="created_at"))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at, field="updated_at"))

    @property
    def context(self) -> SecretContext:
        return SecretContext("sealed_secrets", str(self.id), f"{self.owner}/{self.purpose}")
