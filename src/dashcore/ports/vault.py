from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.secrets import SealedSecret, SecretContext

__all__ = ["SealedSecretRepository", "Vault"]


class Vault(Protocol):
    """Authenticated encryption of small secrets under a key ring.

    ``seal`` always uses the active key; ``open`` accepts any key still in the ring. A ciphertext
    opens only under the exact context it was sealed with; any mismatch, unknown key or tampering
    raises ``DecryptionFailed`` (fail closed, never plaintext).
    """

    @property
    def active_key_id(self) -> str: ...

    def seal(self, plaintext: bytes, context: SecretContext) -> bytes: ...

    def open(self, ciphertext: bytes, context: SecretContext) -> bytes: ...

    def key_id_of(self, ciphertext: bytes) -> str: ...


class SealedSecretRepository(Protocol):
    """Storage of sealed secrets, within the current unit of work."""

    async def add(self, secret: SealedSecret) -> None: ...

    async def get(self, owner: str, purpose: str) -> SealedSecret | None: ...

    async def delete(self, owner: str, purpose: str) -> bool: ...

    async def not_under_key(self, key_id: str, *, limit: int) -> Sequence[SealedSecret]:
        """Up to ``limit`` secrets sealed under any key but ``key_id``, oldest id first."""
        ...

    async def count_by_key(self) -> dict[str, int]: ...

    async def replace_ciphertext(
        self,
        secret_id: UUID,
        *,
        expected: bytes,
        ciphertext: bytes,
        key_id: str,
        updated_at: datetime,
    ) -> bool:
        """Swap the ciphertext only if it is still ``expected`` (safe against a concurrent job)."""
        ...
