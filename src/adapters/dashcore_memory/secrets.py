from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from dashcore.domain.secrets import SealedSecret
from dashcore.ports.vault import SealedSecretRepository
from dashcore_memory.store import MemoryUnitOfWork

__all__ = ["MemorySealedSecretRepository"]

TABLE = "sealed_secrets"


class MemorySealedSecretRepository(SealedSecretRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[SealedSecret]:
        return [secret for _, secret in self._uow.rows(TABLE)]

    async def add(self, secret: SealedSecret) -> None:
        self._uow.put(
            TABLE,
            secret.id,
            secret,
            insert=True,
            unique=(("owner_purpose", (secret.owner, secret.purpose)),),
        )

    async def get(self, owner: str, purpose: str) -> SealedSecret | None:
        return next((s for s in self._all() if (s.owner, s.purpose) == (owner, purpose)), None)

    async def delete(self, owner: str, purpose: str) -> bool:
        secret = await self.get(owner, purpose)
        if secret is None:
            return False
        self._uow.delete(TABLE, secret.id)
        return True

    async def not_under_key(self, key_id: str, *, limit: int) -> Sequence[SealedSecret]:
        stale = sorted((s for s in self._all() if s.key_id != key_id), key=lambda s: s.id)
        return stale[:limit]

    async def count_by_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for secret in self._all():
            counts[secret.key_id] = counts.get(secret.key_id, 0) + 1
        return counts

    async def replace_ciphertext(
        self,
        secret_id: UUID,
        *,
        expected: bytes,
        ciphertext: bytes,
        key_id: str,
        updated_at: datetime,
    ) -> bool:
        current: SealedSecret | None = self._uow.get(TABLE, secret_id)
        if current is None or current.ciphertext != expected:
            return False
        self._uow.put(
            TABLE,
            secret_id,
            replace(current, ciphertext=ciphertext, key_id=key_id, updated_at=updated_at),
            unique=(("owner_purpose", (current.owner, current.purpose)),),
        )
        return True
