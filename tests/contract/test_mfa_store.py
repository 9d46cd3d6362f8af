"""The second-factor repository contracts (``TotpFactorRepository``, ``RecoveryCodeRepository``,
``LoginChallengeRepository``) on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import delete, select

from dashcore.domain.errors import Conflict
from dashcore.domain.mfa import (
    AMR_EMAIL_OTP,
    AMR_PASSWORD,
    ChallengeKind,
    ChallengePolicy,
    FactorStatus,
    LoginChallenge,
    RecoveryCode,
    TotpFactor,
    TotpPolicy,
    new_challenge_handle,
    new_recovery_codes,
    normalise_recovery_code,
)
from dashcore.domain.users import User
from dashcore.ports.mfa import (
    LoginChallengeRepository,
    RecoveryCodeRepository,
    TotpFactorRepository,
)
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.mfa import (
    MemoryLoginChallengeRepository,
    MemoryRecoveryCodeRepository,
    MemoryTotpFactorRepository,
)
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.mfa import (
    SqlLoginChallengeRepository,
    SqlRecoveryCodeRepository,
    SqlTotpFactorRepository,
)
from dashcore_sql.tables import login_challenges, recovery_codes, totp_factors, users
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, SqlBackend, Work
from tests.contract.people import person

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
INDIA = timezone(timedelta(hours=5, minutes=30))
POLICY = ChallengePolicy()
EMAILED_CODE = "274951"


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    factors: TotpFactorRepository
    codes: RecoveryCodeRepository
    challenges: LoginChallengeRepository

    @property
    def uow(self) -> UnitOfWork:
        return self.work.uow


@asynccontextmanager
async def repos(backend: Backend) -> AsyncIterator[Repos]:
    async with backend.work() as work:
        native = work.native
        if isinstance(native, MemoryUnitOfWork):
            yield Repos(
                work,
                MemoryUserRepository(native),
                MemoryTotpFactorRepository(native),
                MemoryRecoveryCodeRepository(native),
                MemoryLoginChallengeRepository(native),
            )
        else:
            yield Repos(
                work,
                SqlUserRepository(native),
                SqlTotpFactorRepository(native),
                SqlRecoveryCodeRepository(native),
                SqlLoginChallengeRepository(native),
            )


async def people(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    async with repos(backend) as r:
        for item in added:
            await r.users.add(item)
        await r.uow.commit()
    return added


def code(number: int, owner: User, text: str | None = None) -> RecoveryCode:
    """A stored code; ``code_hash`` stands in for the argon2id hash the application stores."""
    plain = normalise_recovery_code(text or f"{number:05d}-AAAAA")
    return RecoveryCode(
        id=UUID(f"00000000-0000-7000-9000-{number:012x}"),
        user_id=owner.id,
        code_hash=f"$argon2id$v=19$m=19456,t=2,p=1${hashlib.sha256(plain.encode()).hexdigest()}",
        created_at=NOW.astimezone(INDIA),
    )


def challenge(
    owner: User,
    kind: ChallengeKind = ChallengeKind.SECOND_FACTOR,
    *,
    now: datetime = NOW,
    amr: tuple[str, ...] = (AMR_PASSWORD,),
    policy: ChallengePolicy = POLICY,
) -> LoginChallenge:
    """A challenge as a login opens it; an emailed code's digest stands in for the HMAC."""
    if kind is ChallengeKind.EMAIL_OTP:
        amr, digest = (), hashlib.sha256(EMAILED_CODE.encode()).hexdigest()
    else:
        digest = None
    return LoginChallenge.open(
        new_challenge_handle(), kind, owner.id, now, policy, amr=amr, code_digest=digest
    )


async def add_challenges(backend: Backend, *items: LoginChallenge) -> None:
    async with repos(backend) as r:
        for item in items:
            await r.challenges.add(item)
        await r.uow.commit()


def assert_utc(*instants: datetime | None) -> None:
    for instant in instants:
        assert instant is None or instant.tzinfo is UTC


async def race(backend: Backend, step: Callable[[Repos], Awaitable[bool]]) -> list[bool | None]:
    """Two units of work run ``step`` on the same rows at once: the first holds its uncommitted
    write while the second runs into it, then each commits. Gives, in that order, what ``step``
    returned in each, or ``None`` for one whose commit failed with ``Conflict``."""
    first_stepped = asyncio.Event()

    async def contender(first: bool) -> bool | None:
        if not first:
            await first_stepped.wait()
        async with repos(backend) as r:
            won = await step(r)
            if first:
                first_stepped.set()
                await backend.let_contender_run(r.work)
            try:
                await r.uow.commit()
            except Conflict:
                return None
            return won

    outcomes = await asyncio.gather(contender(True), contender(False))
    return list(outcomes)


def assert_one_winner(backend: Backend, outcomes: list[bool | None]) -> None:
    """Exactly one racer both won its step and committed. In SQL the second waits for the
    first and then answers ``False``; in memory either may commit first, and the other, which
    also won its step, has its commit refused."""
    if backend.name == "memory":
        assert sorted(outcomes, key=repr) == [None, True]
    else:
        assert outcomes == [True, False]


# -- TOTP factors ------------------------------------------------------------------------------


async def test_a_totp_factor_reads_back_exactly_and_save_replaces_it(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    pending = TotpFactor.enrol(owner.id, NOW.astimezone(INDIA))
    async with repos(backend) as r:
        assert await r.factors.get(owner.id) is None
        assert await r.factors.lock(owner.id) is None
        await r.factors.save(pending)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.factors.get(owner.id) == pending
    later = NOW + timedelta(minutes=3)
    policy = TotpPolicy()
    active = pending.accepted(2**40, later)  # a step beyond 32 bits: stored as BIGINT
    for _ in range(policy.lock_threshold):
        active = active.failed(later, policy)
    assert active.locked_until is not None
    async with repos(backend) as r:
        locked = await r.factors.lock(owner.id)
        assert locked == pending
        await r.factors.save(active)
        await r.uow.commit()
    async with repos(backend) as r:
        stored = await r.factors.get(owner.id)
    assert stored == active
    assert stored is not None
    assert (stored.status, stored.last_used_step, stored.failures) == (
        FactorStatus.ACTIVE,
        2**40,
        5,
    )
    assert_utc(stored.created_at, stored.confirmed_at, stored.locked_until)


async def test_factors_are_per_user_and_deleting_one_leaves_the_others(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    async with repos(backend) as r:
        await r.factors.save(TotpFactor.enrol(owner.id, NOW))
        await r.factors.save(TotpFactor.enrol(other.id, NOW))
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.factors.delete(owner.id) is True
        assert await r.factors.delete(owner.id) is False
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.factors.get(owner.id) is None
        assert await r.factors.get(other.id) == TotpFactor.enrol(other.id, NOW)


async def test_an_uncommitted_factor_change_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    pending = TotpFactor.enrol(owner.id, NOW)
    async with repos(backend) as r:
        await r.factors.save(pending)
        await r.uow.commit()
    async with repos(backend) as r:
        await r.factors.save(pending.accepted(100, NOW))
        await r.factors.delete(owner.id)
    async with repos(backend) as r:
        assert await r.factors.get(owner.id) == pending


# -- recovery codes ----------------------------------------------------------------------------


async def test_recovery_codes_read_back_exactly_oldest_id_first(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    codes = [code(n, owner) for n in (3, 1, 10, 2)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, codes)
        await r.uow.commit()
    async with repos(backend) as r:
        unused = list(await r.codes.unused(owner.id))
    assert unused == sorted(codes, key=lambda c: c.id)
    assert [c.code_hash for c in unused] == [code(n, owner).code_hash for n in (1, 2, 3, 10)]
    assert all(c.used_at is None for c in unused)
    assert_utc(*(c.created_at for c in unused))


async def test_replacing_drops_the_whole_old_set_of_that_user_only(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    old = [code(n, owner) for n in range(1, 4)]
    kept = [code(n, other) for n in range(10, 12)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, old)
        await r.codes.replace_all(other.id, kept)
        assert await r.codes.consume(old[0].id, NOW) is True
        await r.uow.commit()
    new = [code(n, owner) for n in range(20, 30)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, new)
        await r.uow.commit()
    async with repos(backend) as r:
        assert list(await r.codes.unused(owner.id)) == new
        assert list(await r.codes.unused(other.id)) == kept
        for stale in old:
            assert await r.codes.consume(stale.id, NOW) is False
        assert await r.codes.delete_all(owner.id) == len(new)
        assert await r.codes.delete_all(owner.id) == 0
        await r.codes.replace_all(other.id, [])
        await r.uow.commit()
    async with repos(backend) as r:
        assert list(await r.codes.unused(owner.id)) == []
        assert list(await r.codes.unused(other.id)) == []


async def test_a_set_holding_another_users_code_is_refused(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    async with repos(backend) as r:
        with pytest.raises(ValueError, match="belong"):
            await r.codes.replace_all(owner.id, [code(1, owner), code(2, other)])


async def test_a_recovery_code_is_consumed_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    codes = [code(n, owner) for n in range(1, 4)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, codes)
        await r.uow.commit()
    later = NOW + timedelta(days=30)
    async with repos(backend) as r:
        assert await r.codes.consume(codes[1].id, later) is True
        assert await r.codes.consume(codes[1].id, later) is False
        assert await r.codes.consume(UUID(int=1), later) is False
        assert list(await r.codes.unused(owner.id)) == [codes[0], codes[2]]
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.codes.consume(codes[1].id, later + timedelta(seconds=1)) is False
        assert list(await r.codes.unused(owner.id)) == [codes[0], codes[2]]


async def test_an_uncommitted_use_of_a_code_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    codes = [code(1, owner)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, codes)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.codes.consume(codes[0].id, NOW) is True
    async with repos(backend) as r:
        assert list(await r.codes.unused(owner.id)) == codes
        assert await r.codes.consume(codes[0].id, NOW) is True


async def test_two_concurrent_uses_of_one_recovery_code_have_exactly_one_winner(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    codes = [code(1, owner), code(2, owner)]
    async with repos(backend) as r:
        await r.codes.replace_all(owner.id, codes)
        await r.uow.commit()

    async def use(r: Repos) -> bool:
        return await r.codes.consume(codes[0].id, NOW)

    assert_one_winner(backend, await race(backend, use))
    async with repos(backend) as r:
        assert list(await r.codes.unused(owner.id)) == [codes[1]]


# -- login challenges --------------------------------------------------------------------------


async def test_challenges_read_back_exactly(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    emailed = challenge(owner, ChallengeKind.EMAIL_OTP, now=NOW.astimezone(INDIA))
    second = replace(
        challenge(owner, amr=(AMR_EMAIL_OTP, AMR_PASSWORD)),
        remember_me=True,
        device_label="Mike’s phone",
        attempts=2,
        max_attempts=3,
        consumed_at=NOW + timedelta(seconds=1),
    )
    no_factor_yet = challenge(owner, amr=())
    await add_challenges(backend, emailed, second, no_factor_yet)
    async with repos(backend) as r:
        assert await r.challenges.get(emailed.handle_hash) == emailed
        assert await r.challenges.get(second.handle_hash) == second
        assert await r.challenges.get(no_factor_yet.handle_hash) == no_factor_yet
        assert await r.challenges.get("0" * 64) is None
        stored = await r.challenges.get(second.handle_hash)
    assert stored is not None
    assert stored.amr == (AMR_EMAIL_OTP, AMR_PASSWORD)
    assert (stored.remember_me, stored.device_label) == (True, "Mike’s phone")
    assert_utc(stored.created_at, stored.expires_at, stored.consumed_at)


async def test_a_challenge_is_added_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = challenge(owner)
    await add_challenges(backend, item)
    with pytest.raises(Conflict):
        await add_challenges(backend, replace(item, attempts=1))
    async with repos(backend) as r:
        assert await r.challenges.get(item.handle_hash) == item


async def test_attempts_are_counted_up_to_the_limit_and_never_beyond(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = challenge(owner, policy=ChallengePolicy(max_attempts=3))
    await add_challenges(backend, item)
    async with repos(backend) as r:
        for spent in (1, 2, 3):
            counted = await r.challenges.count_attempt(item.handle_hash, NOW)
            assert counted == replace(item, attempts=spent)
        assert await r.challenges.count_attempt(item.handle_hash, NOW) is None
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.count_attempt(item.handle_hash, NOW) is None
        assert await r.challenges.get(item.handle_hash) == replace(item, attempts=3)
        assert await r.challenges.count_attempt("f" * 64, NOW) is None


async def test_an_expired_or_consumed_challenge_counts_no_attempt(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    expiring, consumed = challenge(owner), challenge(owner, ChallengeKind.EMAIL_OTP)
    await add_challenges(backend, expiring, consumed)
    async with repos(backend) as r:
        last_moment = expiring.expires_at - timedelta(microseconds=1)
        assert await r.challenges.count_attempt(expiring.handle_hash, last_moment) is not None
        assert await r.challenges.count_attempt(expiring.handle_hash, expiring.expires_at) is None
        assert await r.challenges.consume(consumed.handle_hash, NOW) is True
        assert await r.challenges.count_attempt(consumed.handle_hash, NOW) is None
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.get(expiring.handle_hash) == replace(expiring, attempts=1)
        assert await r.challenges.get(consumed.handle_hash) == replace(consumed, consumed_at=NOW)


async def test_the_last_attempt_of_a_challenge_goes_to_one_of_two_racers(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    item = replace(challenge(owner), attempts=POLICY.max_attempts - 1)
    await add_challenges(backend, item)

    async def attempt(r: Repos) -> bool:
        return await r.challenges.count_attempt(item.handle_hash, NOW) is not None

    assert_one_winner(backend, await race(backend, attempt))
    async with repos(backend) as r:
        assert await r.challenges.get(item.handle_hash) == replace(
            item, attempts=POLICY.max_attempts
        )


async def test_a_challenge_is_consumed_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = challenge(owner)
    await add_challenges(backend, item)
    async with repos(backend) as r:
        assert await r.challenges.consume(item.handle_hash, NOW) is True
        assert await r.challenges.consume(item.handle_hash, NOW) is False
        assert await r.challenges.consume("e" * 64, NOW) is False
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.consume(item.handle_hash, NOW + timedelta(seconds=1)) is False
        assert await r.challenges.get(item.handle_hash) == replace(item, consumed_at=NOW)


async def test_two_concurrent_consumes_of_one_challenge_have_exactly_one_winner(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    item = challenge(owner)
    await add_challenges(backend, item)

    async def close(r: Repos) -> bool:
        return await r.challenges.consume(item.handle_hash, NOW)

    assert_one_winner(backend, await race(backend, close))


async def test_deleting_for_a_user_touches_only_that_user_and_kind(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    emailed = [challenge(owner, ChallengeKind.EMAIL_OTP) for _ in range(2)]
    second = challenge(owner)
    others = challenge(other, ChallengeKind.EMAIL_OTP)
    await add_challenges(backend, *emailed, second, others)
    async with repos(backend) as r:
        assert await r.challenges.delete_for_user(owner.id, ChallengeKind.EMAIL_OTP) == 2
        assert await r.challenges.delete_for_user(owner.id, ChallengeKind.EMAIL_OTP) == 0
        await r.uow.commit()
    async with repos(backend) as r:
        for gone in emailed:
            assert await r.challenges.get(gone.handle_hash) is None
        assert await r.challenges.get(second.handle_hash) == second
        assert await r.challenges.get(others.handle_hash) == others


async def test_a_new_challenge_with_a_handle_that_was_deleted_can_be_added(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    item = challenge(owner, ChallengeKind.EMAIL_OTP)
    await add_challenges(backend, item)
    async with repos(backend) as r:
        await r.challenges.count_attempt(item.handle_hash, NOW)
        await r.challenges.consume(item.handle_hash, NOW)
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.delete_for_user(owner.id, ChallengeKind.EMAIL_OTP) == 1
        await r.uow.commit()
    await add_challenges(backend, item)
    async with repos(backend) as r:
        assert await r.challenges.count_attempt(item.handle_hash, NOW) == replace(item, attempts=1)
        assert await r.challenges.consume(item.handle_hash, NOW) is True
        await r.uow.commit()


async def test_deleting_expired_challenges_keeps_those_still_open(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    old = challenge(owner, now=NOW - timedelta(minutes=20))
    ends_now = challenge(other, ChallengeKind.EMAIL_OTP, now=NOW - POLICY.ttl)
    fresh = challenge(owner, now=NOW)
    await add_challenges(backend, old, ends_now, fresh)
    async with repos(backend) as r:
        assert await r.challenges.delete_expired(NOW) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.get(old.handle_hash) is None
        assert await r.challenges.get(ends_now.handle_hash) == ends_now
        assert await r.challenges.get(fresh.handle_hash) == fresh
        assert await r.challenges.delete_expired(NOW + timedelta(microseconds=1)) == 1
        assert await r.challenges.delete_expired(fresh.expires_at + timedelta(seconds=1)) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.challenges.get(ends_now.handle_hash) is None
        assert await r.challenges.get(fresh.handle_hash) is None


# -- what the database holds (SQL only) -------------------------------------------------------


async def test_deleting_a_user_deletes_their_second_factors(sql_backend: SqlBackend) -> None:
    owner, other = await people(sql_backend, 1, 2)
    async with repos(sql_backend) as r:
        for user_id in (owner.id, other.id):
            await r.factors.save(TotpFactor.enrol(user_id, NOW))
        await r.codes.replace_all(owner.id, [code(1, owner)])
        await r.codes.replace_all(other.id, [code(2, other)])
        await r.challenges.add(challenge(owner))
        kept = challenge(other)
        await r.challenges.add(kept)
        await r.uow.commit()
    async with sql_backend.engine.begin() as connection:
        await connection.execute(delete(users).where(users.c.id == owner.id))
        for table in (totp_factors, recovery_codes, login_challenges):
            owners = (await connection.execute(select(table.c.user_id))).scalars().all()
            assert owners == [other.id], table.name
    async with repos(sql_backend) as r:
        assert await r.challenges.get(kept.handle_hash) == kept


async def test_stored_rows_hold_the_given_hashes_and_no_plaintext(
    sql_backend: SqlBackend,
) -> None:
    [owner] = await people(sql_backend, 1)
    plaintexts = new_recovery_codes()
    codes = [code(n, owner, text) for n, text in enumerate(plaintexts, start=1)]
    emailed = challenge(owner, ChallengeKind.EMAIL_OTP)
    async with repos(sql_backend) as r:
        await r.codes.replace_all(owner.id, codes)
        await r.challenges.add(emailed)
        await r.uow.commit()
    async with sql_backend.engine.connect() as connection:
        stored_codes = (await connection.execute(select(recovery_codes))).all()
        stored_challenge = (await connection.execute(select(login_challenges))).one()
    assert {row.code_hash for row in stored_codes} == {c.code_hash for c in codes}
    assert stored_challenge.code_digest == emailed.code_digest
    assert stored_challenge.handle_hash == emailed.handle_hash
    dump = repr([*stored_codes, stored_challenge])
    for plaintext in plaintexts:
        assert plaintext not in dump
        assert normalise_recovery_code(plaintext) not in dump
    assert EMAILED_CODE not in dump
