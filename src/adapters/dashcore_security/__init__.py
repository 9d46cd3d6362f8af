"""Cryptography adapters: the AES-256-GCM vault and its key ring."""

from dashcore_security.keyring import KeyRing, KeyRingError, VaultKey
from dashcore_security.vault import AesGcmVault

__all__ = ["AesGcmVault", "KeyRing", "KeyRingError", "VaultKey"]
