"""Re-encryption under a new key: complete, resumable after interruption, idempotent."""

import pytest

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.key_rotation import ReencryptProgress, ReencryptSecrets, check_key_unused
from dashcore.application.secrets import SecretKeeper
from dashcore.domain.errors import Conflict
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import (
    MemoryAuditLog,
    MemoryDatabase,
    MemorySealedSecretRepository,
    MemoryUnitOfWork,
)
from dashcore_security import AesGcmVault, KeyRing

OLD = KeyRing.generate()
NEW = OLD.rotate()
IDS = SequentialIds()


class Interrupted(Exception):
    pass


async def seed(database: MemoryDatabase, count: int) -> None:
    uow = MemoryUnitOfWork(database)
    keeper = SecretKeeper(AesGcmVault(OLD), MemorySealedSecretRepository(uow), FakeClock(), IDS)
    for n in range(count):
        await keeper.store(f"user:{n}", "broker_token", f"token-{n}".encode())
    await uow.commit()


def job(database: MemoryDatabase) -> tuple[ReencryptSecrets, MemorySealedSecretRepository]:
    uow = MemoryUnitOfWork(database)
    repo = MemorySealedSecretRepository(uow)
    trail = AuditTrail(MemoryAuditLog(uow), FakeClock(), IDS)
    return ReencryptSecrets(AesGcmVault(NEW), repo, uow, trail, FakeClock()), repo


async def test_interrupted_reencryption_resumes_without_loss() -> None:
    database = MemoryDatabase()
    await seed(database, 25)

    def stop_after_first_batch(progress: ReencryptProgress) -> None:
        assert progress.remaining == 15
        raise Interrupted

    first, repo = job(database)
    with pytest.raises(Interrupted):
        await first(batch_size=10, on_progress=stop_after_first_batch)
    assert await repo.count_by_key() == {NEW.active_id: 10, OLD.active_id: 15}

    seen: list[ReencryptProgress] = []
    second, repo = job(database)
    result = await second(batch_size=10, on_progress=seen.append)
    assert result.reencrypted == 15
    assert [p.remaining for p in seen] == [5, 0]
    assert await repo.count_by_key() == {NEW.active_id: 25}

    again, _ = job(database)
    assert (await again(batch_size=10)).reencrypted == 0

    only_new = AesGcmVault(NEW.without(OLD.active_id))
    keeper = SecretKeeper(
        only_new, MemorySealedSecretRepository(MemoryUnitOfWork(database)), FakeClock(), IDS
    )
    assert [await keeper.reveal(f"user:{n}", "broker_token") for n in (0, 24)] == [
        b"token-0",
        b"token-24",
    ]
    await check_key_unused(repo, OLD.active_id)


async def test_a_key_still_in_use_cannot_be_retired() -> None:
    database = MemoryDatabase()
    await seed(database, 1)
    repo = MemorySealedSecretRepository(MemoryUnitOfWork(database))
    with pytest.raises(Conflict) as raised:
        await check_key_unused(repo, OLD.active_id)
    assert raised.value.code == "key_in_use"


async def test_each_batch_is_audited() -> None:
    database = MemoryDatabase()
    await seed(database, 3)
    reencrypt, _ = job(database)
    await reencrypt(batch_size=2)
    actions = [r.event.action for r in database.tables["audit_events"].values()]
    assert actions == ["key_reencrypt_batch", "key_reencrypt_batch"]
