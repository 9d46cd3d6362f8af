"""Keeping small secrets sealed: store, read and forget them through the vault."""

from __future__ import annotations

from dataclasses import replace

from dashcore.domain.errors import NotFound
from dashcore.domain.secrets import SealedSecret
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.vault import SealedSecretRepository, Vault

__all__ = ["SecretKeeper"]


class SecretKeeper:
    """Seals secrets for an owner and purpose (``user:42`` / ``totp_seed``).

    Only ciphertext is stored; the context binds it to its row, so it cannot be replayed
    elsewhere. Works inside the caller's unit of work and never commits.
    """

    def __init__(
        self, vault: Vault, secrets: SealedSecretRepository, clock: Clock, ids: IdGenerator
    ) -> None:
        self._vault = vault
        self._secrets = secrets
        self._clock = clock
        self._ids = ids

    async def store(self, owner: str, purpose: str, plaintext: bytes) -> SealedSecret:
        """Seal ``plaintext`` as the owner's secret for ``purpose``, replacing an earlier one."""
        now = self._clock.now()
        existing = await self._secrets.get(owner, purpose)
        if existing is not None:
            ciphertext = self._vault.seal(plaintext, existing.context)
            updated = replace(
                existing, ciphertext=ciphertext, key_id=self._vault.active_key_id, updated_at=now
            )
            await self._secrets.replace_ciphertext(
                existing.id,
                expected=existing.ciphertext,
                ciphertext=ciphertext,
                key_id=updated.key_id,
                updated_at=now,
            )
            return updated
        shell = SealedSecret(self._ids.new_id(), owner, purpose, b"", "", now, now)
        secret = replace(
            shell,
            ciphertext=self._vault.seal(plaintext, shell.context),
            key_id=self._vault.active_key_id,
        )
        await self._secrets.add(secret)
        return secret

    async def reveal(self, owner: str, purpose: str) -> bytes:
        secret = await self._secrets.get(owner, purpose)
        if secret is None:
            raise NotFound("No such secret.")
        return self._vault.open(secret.ciphertext, secret.context)

    async def forget(self, owner: str, purpose: str) -> bool:
        return await self._secrets.delete(owner, purpose)
