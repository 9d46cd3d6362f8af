"""The provider-connection repository contracts (``ProviderConnectionRepository``,
``PendingAuthorizationRepository``) on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import delete, select

from dashcore.domain.connections import (
    IST,
    ConnectionError_,
    ConnectionScope,
    ConnectionStatus,
    CredentialExpiry,
    PendingAuthorization,
    ProviderConnection,
    hash_state,
    new_state,
)
from dashcore.domain.errors import Conflict, NotFound
from dashcore.domain.users import User
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderConnectionRepository,
)
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_memory.connections import (
    MemoryPendingAuthorizationRepository,
    MemoryProviderConnectionRepository,
)
from dashcore_memory.store import MemoryUnitOfWork
from dashcore_memory.users import MemoryUserRepository
from dashcore_sql.connections import (
    SqlPendingAuthorizationRepository,
    SqlProviderConnectionRepository,
)
from dashcore_sql.tables import pending_authorizations, provider_connections, users
from dashcore_sql.users import SqlUserRepository
from tests.contract.conftest import Backend, SqlBackend, Work
from tests.contract.people import person

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
NEW_YORK = timezone(timedelta(hours=-4))
SCHWAB = CredentialExpiry(NOW + timedelta(minutes=30), NOW + timedelta(days=7))
READ_TRADE = frozenset({ConnectionScope.READ, ConnectionScope.TRADE})


@dataclass(frozen=True, slots=True)
class Repos:
    work: Work
    users: UserRepository
    connections: ProviderConnectionRepository
    pending: PendingAuthorizationRepository

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
                MemoryProviderConnectionRepository(native),
                MemoryPendingAuthorizationRepository(native),
            )
        else:
            yield Repos(
                work,
                SqlUserRepository(native),
                SqlProviderConnectionRepository(native),
                SqlPendingAuthorizationRepository(native),
            )


async def people(backend: Backend, *numbers: int) -> list[User]:
    added = [person(number, NOW) for number in numbers]
    async with repos(backend) as r:
        for item in added:
            await r.users.add(item)
        await r.uow.commit()
    return added


def connection(
    number: int,
    owner: User,
    provider: str = "schwab",
    *,
    created_at: datetime = NOW,
    scopes: frozenset[ConnectionScope] = frozenset({ConnectionScope.READ}),
) -> ProviderConnection:
    return ProviderConnection.create(
        UUID(f"00000000-0000-7000-a000-{number:012x}"),
        owner.id,
        provider,
        created_at,
        scopes=scopes,
    )


def connected(
    number: int, owner: User, ends: CredentialExpiry, provider: str = "schwab"
) -> ProviderConnection:
    return connection(number, owner, provider).connected(NOW, ends)


def daily(access_expires_at: datetime) -> CredentialExpiry:
    """Credentials without a refresh token (Kite, Groww, Upstox)."""
    return CredentialExpiry(access_expires_at)


async def add_connections(backend: Backend, *items: ProviderConnection) -> None:
    async with repos(backend) as r:
        for item in items:
            await r.connections.add(item)
        await r.uow.commit()


def pending_for(
    item: ProviderConnection, *, now: datetime = NOW, state: str | None = None
) -> PendingAuthorization:
    return PendingAuthorization.start(
        state or new_state(),
        item,
        session_id="sess_7Jq2",
        redirect_uri=f"https://app.example.org/api/v1/providers/{item.id}/authorization/callback",
        now=now,
    )


async def add_pending(backend: Backend, *items: PendingAuthorization) -> None:
    async with repos(backend) as r:
        for item in items:
            await r.pending.add(item)
        await r.uow.commit()


def assert_utc(*instants: datetime | None) -> None:
    for instant in instants:
        assert instant is None or instant.tzinfo is UTC


async def race(
    backend: Backend, step: Callable[[Repos], Awaitable[object | None]]
) -> list[bool | None]:
    """Two units of work run ``step`` on the same rows at once: the first holds its uncommitted
    write while the second runs into it, then each commits. Gives, in that order, whether
    ``step`` returned something in each, or ``None`` for one whose commit failed with
    ``Conflict``."""
    first_stepped = asyncio.Event()

    async def contender(first: bool) -> bool | None:
        if not first:
            await first_stepped.wait()
        async with repos(backend) as r:
            won = await step(r) is not None
            if first:
                first_stepped.set()
                await backend.let_contender_run(r.work)
            try:
                await r.uow.commit()
            except Conflict:
                return None
            return won

    return list(await asyncio.gather(contender(True), contender(False)))


def assert_one_winner(backend: Backend, outcomes: list[bool | None]) -> None:
    """Exactly one racer both won its step and committed. In SQL the second waits for the
    first and then loses; in memory either may commit first, and the other, which also won
    its step, has its commit refused."""
    if backend.name == "memory":
        assert sorted(outcomes, key=repr) == [None, True]
    else:
        assert outcomes == [True, False]


# -- connections: round trips ------------------------------------------------------------------


async def test_a_new_connection_reads_back_exactly(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = replace(connection(1, owner, created_at=NOW.astimezone(IST)), alias="Main ☂ brokerage")
    await add_connections(backend, item)
    async with repos(backend) as r:
        stored = await r.connections.get(item.id)
        assert await r.connections.get(UUID(int=7)) is None
        assert await r.connections.lock(UUID(int=7)) is None
    assert stored == item
    assert stored is not None
    assert (stored.status, stored.scopes, stored.alias) == (
        ConnectionStatus.PENDING,
        frozenset({ConnectionScope.READ}),
        "Main ☂ brokerage",
    )
    assert (stored.connected_at, stored.expires_at, stored.last_error) == (None, None, None)
    assert_utc(stored.created_at, stored.updated_at)


async def test_every_field_of_a_connection_reads_back_exactly(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    full = replace(
        connection(1, owner, "zerodha", scopes=READ_TRADE),
        alias="Kite",
        status=ConnectionStatus.ERROR,
        updated_at=NOW.astimezone(NEW_YORK) + timedelta(seconds=5),
        connected_at=NOW.astimezone(IST),
        expires_at=NOW + timedelta(hours=3, microseconds=7),
        refresh_expires_at=NOW + timedelta(days=7),
        last_refreshed_at=NOW + timedelta(minutes=1),
        last_error=ConnectionError_("provider_error", "Kite said “no”: 500 ☹"),
        reauth_warned_for=(NOW + timedelta(days=7)).astimezone(IST),
    )
    empty_message = replace(
        connection(2, owner),
        status=ConnectionStatus.NEEDS_REAUTH,
        last_error=ConnectionError_("invalid_grant", ""),
    )
    await add_connections(backend, full, empty_message)
    async with repos(backend) as r:
        stored = await r.connections.get(full.id)
        assert await r.connections.lock(full.id) == full
        assert await r.connections.get(empty_message.id) == empty_message
    assert stored == full
    assert stored is not None
    assert stored.can_trade
    assert stored.last_error == ConnectionError_("provider_error", "Kite said “no”: 500 ☹")
    assert_utc(
        stored.created_at,
        stored.updated_at,
        stored.connected_at,
        stored.expires_at,
        stored.refresh_expires_at,
        stored.last_refreshed_at,
        stored.reauth_warned_for,
    )


@pytest.mark.parametrize("status", list(ConnectionStatus))
async def test_every_status_is_stored(backend: Backend, status: ConnectionStatus) -> None:
    [owner] = await people(backend, 1)
    item = replace(connection(1, owner), status=status)
    await add_connections(backend, item)
    async with repos(backend) as r:
        assert await r.connections.get(item.id) == item


async def test_a_connection_is_added_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    with pytest.raises(Conflict) as refused:
        await add_connections(backend, replace(item, alias="again"))
    assert refused.value.code == "provider_connections_exists"
    async with repos(backend) as r:
        assert await r.connections.get(item.id) == item


# -- connections: save and lock ----------------------------------------------------------------


async def test_save_replaces_the_connection_through_its_life(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    later = NOW + timedelta(minutes=2)
    steps = [
        item.connected(later, SCHWAB),
        item.connected(later, SCHWAB).refreshing(later),
        item.connected(later, SCHWAB)
        .refreshing(later)
        .needs_reauth(later, ConnectionError_("invalid_grant", "Consent again.")),
    ]
    steps.append(steps[-1].connected(later + timedelta(days=1), daily(later + timedelta(days=2))))
    steps.append(steps[-1].renamed(None, later + timedelta(days=1)).disconnected(later))
    for step in steps:
        async with repos(backend) as r:
            assert await r.connections.lock(item.id) is not None
            await r.connections.save(step)
            await r.uow.commit()
        async with repos(backend) as r:
            assert await r.connections.get(item.id) == step
    assert steps[-1].expires_at is None
    assert steps[-1].status is ConnectionStatus.DISCONNECTED


async def test_save_clears_an_error_and_the_expiry(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    failed = connection(1, owner).failed(NOW, ConnectionError_("timeout", "Schwab timed out."))
    await add_connections(backend, failed)
    repaired = failed.connected(NOW, SCHWAB)
    async with repos(backend) as r:
        await r.connections.save(repaired)
        await r.uow.commit()
    async with repos(backend) as r:
        stored = await r.connections.get(failed.id)
    assert stored == repaired
    assert stored is not None
    assert stored.last_error is None


async def test_save_never_creates_a_connection_nor_moves_one(backend: Backend) -> None:
    owner, other = await people(backend, 1, 2)
    item = connection(1, owner)
    await add_connections(backend, item)
    async with repos(backend) as r:
        with pytest.raises(NotFound) as unknown:
            await r.connections.save(connection(2, owner))
        assert unknown.value.code == "connection_not_found"
        with pytest.raises(NotFound):
            await r.connections.save(replace(item, user_id=other.id))
        with pytest.raises(NotFound):
            await r.connections.save(replace(item, provider="upstox"))
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.connections.get(item.id) == item
        assert await r.connections.get(connection(2, owner).id) is None
        assert list(await r.connections.list_for_user(other.id)) == []


async def test_an_uncommitted_save_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    async with repos(backend) as r:
        await r.connections.save(item.connected(NOW, SCHWAB))
        await r.connections.add(connection(2, owner))
    async with repos(backend) as r:
        assert await r.connections.get(item.id) == item
        assert list(await r.connections.list_for_user(owner.id)) == [item]


async def test_lock_reads_what_the_unit_of_work_wrote(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    async with repos(backend) as r:
        await r.connections.add(item)
        assert await r.connections.lock(item.id) == item
        await r.connections.save(item.connected(NOW, SCHWAB))
        assert await r.connections.lock(item.id) == item.connected(NOW, SCHWAB)


async def test_a_warning_once_given_is_remembered(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connected(1, owner, SCHWAB)
    await add_connections(backend, item)
    warned = item.reauth_warned()
    async with repos(backend) as r:
        await r.connections.save(warned)
        await r.uow.commit()
    async with repos(backend) as r:
        stored = await r.connections.get(item.id)
    assert stored == warned
    assert stored is not None
    assert stored.reauth_warned_for == SCHWAB.ends_at
    assert not stored.reauth_warning_due(SCHWAB.ends_at - timedelta(hours=1), timedelta(days=1))


async def test_deleting_a_connection_takes_its_pending_authorizations_with_it(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    doomed, kept = connection(1, owner), connection(2, owner, "upstox")
    await add_connections(backend, doomed, kept)
    consumed, open_ = pending_for(doomed), pending_for(doomed)
    survivor = pending_for(kept)
    await add_pending(backend, consumed, open_, survivor)
    async with repos(backend) as r:
        assert await r.pending.consume(consumed.state_hash, NOW) is not None
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.connections.delete(doomed.id) is True
        assert await r.connections.delete(doomed.id) is False
        assert await r.connections.delete(UUID(int=5)) is False
        assert await r.connections.get(doomed.id) is None
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.connections.get(doomed.id) is None
        assert list(await r.connections.list_for_user(owner.id)) == [kept]
        assert await r.pending.consume(open_.state_hash, NOW) is None
        assert await r.pending.delete_expired(NOW + timedelta(days=1)) == 1
        assert await r.pending.consume(survivor.state_hash, NOW) is None
    async with repos(backend) as r:
        assert await r.pending.consume(survivor.state_hash, NOW) is not None
        with pytest.raises(NotFound):
            await r.connections.save(doomed)


async def test_an_uncommitted_delete_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)
    async with repos(backend) as r:
        assert await r.connections.delete(item.id) is True
    async with repos(backend) as r:
        assert await r.connections.get(item.id) == item
        assert await r.pending.consume(pending.state_hash, NOW) is not None


# -- connections: listing ----------------------------------------------------------------------


async def test_a_users_connections_are_listed_oldest_first_and_only_theirs(
    backend: Backend,
) -> None:
    owner, other, nobody = await people(backend, 1, 2, 3)
    newest = connection(1, owner, created_at=NOW + timedelta(hours=1))
    oldest = connection(2, owner, "upstox", created_at=NOW - timedelta(days=3))
    same_instant_b = connection(4, owner, "groww", created_at=NOW)
    same_instant_a = connection(3, owner, "zerodha", created_at=NOW.astimezone(IST))
    gone = connection(5, owner, created_at=NOW + timedelta(hours=2)).disconnected(NOW)
    theirs = connection(6, other, created_at=NOW - timedelta(days=9))
    await add_connections(backend, newest, same_instant_b, theirs, gone, oldest, same_instant_a)
    async with repos(backend) as r:
        assert list(await r.connections.list_for_user(owner.id)) == [
            oldest,
            same_instant_a,
            same_instant_b,
            newest,
            gone,
        ]
        assert list(await r.connections.list_for_user(other.id)) == [theirs]
        assert list(await r.connections.list_for_user(nobody.id)) == []


# -- connections: expiring ---------------------------------------------------------------------


async def test_expiring_selects_usable_connections_ending_before_the_instant(
    backend: Backend,
) -> None:
    owner, other = await people(backend, 1, 2)
    horizon = NOW + timedelta(days=1)
    # Schwab: the access token ends in 30 minutes, but the connection lives until its
    # refresh horizon; only that one counts.
    schwab_due = connected(
        1, owner, CredentialExpiry(NOW + timedelta(minutes=30), NOW + timedelta(hours=20))
    )
    schwab_later = connected(
        2, other, CredentialExpiry(NOW + timedelta(minutes=30), horizon + timedelta(days=2))
    )
    kite_due = connected(3, owner, daily(NOW + timedelta(hours=3)), "zerodha")
    groww_exactly_at = connected(4, owner, daily(horizon), "groww")
    upstox_past = connected(5, other, daily(NOW - timedelta(hours=1)), "upstox")
    refreshing = connected(6, owner, daily(NOW + timedelta(hours=2)), "zerodha").refreshing(NOW)
    reauth = connected(7, owner, daily(NOW + timedelta(hours=1))).needs_reauth(
        NOW, ConnectionError_("invalid_grant", "Consent again.")
    )
    failed = connected(8, owner, daily(NOW + timedelta(hours=1))).failed(
        NOW, ConnectionError_("timeout", "Timed out.")
    )
    pending = connection(9, owner)
    gone = connected(10, owner, daily(NOW)).disconnected(NOW)
    await add_connections(
        backend,
        schwab_due,
        schwab_later,
        kite_due,
        groww_exactly_at,
        upstox_past,
        refreshing,
        reauth,
        failed,
        pending,
        gone,
    )
    async with repos(backend) as r:
        due = list(await r.connections.expiring(horizon, limit=100))
        assert due == [upstox_past, refreshing, kite_due, schwab_due]
        assert list(await r.connections.expiring(horizon, limit=2)) == due[:2]
        assert list(await r.connections.expiring(horizon, limit=0)) == []
        assert list(await r.connections.expiring(NOW - timedelta(days=1), limit=10)) == []
        with pytest.raises(ValueError, match="limit"):
            await r.connections.expiring(horizon, limit=-1)
        later = horizon + timedelta(microseconds=1)
        assert list(await r.connections.expiring(later.astimezone(IST), limit=100)) == [
            *due,
            groww_exactly_at,
        ]


async def test_expiring_breaks_ties_by_id(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    ends = daily(NOW + timedelta(hours=1))
    items = [connected(n, owner, ends, "zerodha") for n in (3, 1, 2)]
    await add_connections(backend, *items)
    async with repos(backend) as r:
        due = list(await r.connections.expiring(NOW + timedelta(hours=2), limit=10))
    assert due == sorted(items, key=lambda c: c.id)


async def test_access_expiring_selects_connected_providers_by_access_expiry(
    backend: Backend,
) -> None:
    """The refresh-ahead query: the *access* token's end, only connected connections of the
    named providers, soonest first, then by id."""
    [owner] = await people(backend, 1)
    horizon = NOW + timedelta(days=7)
    soon = connected(1, owner, CredentialExpiry(NOW + timedelta(minutes=4), horizon))
    sooner = connected(2, owner, CredentialExpiry(NOW + timedelta(minutes=1), horizon))
    later = connected(3, owner, CredentialExpiry(NOW + timedelta(minutes=30), horizon))
    other_provider = connected(4, owner, daily(NOW + timedelta(minutes=2)), "zerodha")
    refreshing = connected(
        5, owner, CredentialExpiry(NOW + timedelta(minutes=2), horizon)
    ).refreshing(NOW)
    await add_connections(backend, soon, sooner, later, other_provider, refreshing)
    async with repos(backend) as r:
        due = list(
            await r.connections.access_expiring(
                NOW + timedelta(minutes=5), providers=["schwab"], limit=10
            )
        )
        capped = list(
            await r.connections.access_expiring(
                NOW + timedelta(minutes=5), providers=["schwab", "zerodha"], limit=2
            )
        )
    assert due == [sooner, soon]
    assert capped == [sooner, other_provider]


# -- pending authorizations --------------------------------------------------------------------


async def test_a_pending_authorization_is_consumed_once_and_reads_back_exactly(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    state = new_state()
    pending = replace(
        pending_for(item, now=NOW.astimezone(IST), state=state),
        code_verifier="v" * 43,
        return_to="/connections/new",
    )
    await add_pending(backend, pending)
    at = NOW + timedelta(minutes=9, seconds=59)
    async with repos(backend) as r:
        consumed = await r.pending.consume(hash_state(state), at.astimezone(NEW_YORK))
        assert consumed == replace(pending, consumed_at=at)
        assert await r.pending.consume(hash_state(state), at) is None
        await r.uow.commit()
    assert consumed is not None
    assert consumed.state_hash == hash_state(state)
    assert (consumed.code_verifier, consumed.return_to) == ("v" * 43, "/connections/new")
    assert (consumed.user_id, consumed.connection_id, consumed.provider) == (
        owner.id,
        item.id,
        "schwab",
    )
    assert_utc(consumed.created_at, consumed.expires_at, consumed.consumed_at)
    async with repos(backend) as r:
        assert await r.pending.consume(hash_state(state), at + timedelta(microseconds=1)) is None


async def test_optional_fields_of_a_pending_authorization_stay_empty(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner, "zerodha")
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)
    async with repos(backend) as r:
        consumed = await r.pending.consume(pending.state_hash, NOW)
    assert consumed == replace(pending, consumed_at=NOW)
    assert consumed is not None
    assert (consumed.code_verifier, consumed.return_to) == (None, None)


async def test_an_expired_or_unknown_state_consumes_nothing(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)
    async with repos(backend) as r:
        assert await r.pending.consume(pending.state_hash, pending.expires_at) is None
        assert await r.pending.consume(hash_state(new_state()), NOW) is None
        last_moment = pending.expires_at - timedelta(microseconds=1)
        assert await r.pending.consume(pending.state_hash, last_moment) is not None


async def test_an_uncommitted_consume_vanishes(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)
    async with repos(backend) as r:
        assert await r.pending.consume(pending.state_hash, NOW) is not None
    async with repos(backend) as r:
        assert await r.pending.consume(pending.state_hash, NOW) is not None


async def test_a_pending_authorization_is_added_once(backend: Backend) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)
    with pytest.raises(Conflict) as refused:
        await add_pending(backend, replace(pending, session_id="another"))
    assert refused.value.code == "pending_authorizations_exists"
    async with repos(backend) as r:
        assert await r.pending.consume(pending.state_hash, NOW) == replace(pending, consumed_at=NOW)


async def test_two_concurrent_consumes_of_one_state_have_exactly_one_winner(
    backend: Backend,
) -> None:
    [owner] = await people(backend, 1)
    item = connection(1, owner)
    await add_connections(backend, item)
    pending = pending_for(item)
    await add_pending(backend, pending)

    async def callback(r: Repos) -> PendingAuthorization | None:
        return await r.pending.consume(pending.state_hash, NOW)

    assert_one_winner(backend, await race(backend, callback))
    async with repos(backend) as r:
        assert await r.pending.consume(pending.state_hash, NOW) is None


async def test_deleting_expired_pending_authorizations_keeps_those_still_open(
    backend: Backend,
) -> None:
    owner, other = await people(backend, 1, 2)
    mine, theirs = connection(1, owner), connection(2, other, "upstox")
    await add_connections(backend, mine, theirs)
    old = pending_for(mine, now=NOW - timedelta(minutes=20))
    ends_now = pending_for(theirs, now=NOW - timedelta(minutes=10))
    fresh = pending_for(mine, now=NOW)
    await add_pending(backend, old, ends_now, fresh)
    async with repos(backend) as r:
        assert await r.pending.consume(old.state_hash, NOW - timedelta(minutes=15)) is not None
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.pending.delete_expired(NOW) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.pending.delete_expired(NOW) == 0
        assert await r.pending.delete_expired(NOW + timedelta(microseconds=1)) == 1
        await r.uow.commit()
    async with repos(backend) as r:
        assert await r.pending.consume(ends_now.state_hash, NOW - timedelta(minutes=1)) is None
        assert await r.pending.consume(fresh.state_hash, NOW) == replace(fresh, consumed_at=NOW)
        assert await r.pending.delete_expired(fresh.expires_at + timedelta(seconds=1)) == 1
        await r.uow.commit()
    # A deleted state can be started again (with a new row), and its old claim is gone.
    await add_pending(backend, old)
    async with repos(backend) as r:
        assert await r.pending.consume(old.state_hash, old.created_at) is not None


# -- what the database holds (SQL only) --------------------------------------------------------


async def test_deleting_a_user_deletes_their_connections_and_pending_authorizations(
    sql_backend: SqlBackend,
) -> None:
    owner, other = await people(sql_backend, 1, 2)
    mine, theirs = connection(1, owner), connection(2, other)
    await add_connections(sql_backend, mine, connection(3, owner, "upstox"), theirs)
    kept = pending_for(theirs)
    await add_pending(sql_backend, pending_for(mine), kept)
    async with sql_backend.engine.begin() as connection_:
        await connection_.execute(delete(users).where(users.c.id == owner.id))
        for table in (provider_connections, pending_authorizations):
            owners = (await connection_.execute(select(table.c.user_id))).scalars().all()
            assert owners == [other.id], table.name
    async with repos(sql_backend) as r:
        assert list(await r.connections.list_for_user(other.id)) == [theirs]
        assert await r.pending.consume(kept.state_hash, NOW) == replace(kept, consumed_at=NOW)


async def test_stored_rows_hold_the_state_hash_not_the_state(sql_backend: SqlBackend) -> None:
    [owner] = await people(sql_backend, 1)
    item = connection(1, owner, scopes=READ_TRADE)
    await add_connections(sql_backend, item)
    state = new_state()
    await add_pending(sql_backend, pending_for(item, state=state))
    async with sql_backend.engine.connect() as connection_:
        stored = (await connection_.execute(select(pending_authorizations))).one()
        scopes = (await connection_.execute(select(provider_connections.c.scopes))).scalar()
    assert stored.state_hash == hash_state(state)
    assert state not in repr(stored)
    assert scopes == "read trade"


async def test_a_connection_for_an_unknown_user_is_refused(sql_backend: SqlBackend) -> None:
    with pytest.raises(Conflict):
        await add_connections(sql_backend, connection(1, person(99, NOW)))
