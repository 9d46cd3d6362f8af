"""Cryptography adapters: the AES-256-GCM vault and its key ring; TOTP arithmetic (pyotp)."""

from dashcore_security.keyring import KeyRing, KeyRingError, VaultKey
from dashcore_security.totp import PyotpTotp
from dashcore_security.vault import AesGcmVault

__all__ = ["AesGcmVault", "KeyRing", "KeyRingError", "PyotpTotp", "VaultKey"]
