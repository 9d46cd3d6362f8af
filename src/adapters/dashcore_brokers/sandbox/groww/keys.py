"""Groww API keys: approval keys (key + secret checksum) and TOTP keys (key + seed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["GrowwKey", "KeyType"]


class KeyType(StrEnum):
    """How a Groww API key mints tokens (the ``key_type`` of the mint body)."""

    APPROVAL = "approval"
    TOTP = "totp"


@dataclass(frozen=True, slots=True)
class GrowwKey:
    """A Groww API key with its secret (approval keys) or TOTP seed (TOTP keys)."""

    api_key: str
    key_type: KeyType
    secret: str = field(repr=False)
