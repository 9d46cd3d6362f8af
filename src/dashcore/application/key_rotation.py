"""Moving every sealed secret to the active key, and retiring old keys safely (CRYPTO-2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dashcore.application.audit_trail import AuditTrail
from dashcore.domain.context import SYSTEM, CallerContext
from dashcore.domain.errors import Conflict
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.vault import SealedSecretRepository, Vault

__all__ = ["KeyUsage", "ReencryptProgress", "ReencryptSecrets", "check_key_unused"]


@dataclass(frozen=True, slots=True)
class ReencryptProgress:
    active_key_id: str
    reencrypted: int
    remaining: int


ProgressCallback = Callable[[ReencryptProgress], None]


class ReencryptSecrets:
    """Re-seal every secret that is not under the active key, one committed batch at a time.

    Resumable and idempotent: each batch commits on its own, and the next run only selects
    secrets still under an old key, so an interrupted run loses nothing and a repeated run
    does nothing. A swap is compare-and-set on the old ciphertext, so a secret rewritten
    concurrently (already under the active key) is left alone.
    """

    def __init__(
        self,
        vault: Vault,
        secrets: SealedSecretRepository,
        uow: UnitOfWork,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._vault = vault
        self._secrets = secrets
        self._uow = uow
        self._audit = audit

    async def __call__(
        self,
        *,
        batch_size: int = 500,
        caller: CallerContext = SYSTEM,
        on_progress: ProgressCallback | None = None,
    ) -> ReencryptProgress:
        active = self._vault.active_key_id
        remaining = sum(
            count for kid, count in (await self._secrets.count_by_key()).items() if kid != active
        )
        done = 0
        while batch := await self._secrets.not_under_key(active, limit=batch_size):
            moved = 0
            for secret in batch:
                plaintext = self._vault.open(secret.ciphertext, secret.context)
                swapped = await self._secrets.replace_ciphertext(
                    secret.id,
                    expected=secret.ciphertext,
                    ciphertext=self._vault.seal(plaintext, secret.context),
                    key_id=active,
                    updated_at=self._clock.now(),
                )
                moved += int(swapped)
            await self._audit.record(
                "key_reencrypt_batch",
                caller=caller,
                target=f"key:{active}",
                metadata={"reencrypted": moved},
            )
            await self._uow.commit()
            done += moved
            remaining = max(0, remaining - len(batch))
            if on_progress:
                on_progress(ReencryptProgress(active, done, remaining))
        return ReencryptProgress(active, done, 0)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    key_id: str
    secrets: int


async def check_key_unused(secrets: SealedSecretRepository, key_id: str) -> KeyUsage:
    """Refuse (``Conflict``) to retire a key that any stored ciphertext still references."""
    count = (await secrets.count_by_key()).get(key_id, 0)
    if count:
        raise Conflict(
            f"Key {key_id} still seals {count} secret(s); run `dashcore keys reencrypt` first.",
            code="key_in_use",
        )
    return KeyUsage(key_id, 0)
