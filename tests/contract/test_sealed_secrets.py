"""The ``SealedSecretRepository`` contract, run against every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from dashcore.domain.errors import Conflict
from dashcore.domain.secrets import SealedSecret
from tests.contract.conftest import Backend

CREATED = datetime(2026, 3, 1, 12, 30, 15, 654321, tzinfo=UTC)
LATER = CREATED + timedelta(days=90, microseconds=7)


def secret(number: int, *, key_id: str = "k1", owner: str | None = None) -> SealedSecret:
    return SealedSecret(
        id=UUID(f"00000000-0000-7000-8000-{number:012x}"),
        owner=owner or f"user:{number}",
        purpose="broker_token",
        ciphertext=bytes(range(256)) + number.to_bytes(2, "big"),
        key_id=key_id,
        created_at=CREATED,
        updated_at=CREATED + timedelta(days=number),
    )


async def committed(backend: Backend, *secrets: SealedSecret) -> None:
    async with backend.work() as work:
        for item in secrets:
            await work.secrets.add(item)
        await work.uow.commit()


async def test_a_secret_reads_back_exactly_as_added(backend: Backend) -> None:
    original = secret(1)
    await committed(backend, original)
    async with backend.work() as work:
        loaded = await work.secrets.get(original.owner, original.purpose)
    assert loaded == original
    assert loaded is not None
    assert loaded.created_at.tzinfo is UTC


async def test_get_finds_by_owner_and_purpose_only(backend: Backend) -> None:
    await committed(backend, secret(1))
    async with backend.work() as work:
        assert await work.secrets.get("user:1", "other_purpose") is None
        assert await work.secrets.get("user:2", "broker_token") is None


async def test_one_secret_per_owner_and_purpose(backend: Backend) -> None:
    await committed(backend, secret(1, owner="user:7"))
    async with backend.work() as work:
        await work.secrets.add(secret(2, owner="user:8"))
        with pytest.raises(Conflict) as raised:
            await work.secrets.add(secret(3, owner="user:7"))
    assert raised.value.code == "sealed_secrets_owner_purpose_taken"


async def test_a_second_secret_with_the_same_id_is_a_conflict(backend: Backend) -> None:
    await committed(backend, secret(1))
    async with backend.work() as work:
        with pytest.raises(Conflict) as raised:
            await work.secrets.add(secret(1, owner="user:other"))
    assert raised.value.code == "sealed_secrets_exists"


async def test_delete_reports_whether_it_deleted(backend: Backend) -> None:
    await committed(backend, secret(1), secret(2))
    async with backend.work() as work:
        assert await work.secrets.delete("user:1", "broker_token") is True
        assert await work.secrets.delete("user:1", "broker_token") is False
        assert await work.secrets.delete("user:9", "broker_token") is False
        await work.uow.commit()
    async with backend.work() as work:
        assert await work.secrets.get("user:1", "broker_token") is None
        assert await work.secrets.get("user:2", "broker_token") == secret(2)


async def test_not_under_key_returns_the_oldest_ids_first_up_to_the_limit(
    backend: Backend,
) -> None:
    await committed(
        backend,
        secret(5, key_id="old"),
        secret(2, key_id="active"),
        secret(4, key_id="older"),
        secret(1, key_id="old"),
        secret(3, key_id="old"),
    )
    async with backend.work() as work:
        first_batch = await work.secrets.not_under_key("active", limit=2)
        everything = await work.secrets.not_under_key("active", limit=100)
        none_left = await work.secrets.not_under_key("nothing-else", limit=0)
    assert [s.id for s in first_batch] == [secret(1).id, secret(3).id]
    assert [s.id for s in everything] == [secret(n).id for n in (1, 3, 4, 5)]
    assert everything[0] == secret(1, key_id="old")
    assert list(none_left) == []


async def test_count_by_key(backend: Backend) -> None:
    async with backend.work() as work:
        assert await work.secrets.count_by_key() == {}
    await committed(backend, secret(1, key_id="a"), secret(2, key_id="b"), secret(3, key_id="a"))
    async with backend.work() as work:
        assert await work.secrets.count_by_key() == {"a": 2, "b": 1}


async def test_replace_ciphertext_swaps_only_when_the_old_ciphertext_matches(
    backend: Backend,
) -> None:
    original = secret(1, key_id="old")
    await committed(backend, original)
    async with backend.work() as work:
        assert await work.secrets.replace_ciphertext(
            original.id,
            expected=original.ciphertext,
            ciphertext=b"resealed",
            key_id="new",
            updated_at=LATER,
        )
        assert not await work.secrets.replace_ciphertext(
            original.id,
            expected=original.ciphertext,
            ciphertext=b"stale write",
            key_id="stale",
            updated_at=LATER,
        )
        assert not await work.secrets.replace_ciphertext(
            secret(2).id, expected=b"anything", ciphertext=b"x", key_id="new", updated_at=LATER
        )
        await work.uow.commit()
    async with backend.work() as work:
        loaded = await work.secrets.get(original.owner, original.purpose)
        assert await work.secrets.count_by_key() == {"new": 1}
    assert loaded is not None
    assert (loaded.ciphertext, loaded.key_id) == (b"resealed", "new")
    assert (loaded.id, loaded.created_at) == (original.id, original.created_at)
    assert loaded.updated_at == LATER


async def test_a_concurrent_rotation_loses_the_compare_and_set(backend: Backend) -> None:
    """Two jobs read the same stale secret; only the first swap lands."""
    original = secret(1, key_id="old")
    await committed(backend, original)
    async with backend.work() as first:
        assert await first.secrets.replace_ciphertext(
            original.id,
            expected=original.ciphertext,
            ciphertext=b"first",
            key_id="new",
            updated_at=LATER,
        )
        await first.uow.commit()
    async with backend.work() as second:
        assert not await second.secrets.replace_ciphertext(
            original.id,
            expected=original.ciphertext,
            ciphertext=b"second",
            key_id="new",
            updated_at=LATER,
        )
        await second.uow.commit()
    async with backend.work() as work:
        loaded = await work.secrets.get(original.owner, original.purpose)
    assert loaded is not None
    assert loaded.ciphertext == b"first"
