"""Keeping provider connections alive (issue #5; security.md OAUTH-3): refreshing ahead of
expiry on each provider's calendar, single flight per connection, what a refused or silent
provider leaves behind, and the re-auth warnings mailed before credentials end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from dashcore.domain.audit import AuditOutcome
from dashcore.domain.connections import ConnectionStatus, ProviderConnection
from dashcore.domain.errors import Conflict, NotFound, ProviderUnavailable
from dashcore.domain.users import User
from dashcore_brokers.http import HttpPolicy
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.tokens import GrantKind
from dashcore_memory.connections import MemoryProviderConnectionRepository
from tests.unit.connections_world import CALLER, ConnectionsWorld, open_world
from tests.unit.watched_uow import WatchedUnitOfWork

SCHWAB_TOKEN = "/v1/oauth/token"
LOCK_GRACE = 2.0
"""Seconds a refresh may take when the lock is free (it would wait 35 s on a stuck one)."""


async def _let_others_run(seconds: float) -> None:
    """How the sandboxes wait in a latency fault here: no real time passes, but every other
    task gets its turn while a provider call is in flight (in-process calls never yield)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def world() -> AsyncIterator[ConnectionsWorld]:
    async with open_world(sleep=_let_others_run) as opened:
        yield opened


@pytest.fixture
async def ada(world: ConnectionsWorld) -> User:
    return await world.add_user("ada@example.com")


@pytest.fixture
async def schwab(world: ConnectionsWorld, ada: User) -> ProviderConnection:
    """Ada's Schwab connection, just authorized: access for 30 minutes, refresh for 7 days."""
    return await world.connect(ada, "schwab")


async def _refresh(
    world: ConnectionsWorld, connection: ProviderConnection, *, force: bool = False
) -> ProviderConnection:
    """One refresh in its own unit of work, which must not wait for a lock nobody holds."""
    async with asyncio.timeout(LOCK_GRACE):
        return await world.refresher(world.uow()).refresh(connection.id, CALLER, force=force)


# ------------------------------------------------------------------------------ refreshing


async def test_a_connection_with_more_than_five_minutes_left_is_not_refreshed(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    world.clock.advance(minutes=24)  # six minutes left

    answer = await _refresh(world, schwab)

    assert answer == schwab == await world.stored(schwab.id)
    assert world.token_calls("schwab") == 1  # the login only
    assert world.audit("provider_refreshed") == []


async def test_a_due_connection_is_refreshed_and_the_seven_day_horizon_kept(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    before = await world.credentials(schwab.id)
    now = world.clock.advance(minutes=26)  # four minutes left

    refreshed = await _refresh(world, schwab)

    assert refreshed.status is ConnectionStatus.CONNECTED
    assert refreshed.expires_at == now + timedelta(minutes=30)
    assert refreshed.refresh_expires_at == schwab.refresh_expires_at
    assert refreshed.last_refreshed_at == now and refreshed.last_error is None
    assert await world.stored(schwab.id) == refreshed
    assert world.token_calls("schwab") == 2
    after = await world.credentials(schwab.id)
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token  # Schwab did not rotate it
    tokens = world.sandboxes["schwab"].tokens
    assert tokens.active(after.access_token, GrantKind.ACCESS) is not None
    [event] = world.audit("provider_refreshed")
    assert (event.target, event.metadata["rotated"]) == (f"connection:{schwab.id}", False)


async def test_a_refresh_never_reaches_past_the_original_consent(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    assert schwab.refresh_expires_at is not None
    world.clock.set(schwab.refresh_expires_at - timedelta(minutes=20))

    refreshed = await _refresh(world, schwab)

    assert refreshed.expires_at == refreshed.refresh_expires_at == schwab.refresh_expires_at


async def test_a_rotated_refresh_token_replaces_the_old_one_and_is_audited(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    world.sandboxes["schwab"].settings.rotate_refresh_tokens = True
    before = await world.credentials(schwab.id)

    await _refresh(world, schwab, force=True)

    after = await world.credentials(schwab.id)
    assert after.refresh_token is not None and after.refresh_token != before.refresh_token
    assert world.sandboxes["schwab"].tokens.active(after.refresh_token, GrantKind.REFRESH)
    [event] = world.audit("provider_refreshed")
    assert event.metadata["rotated"] is True


async def test_force_refreshes_a_connection_that_is_not_due(
    world: ConnectionsWorld, ada: User, schwab: ProviderConnection
) -> None:
    now = world.clock.advance(minutes=1)

    refreshed = await world.refresher(world.uow()).for_user(ada.id, schwab.id, CALLER)

    assert refreshed.last_refreshed_at == now
    assert refreshed.expires_at == now + timedelta(minutes=30)
    assert world.token_calls("schwab") == 2


async def test_only_the_owner_refreshes_on_demand(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    bob = await world.add_user("bob@example.com")

    with pytest.raises(NotFound) as missing:
        await world.refresher(world.uow()).for_user(bob.id, schwab.id, CALLER)

    assert missing.value.code == "connection_not_found"
    assert world.token_calls("schwab") == 1
    assert await world.stored(schwab.id) == schwab


@pytest.mark.parametrize("provider", ["groww", "upstox", "zerodha"])
async def test_a_provider_without_refresh_refuses_it(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    """Groww and Upstox have no refresh; Kite gives refresh tokens to approved apps only."""
    connection = await world.connect(ada, provider)

    with pytest.raises(Conflict) as refused:
        await _refresh(world, connection, force=True)

    assert refused.value.code == "refresh_not_supported"
    assert world.token_calls(provider) == 1
    assert await world.stored(connection.id) == connection


@pytest.mark.parametrize("fate", ["expire", "revoke"])
async def test_a_refused_refresh_token_moves_the_connection_to_needs_reauth(
    world: ConnectionsWorld, schwab: ProviderConnection, fate: str
) -> None:
    refresh_token = (await world.credentials(schwab.id)).refresh_token
    assert refresh_token is not None
    tokens = world.sandboxes["schwab"].tokens
    assert (tokens.expire if fate == "expire" else tokens.revoke)(refresh_token) == 1

    settled = await _refresh(world, schwab, force=True)

    assert settled.status is ConnectionStatus.NEEDS_REAUTH
    assert settled.last_error is not None and settled.last_error.code == "refresh_token_rejected"
    assert await world.stored(schwab.id) == settled
    [event] = world.audit("provider_needs_reauth")
    assert (event.outcome, event.metadata["reason"]) == (
        AuditOutcome.FAILURE,
        "refresh_token_rejected",
    )
    with pytest.raises(Conflict) as refused:  # the lock was released: no wait, a clear answer
        await _refresh(world, schwab, force=True)
    assert refused.value.code == "not_connected"
    assert world.token_calls("schwab") == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (FaultRule(path=SCHWAB_TOKEN, kind=FaultKind.STATUS, status=503), "provider_error"),
        (FaultRule(path=SCHWAB_TOKEN, kind=FaultKind.TIMEOUT, seconds=5), "provider_timeout"),
    ],
    ids=["5xx", "timeout"],
)
async def test_an_unavailable_provider_leaves_the_connection_on_its_old_credentials(
    fault: FaultRule, code: str
) -> None:
    quick = HttpPolicy(connect_timeout=0.1, total_timeout=0.3)
    async with open_world(http=quick) as world:
        ada = await world.add_user("ada@example.com")
        schwab = await world.connect(ada, "schwab")
        before = await world.credentials(schwab.id)
        world.clock.advance(minutes=26)
        world.sandboxes["schwab"].faults.add(fault)

        with pytest.raises(ProviderUnavailable) as failed:
            await _refresh(world, schwab)

        assert failed.value.code == code
        stored = await world.stored(schwab.id)
        assert stored is not None and stored.status is ConnectionStatus.CONNECTED
        assert stored.last_error is not None and stored.last_error.code == code
        assert (stored.expires_at, stored.refresh_expires_at) == (
            schwab.expires_at,
            schwab.refresh_expires_at,
        )
        assert await world.credentials(schwab.id) == before
        [event] = world.audit("provider_refresh_failed")
        assert (event.outcome, event.metadata["reason"]) == (AuditOutcome.FAILURE, code)

        recovered = await _refresh(world, schwab)  # the lock was released

        assert recovered.status is ConnectionStatus.CONNECTED and recovered.last_error is None
        assert world.token_calls("schwab") == 3


@pytest.mark.parametrize("interrupted", [False, True], ids=["due", "interrupted"])
async def test_no_transaction_is_open_while_the_provider_refreshes(
    world: ConnectionsWorld, schwab: ProviderConnection, interrupted: bool
) -> None:
    """A slow provider must not hold the database (on SQLite, its single write lock), also
    when a refresh left ``refreshing`` by a stopped worker is taken up again."""
    if interrupted:
        uow = world.uow()
        connections = MemoryProviderConnectionRepository(uow)
        await connections.save(schwab.refreshing(world.clock.now()))
        await uow.commit()
    world.clock.advance(timedelta(minutes=1))
    watched = WatchedUnitOfWork(world.base.database)
    with world.token_requests_watched("schwab", watched) as in_transaction:
        refreshed = await world.refresher(watched).refresh(schwab.id, CALLER, force=True)
    assert refreshed.status is ConnectionStatus.CONNECTED
    assert in_transaction == [False]


async def test_an_interrupted_refresh_does_not_wedge_the_connection() -> None:
    reached = asyncio.Event()

    async def hang(seconds: float) -> None:
        reached.set()
        await asyncio.Event().wait()

    async with open_world(sleep=hang) as world:
        ada = await world.add_user("ada@example.com")
        schwab = await world.connect(ada, "schwab")
        world.sandboxes["schwab"].faults.add(FaultRule(path=SCHWAB_TOKEN, kind=FaultKind.LATENCY))
        interrupted = asyncio.create_task(
            world.refresher(world.uow()).refresh(schwab.id, CALLER, force=True)
        )
        await reached.wait()
        interrupted.cancel()
        with pytest.raises(asyncio.CancelledError):
            await interrupted

        later = await _refresh(world, schwab, force=True)

        assert later.status in (ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_REAUTH)


@pytest.mark.parametrize("callers", [2, 20])
@pytest.mark.parametrize("force", [False, True], ids=["due", "forced"])
async def test_concurrent_refreshes_spend_the_refresh_token_once(
    world: ConnectionsWorld, schwab: ProviderConnection, callers: int, force: bool
) -> None:
    """Single flight (OAUTH-3): the callers overlap while the provider answers; with rotation
    on, a second spend of the old refresh token would be refused and the connection lost."""
    sandbox = world.sandboxes["schwab"]
    sandbox.settings.rotate_refresh_tokens = True
    sandbox.faults.add(FaultRule(path=SCHWAB_TOKEN, kind=FaultKind.LATENCY, seconds=1, times=None))
    world.clock.advance(minutes=29)

    answers = await asyncio.gather(
        *(
            world.refresher(world.uow()).refresh(schwab.id, CALLER, force=force)
            for _ in range(callers)
        )
    )

    assert world.token_calls("schwab") == 2  # the login and one refresh
    stored = await world.stored(schwab.id)
    assert stored is not None and stored.status is ConnectionStatus.CONNECTED
    assert stored.last_refreshed_at == world.clock.now()
    assert all(answer == stored for answer in answers)
    assert len(world.audit("provider_refreshed")) == 1
    credentials = await world.credentials(schwab.id)
    assert credentials.refresh_token is not None
    assert sandbox.tokens.active(credentials.refresh_token, GrantKind.REFRESH)


# ------------------------------------------------------------------------ re-auth warnings


async def _warn(world: ConnectionsWorld) -> int:
    return await world.reauth_warnings(world.uow())()


async def test_a_daily_connection_is_warned_once_an_hour_before_it_ends(
    world: ConnectionsWorld, ada: User
) -> None:
    kite = await world.connect(ada, "zerodha")  # ends at the next 06:00 IST, 15.5 hours away
    assert kite.expires_at is not None
    assert await _warn(world) == 0, "a day's notice would come with every daily login"

    _advance_to(world, kite.expires_at - timedelta(minutes=59))

    assert await _warn(world) == 1
    assert await _warn(world) == 0

    [mail] = world.base.mails("connection_reauth_due")
    assert mail.recipient == "ada@example.com"
    assert "Zerodha Kite" in mail.text
    [event] = world.audit("connection.reauth_due")
    assert event.target == f"connection:{kite.id}"
    assert kite.expires_at is not None
    assert event.metadata == {"provider": "zerodha", "ends_at": kite.expires_at.isoformat()}
    stored = await world.stored(kite.id)
    assert stored is not None and stored.reauth_warned_for == kite.expires_at


def _advance_to(world: ConnectionsWorld, instant: datetime) -> None:
    world.clock.advance(instant - world.clock.now())


async def test_schwab_is_warned_a_day_before_its_seven_days_end(
    world: ConnectionsWorld, schwab: ProviderConnection
) -> None:
    assert await _warn(world) == 0

    world.clock.advance(days=6, minutes=1)

    assert await _warn(world) == 1
    [event] = world.audit("connection.reauth_due")
    assert schwab.refresh_expires_at is not None
    assert event.metadata["ends_at"] == schwab.refresh_expires_at.isoformat()


async def test_a_new_authorization_makes_a_new_warning_due(
    world: ConnectionsWorld, ada: User
) -> None:
    kite = await world.connect(ada, "zerodha")
    assert kite.expires_at is not None
    _advance_to(world, kite.expires_at - timedelta(minutes=30))
    assert await _warn(world) == 1

    world.clock.advance(hours=1)  # past 06:00 IST: the token is dead, nothing to warn about
    assert await _warn(world) == 0
    started = await world.start(ada, kite)
    renewed = await world.callback("zerodha", await world.consent("zerodha", started), user=ada)
    ends = [kite.expires_at, renewed.connection.expires_at]
    assert None not in ends and ends[0] != ends[1]
    assert renewed.connection.expires_at is not None
    _advance_to(world, renewed.connection.expires_at - timedelta(minutes=30))

    assert await _warn(world) == 1
    assert await _warn(world) == 0
    assert len(world.base.mails("connection_reauth_due")) == 2
    assert [e.metadata["ends_at"] for e in world.audit("connection.reauth_due")] == [
        end.isoformat() for end in ends if end is not None
    ]


async def test_unusable_connections_are_not_warned(
    world: ConnectionsWorld, ada: User, schwab: ProviderConnection
) -> None:
    await world.create(ada, "upstox")  # still pending
    groww = await world.connect(ada, "groww")
    await world.authorization(world.uow()).disconnect(ada.id, groww.id, CALLER)
    world.sandboxes["schwab"].tokens.revoke()
    settled = await _refresh(world, schwab, force=True)
    assert settled.status is ConnectionStatus.NEEDS_REAUTH

    world.clock.advance(days=6, minutes=1)

    assert await _warn(world) == 0
    assert world.base.mails("connection_reauth_due") == []
    assert world.audit("connection.reauth_due") == []
