"""LibpassHasher: argon2id parameters, upgrades, bcrypt import, concurrency (PW-1, DOS-1)."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from argon2 import profiles as argon2_profiles
from passlib.hash import argon2 as passlib_argon2

from dashcore.domain.errors import DependencyUnavailable, IntegrityError, InvalidInput
from dashcore.ports.passwords import PasswordCheck
from dashcore_security.passwords import (
    CHEAPEST,
    FLOOR,
    RECOMMENDED,
    SALT_BYTES,
    TAG_BYTES,
    Argon2Profile,
    LibpassHasher,
)

PASSWORD = "correct horse battery staple"
# Made with the bcrypt package (cost 4) for the password below, as an imported user would have.
IMPORTED_PASSWORD = "imported from the old system"
IMPORTED_BCRYPT_HASHES = (
    "$2b$04$OqW.Tz6eXhcZ5hk8Ga.4tOZsmNFxTjA0.eA11gMScnF0f0S/ikCR6",
    "$2a$04$h8PT2eZXcfGGC5qmRIDev.2oollo7CwC3EULZNIB0mXhxY7B2249W",
)
_ARGON2_HASH = re.compile(
    r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<tag>[A-Za-z0-9+/]+)$"
)
TINY = Argon2Profile(memory_kib=64, time_cost=2, parallelism=2)


def cheap_hasher(**kwargs: Any) -> LibpassHasher:
    return LibpassHasher(CHEAPEST, allow_weak=True, **kwargs)


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def parse(stored_hash: str) -> tuple[Argon2Profile, bytes, bytes]:
    match = _ARGON2_HASH.match(stored_hash)
    assert match is not None, stored_hash
    profile = Argon2Profile(int(match["m"]), int(match["t"]), int(match["p"]))
    return profile, _unb64(match["salt"]), _unb64(match["tag"])


class GatedExecutor(ThreadPoolExecutor):
    """Counts submitted and concurrently running jobs; jobs wait for ``gate`` when it is closed."""

    def __init__(self, *, gated: bool = False) -> None:
        super().__init__(max_workers=8)
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.submitted = 0
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1

        def job() -> Any:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                assert self.gate.wait(timeout=10)
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        return super().submit(job)


@pytest.fixture
def executor() -> Iterator[GatedExecutor]:
    pool = GatedExecutor()
    yield pool
    pool.gate.set()
    pool.shutdown(wait=True)


@pytest.fixture
def gated() -> Iterator[GatedExecutor]:
    pool = GatedExecutor(gated=True)
    yield pool
    pool.gate.set()
    pool.shutdown(wait=True)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop and the executor threads run until ``condition`` holds."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


# ------------------------------------------------------------------ profiles


def test_production_profile_is_at_least_the_floor() -> None:
    assert RECOMMENDED.at_least(FLOOR)
    assert LibpassHasher().profile == RECOMMENDED


def test_recommended_profile_is_rfc_9106_low_memory() -> None:
    reference = argon2_profiles.RFC_9106_LOW_MEMORY
    assert (RECOMMENDED.memory_kib, RECOMMENDED.time_cost, RECOMMENDED.parallelism) == (
        reference.memory_cost,
        reference.time_cost,
        reference.parallelism,
    )
    assert (reference.salt_len, reference.hash_len) == (SALT_BYTES, TAG_BYTES)


def test_a_profile_below_the_floor_needs_an_explicit_opt_in() -> None:
    with pytest.raises(ValueError, match="floor"):
        LibpassHasher(CHEAPEST)
    with pytest.raises(ValueError, match="floor"):
        LibpassHasher(Argon2Profile(memory_kib=19456, time_cost=1, parallelism=1))
    assert LibpassHasher(CHEAPEST, allow_weak=True).profile == CHEAPEST


@pytest.mark.parametrize(("m", "t", "p"), [(8, 0, 1), (8, 1, 0), (15, 1, 2)])
def test_impossible_argon2_parameters_are_refused(m: int, t: int, p: int) -> None:
    with pytest.raises(ValueError, match="argon2"):
        Argon2Profile(memory_kib=m, time_cost=t, parallelism=p)


@pytest.mark.parametrize("kwargs", [{"max_concurrency": 0}, {"max_waiting": -1}])
def test_bad_concurrency_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_"):
        cheap_hasher(**kwargs)


# ------------------------------------------------------------------ hash and verify


async def test_production_hash_is_argon2id_with_parameters_at_least_the_floor() -> None:
    hasher = LibpassHasher()
    stored = await hasher.hash(PASSWORD)

    profile, salt, tag = parse(stored)
    assert profile == RECOMMENDED
    assert profile.at_least(FLOOR)
    assert (len(salt), len(tag)) == (SALT_BYTES, TAG_BYTES)
    assert await hasher.verify(PASSWORD, stored) == PasswordCheck(valid=True, needs_update=False)


async def test_each_hash_has_its_own_salt() -> None:
    hasher = cheap_hasher()
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)
    assert parse(first)[1] != parse(second)[1]
    assert first != second


async def test_wrong_password_is_invalid_and_never_needs_update() -> None:
    hasher = cheap_hasher()
    weak = await LibpassHasher(TINY, allow_weak=True).hash(PASSWORD)
    for stored in (await hasher.hash(PASSWORD), weak):
        assert await hasher.verify(PASSWORD + " ", stored) == PasswordCheck(False, False)
        assert await hasher.verify(PASSWORD.upper(), stored) == PasswordCheck(False, False)


async def test_nfc_and_nfd_forms_verify_interchangeably() -> None:
    hasher = cheap_hasher()
    nfc = unicodedata.normalize("NFC", "café au lait, très chaud")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert (await hasher.verify(nfd, await hasher.hash(nfc))).valid
    assert (await hasher.verify(nfc, await hasher.hash(nfd))).valid


async def test_unknown_hash_format_is_an_integrity_error() -> None:
    hasher = cheap_hasher()
    for stored in ("", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken", "$6$salt$sha512crypt"):
        with pytest.raises(IntegrityError) as caught:
            await hasher.verify(PASSWORD, stored)
        assert caught.value.code == "password_hash_unrecognised"


# ------------------------------------------------------------------ upgrades


@pytest.mark.parametrize(
    "stored_profile",
    [
        Argon2Profile(memory_kib=32, time_cost=2, parallelism=2),
        Argon2Profile(memory_kib=64, time_cost=1, parallelism=2),
        Argon2Profile(memory_kib=64, time_cost=2, parallelism=1),
    ],
    ids=["less-memory", "fewer-passes", "fewer-lanes"],
)
async def test_weaker_argon2_parameters_need_an_update(stored_profile: Argon2Profile) -> None:
    stored = await LibpassHasher(stored_profile, allow_weak=True).hash(PASSWORD)
    current = LibpassHasher(TINY, allow_weak=True)

    assert await current.verify(PASSWORD, stored) == PasswordCheck(valid=True, needs_update=True)
    upgraded = await current.hash(PASSWORD)
    assert parse(upgraded)[0] == TINY
    assert await current.verify(PASSWORD, upgraded) == PasswordCheck(True, False)


async def test_other_argon2_variant_needs_an_update() -> None:
    argon2i = passlib_argon2.using(type="I", memory_cost=64, rounds=2, parallelism=2).hash(PASSWORD)
    assert argon2i.startswith("$argon2i$")
    current = LibpassHasher(TINY, allow_weak=True)
    assert await current.verify(PASSWORD, argon2i) == PasswordCheck(valid=True, needs_update=True)


@pytest.mark.parametrize("stored", IMPORTED_BCRYPT_HASHES)
async def test_imported_bcrypt_hash_verifies_and_is_upgraded(stored: str) -> None:
    hasher = cheap_hasher()
    assert await hasher.verify(IMPORTED_PASSWORD, stored) == PasswordCheck(True, True)
    assert await hasher.verify(PASSWORD, stored) == PasswordCheck(False, False)
    upgraded = await hasher.hash(IMPORTED_PASSWORD)
    assert upgraded.startswith("$argon2id$")
    assert await hasher.verify(IMPORTED_PASSWORD, upgraded) == PasswordCheck(True, False)


# ------------------------------------------------------------------ dummy verify (ENUM-1)


async def test_dummy_verify_costs_one_verify_at_the_current_parameters(
    executor: GatedExecutor,
) -> None:
    hasher = LibpassHasher(TINY, allow_weak=True, executor=executor)
    profile, salt, tag = parse(hasher.dummy_hash)
    assert (profile, len(salt), len(tag)) == (TINY, SALT_BYTES, TAG_BYTES)

    await hasher.verify_dummy(PASSWORD)
    assert executor.submitted == 1
    assert await hasher.verify(PASSWORD, hasher.dummy_hash) == PasswordCheck(False, False)


def test_each_hasher_has_its_own_dummy_hash() -> None:
    assert cheap_hasher().dummy_hash != cheap_hasher().dummy_hash


# ------------------------------------------------------------------ refused before hashing (DOS-1)


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("x" * 1_000_000, "password_too_long"),
        ("😀" * 513, "password_too_long"),
        ("correct horse\x00battery staple", "password_invalid_characters"),
        ("correct horse \ud800 battery staple", "password_invalid_characters"),
    ],
    ids=["1MB", "513-emoji", "nul", "lone-surrogate"],
)
async def test_unacceptable_input_is_refused_before_any_hashing(
    executor: GatedExecutor, password: str, code: str
) -> None:
    hasher = cheap_hasher(executor=executor)
    stored = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$dGFndGFndGFndGFndGFn"
    for call in (
        lambda: hasher.hash(password),
        lambda: hasher.verify(password, stored),
        lambda: hasher.verify_dummy(password),
    ):
        with pytest.raises(InvalidInput) as caught:
            await call()
        assert caught.value.code == code
        assert caught.value.errors[0].field == "password"
    assert executor.submitted == 0


# ------------------------------------------------------------------ bounded concurrency (DOS-1)


async def test_no_more_than_max_concurrency_hashes_run_at_once(gated: GatedExecutor) -> None:
    hasher = cheap_hasher(max_concurrency=2, executor=gated)
    stored = await cheap_hasher().hash(PASSWORD)
    calls = [asyncio.create_task(hasher.verify(PASSWORD, stored)) for _ in range(6)]

    await until(lambda: gated.running == 2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert gated.submitted == 2

    gated.gate.set()
    results = await asyncio.gather(*calls)
    assert all(result.valid for result in results)
    assert gated.submitted == 6
    assert gated.peak == 2


async def test_a_cancelled_caller_keeps_its_slot_until_its_hash_is_done(
    gated: GatedExecutor,
) -> None:
    hasher = cheap_hasher(max_concurrency=1, executor=gated)
    first = asyncio.create_task(hasher.hash(PASSWORD))
    await until(lambda: gated.running == 1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    second = asyncio.create_task(hasher.hash(PASSWORD))
    for _ in range(20):
        await asyncio.sleep(0)
    assert gated.submitted == 1

    gated.gate.set()
    assert (await second).startswith("$argon2id$")
    assert gated.submitted == 2


async def test_calls_beyond_max_waiting_are_refused_at_once(gated: GatedExecutor) -> None:
    hasher = cheap_hasher(max_concurrency=1, max_waiting=1, executor=gated)
    running = asyncio.create_task(hasher.hash(PASSWORD))
    await until(lambda: gated.running == 1)
    waiting = asyncio.create_task(hasher.hash(PASSWORD))
    await asyncio.sleep(0)

    with pytest.raises(DependencyUnavailable) as caught:
        await hasher.verify_dummy(PASSWORD)
    assert caught.value.code == "password_hasher_busy"
    assert caught.value.retry_after == 1

    gated.gate.set()
    assert all(stored.startswith("$argon2id$") for stored in await asyncio.gather(running, waiting))
    assert gated.submitted == 2
