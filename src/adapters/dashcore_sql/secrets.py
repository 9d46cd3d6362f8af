"""Sealed secrets in SQL: ciphertext only, one per (owner, purpose)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, func, insert, select, update

from dashcore.domain.secrets import SealedSecret
from dashcore.ports.vault import SealedSecretRepository
from dashcore_sql.tables import sealed_secrets
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlSealedSecretRepository"]

_secrets = sealed_secrets.c


class SqlSealedSecretRepository(SealedSecretRepository):
    """Reads and writes in the caller's unit of work.

    A second secret for the same owner and purpose is a ``Conflict``
    (``sealed_secrets_owner_purpose_taken``). ``replace_ciphertext`` is compare-and-set on the
    old ciphertext, so a secret rewritten concurrently is left alone. On PostgreSQL,
    ``not_under_key`` locks the rows it returns and skips rows another job holds, so several
    re-encryption workers share the work without waiting on one another.
    """

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, secret: SealedSecret) -> None:
        await self._uow.execute(
            insert(sealed_secrets).values(
                id=secret.id,
                owner=secret.owner,
                purpose=secret.purpose,
                ciphertext=secret.ciphertext,
                key_id=secret.key_id,
                created_at=secret.created_at,
                updated_at=secret.updated_at,
            )
        )

    async def get(self, owner: str, purpose: str) -> SealedSecret | None:
        query = select(sealed_secrets).where(_secrets.owner == owner, _secrets.purpose == purpose)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _secret(row)

    async def delete(self, owner: str, purpose: str) -> bool:
        statement = delete(sealed_secrets).where(
            _secrets.owner == owner, _secrets.purpose == purpose
        )
        return (await self._uow.execute(statement)).rowcount > 0

    async def not_under_key(self, key_id: str, *, limit: int) -> Sequence[SealedSecret]:
        query = (
            select(sealed_secrets)
            .where(_secrets.key_id != key_id)
            .order_by(_secrets.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite has no row locks and renders nothing
        )
        return [_secret(row) for row in await self._uow.execute(query)]

    async def count_by_key(self) -> dict[str, int]:
        query = select(_secrets.key_id, func.count().label("secrets")).group_by(_secrets.key_id)
        return {row.key_id: row.secrets for row in await self._uow.execute(query)}

    async def replace_ciphertext(
        self,
        secret_id: UUID,
        *,
        expected: bytes,
        ciphertext: bytes,
        key_id: str,
        updated_at: datetime,
    ) -> bool:
        statement = (
            update(sealed_secrets)
            .where(_secrets.id == secret_id, _secrets.ciphertext == expected)
            .values(ciphertext=ciphertext, key_id=key_id, updated_at=updated_at)
        )
        return (await self._uow.execute(statement)).rowcount == 1


def _secret(row: Row[Any]) -> SealedSecret:
    return SealedSecret(
        id=row.id,
        owner=row.owner,
        purpose=row.purpose,
        ciphertext=bytes(row.ciphertext),
        key_id=row.key_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
