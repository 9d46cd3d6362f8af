"""AES-256-GCM vault (security.md CRYPTO-1).

Envelope: ``b"v1" ‖ len(kid) (1 byte) ‖ kid ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``.
A fresh random 96-bit nonce per seal; the associated data is the secret's context together with
the key id, so swapping the kid, the context or any byte makes ``open`` fail closed.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dashcore.domain.errors import DecryptionFailed
from dashcore.domain.secrets import SecretContext
from dashcore.ports.vault import Vault
from dashcore_security.keyring import KeyRing

__all__ = ["AesGcmVault"]

_VERSION = b"v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class AesGcmVault(Vault):
    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._ciphers = {kid: AESGCM(key.material) for kid, key in ring.keys.items()}

    @property
    def active_key_id(self) -> str:
        return self._ring.active_id

    def seal(self, plaintext: bytes, context: SecretContext) -> bytes:
        kid = self._ring.active_id
        encoded_kid = kid.encode("ascii")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext, self._aad(encoded_kid, context))
        return _VERSION + bytes([len(encoded_kid)]) + encoded_kid + nonce + sealed

    def open(self, ciphertext: bytes, context: SecretContext) -> bytes:
        encoded_kid, nonce, sealed = self._split(ciphertext)
        kid = encoded_kid.decode("ascii", "replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionFailed(f"The secret was sealed under key {kid!r}, not in the ring.")
        try:
            return cipher.decrypt(nonce, sealed, self._aad(encoded_kid, context))
        except InvalidTag as exc:
            raise DecryptionFailed() from exc

    def key_id_of(self, ciphertext: bytes) -> str:
        return self._split(ciphertext)[0].decode("ascii", "replace")

    @staticmethod
    def _aad(encoded_kid: bytes, context: SecretContext) -> bytes:
        return encoded_kid + b"\x1f" + context.associated_data()

    @staticmethod
    def _split(ciphertext: bytes) -> tuple[bytes, bytes, bytes]:
        if len(ciphertext) < 3 or ciphertext[:2] != _VERSION:
            raise DecryptionFailed("Not a sealed secret of a known format.")
        kid_end = 3 + ciphertext[2]
        nonce_end = kid_end + _NONCE_BYTES
        if len(ciphertext) < nonce_end + _TAG_BYTES:
            raise DecryptionFailed("The sealed secret is truncated.")
        return ciphertext[3:kid_end], ciphertext[kid_end:nonce_end], ciphertext[nonce_end:]
