"""Provider connections as a user drives them (issue #5; security.md OAUTH-1..3, BKEY-1):
creating and owning connections, authorizing them against each broker's sandbox, refusing
every callback that its starter did not bring back, sealing credentials, and disconnecting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from dashcore.domain.audit import AuditOutcome
from dashcore.domain.connections import (
    ConnectionScope,
    ConnectionStatus,
    KeyCredentials,
    ProviderConnection,
    ProviderCredentials,
    hash_state,
    new_state,
)
from dashcore.domain.errors import Conflict, DashcoreError, InvalidInput, NotFound
from dashcore.domain.users import User
from dashcore_brokers.sandbox import ConsentMode, FaultKind, FaultRule
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
)
from dashcore_brokers.sandbox.tokens import GrantKind
from tests.unit.connections_world import (
    CALLBACK_URL,
    CALLER,
    SESSION,
    ConnectionsWorld,
    open_world,
)
from tests.unit.watched_uow import WatchedUnitOfWork

REDIRECTING = ("schwab", "zerodha", "upstox")
# A state of one provider delivered to another one's callback (mix-up, OAUTH-2).
ELSEWHERE = {"schwab": "upstox", "zerodha": "schwab", "upstox": "schwab"}
# The next 06:00 in India after the world's start (2026-01-01 09:00 UTC = 14:30 IST).
NEXT_IST_0600 = datetime(2026, 1, 2, 0, 30, tzinfo=UTC)


@pytest.fixture
async def world() -> AsyncIterator[ConnectionsWorld]:
    async with open_world() as opened:
        yield opened


@pytest.fixture
async def ada(world: ConnectionsWorld) -> User:
    return await world.add_user("ada@example.com")


@pytest.fixture
async def bob(world: ConnectionsWorld) -> User:
    return await world.add_user("bob@example.com")


# ------------------------------------------------------------------------- connections


async def test_a_new_connection_is_pending_and_reads_only_unless_trade_is_asked(
    world: ConnectionsWorld, ada: User
) -> None:
    connections = world.connections(world.uow())
    reader = await connections.create(ada.id, "schwab", CALLER, alias=" Main ")
    trader = await world.connections(world.uow()).create(ada.id, "upstox", CALLER, trade=True)

    assert (reader.status, reader.scopes, reader.alias) == (
        ConnectionStatus.PENDING,
        frozenset({ConnectionScope.READ}),
        "Main",
    )
    assert trader.scopes == {ConnectionScope.READ, ConnectionScope.TRADE}
    assert await world.stored(reader.id) == reader
    created = world.audit("provider_connection_created")
    assert [(e.target, e.metadata["scopes"]) for e in created] == [
        (f"connection:{reader.id}", "read"),
        (f"connection:{trader.id}", "read trade"),
    ]
    assert created[0].ip == CALLER.ip


async def test_an_unknown_provider_is_not_found_and_nothing_is_created(
    world: ConnectionsWorld, ada: User
) -> None:
    with pytest.raises(NotFound) as missing:
        await world.connections(world.uow()).create(ada.id, "fidelity", CALLER)

    assert missing.value.code == "provider_not_found"
    assert await world.connections(world.uow()).list(ada.id) == []
    assert world.audit() == []


async def test_a_user_lists_gets_and_renames_only_their_own_connections(
    world: ConnectionsWorld, ada: User, bob: User
) -> None:
    first = await world.create(ada, "schwab")
    second = await world.create(ada, "groww")

    assert await world.connections(world.uow()).list(ada.id) == [first, second]
    assert await world.connections(world.uow()).list(bob.id) == []
    assert await world.connections(world.uow()).get(ada.id, first.id) == first
    renamed = await world.connections(world.uow()).rename(ada.id, first.id, "Retirement", CALLER)
    assert renamed.alias == "Retirement"
    assert await world.stored(first.id) == renamed
    assert [e.target for e in world.audit("provider_connection_renamed")] == [
        f"connection:{first.id}"
    ]


@pytest.mark.parametrize("whose", ["another user's", "nobody's"])
async def test_someone_elses_connection_id_is_not_found(
    world: ConnectionsWorld, ada: User, bob: User, whose: str
) -> None:
    """Another user's id answers exactly like an id that does not exist (ORD-3)."""
    adas = await world.create(ada, "schwab")
    target = adas.id if whose == "another user's" else UUID(int=42)

    for attempt in (
        world.connections(world.uow()).get(bob.id, target),
        world.connections(world.uow()).rename(bob.id, target, "Mine now", CALLER),
        world.authorization(world.uow()).start(bob.id, SESSION, target, CALLER),
        world.authorization(world.uow()).status(bob.id, target),
        world.authorization(world.uow()).disconnect(bob.id, target, CALLER, delete=True),
    ):
        with pytest.raises(NotFound) as missing:
            await attempt
        assert missing.value.code == "connection_not_found"
    assert await world.stored(adas.id) == adas


async def test_a_bad_alias_is_refused_and_the_name_kept(world: ConnectionsWorld, ada: User) -> None:
    connection = await world.create(ada, "schwab")

    with pytest.raises(InvalidInput) as refused:
        await world.connections(world.uow()).rename(ada.id, connection.id, "x" * 61, CALLER)

    assert refused.value.code == "invalid_alias"
    assert await world.stored(connection.id) == connection


# ----------------------------------------------------------------- starting an authorization


@pytest.mark.parametrize("provider", REDIRECTING)
async def test_start_binds_a_ten_minute_state_to_user_session_connection_and_provider(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    connection = await world.create(ada, provider)
    started = await world.authorization(world.uow()).start(
        ada.id, SESSION, connection.id, CALLER, return_to="/connections"
    )

    assert started.state is not None and len(started.state) >= 43  # 256 bits, base64url
    assert started.expires_in == 600
    pending = world.pending(started.state)
    assert pending is not None
    assert (pending.user_id, pending.session_id, pending.connection_id, pending.provider) == (
        ada.id,
        SESSION,
        connection.id,
        provider,
    )
    assert pending.state_hash == hash_state(started.state) != started.state
    assert pending.expires_at == world.clock.now() + timedelta(minutes=10)
    assert pending.redirect_uri == f"{CALLBACK_URL}/{provider}"
    assert pending.return_to == "/connections"
    assert world.token_calls(provider) == 0


@pytest.mark.parametrize("provider", ["schwab", "upstox"])
async def test_an_oauth_login_url_carries_the_state_and_the_callback(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    started = await world.start(ada, await world.create(ada, provider))

    assert started.authorization_url is not None
    query = parse_qs(urlsplit(started.authorization_url).query)
    assert query["state"] == [started.state]
    assert query["redirect_uri"] == [f"{CALLBACK_URL}/{provider}"]


async def test_a_kite_login_url_carries_the_state_in_redirect_params(
    world: ConnectionsWorld, ada: User
) -> None:
    """Kite has no OAuth ``state``: the nonce travels in ``redirect_params`` (BKEY-1)."""
    started = await world.start(ada, await world.create(ada, "zerodha"))

    assert started.authorization_url is not None
    query = parse_qs(urlsplit(started.authorization_url).query)
    assert query["redirect_params"] == [f"state={started.state}"]
    assert "state" not in query


async def test_a_key_provider_refuses_to_start_a_redirect(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.create(ada, "groww")

    with pytest.raises(Conflict) as refused:
        await world.start(ada, connection)

    assert refused.value.code == "credentials_required"
    assert world.base.database.table("pending_authorizations") == {}


async def test_a_disconnected_connection_cannot_be_authorized_again(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.connect(ada, "schwab")
    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)

    with pytest.raises(Conflict) as refused:
        await world.start(ada, connection)

    assert refused.value.code == "connection_disconnected"


# -------------------------------------------------------------------------- the callback


@dataclass(frozen=True)
class Flow:
    """An authorization started by ada's session, and what the provider sent back."""

    provider: str
    user: User
    connection: ProviderConnection
    state: str
    params: dict[str, str]


@pytest.fixture(params=REDIRECTING)
async def flow(world: ConnectionsWorld, ada: User, request: pytest.FixtureRequest) -> Flow:
    provider: str = request.param
    connection = await world.create(ada, provider)
    started = await world.start(ada, connection)
    params = await world.consent(provider, started)
    assert started.state is not None and params["state"] == started.state
    return Flow(provider, ada, connection, started.state, params)


async def _refused(
    world: ConnectionsWorld,
    flow: Flow,
    params: dict[str, str],
    *,
    provider: str | None = None,
    reason: str | None,
    user: User | None = None,
    session: str | None = SESSION,
    browser_state: str | None = None,
    then: ProviderConnection | None = None,
) -> None:
    """The callback is refused as an invalid state, no provider is asked for a token, the
    connection is as it was (``then``) and the refusal is audited with ``reason``."""
    calls = {key: world.token_calls(key) for key in world.recorders}
    refusals = len(world.audit("provider_callback_refused"))

    with pytest.raises(InvalidInput) as refused:
        await world.callback(
            provider or flow.provider,
            params,
            user=user,
            session=session,
            browser_state=browser_state,
        )

    assert refused.value.code == "invalid_authorization_state"
    assert [error.field for error in refused.value.errors] == ["state"]
    assert {key: world.token_calls(key) for key in world.recorders} == calls
    assert await world.stored(flow.connection.id) == (then or flow.connection)
    audited = world.audit("provider_callback_refused")[refusals:]
    if reason is None:
        assert audited == []
    else:
        assert [(e.outcome, e.metadata["reason"]) for e in audited] == [
            (AuditOutcome.FAILURE, reason)
        ]


async def test_no_transaction_is_open_while_the_provider_mints_credentials(
    world: ConnectionsWorld, flow: Flow
) -> None:
    """A slow provider must not hold the database (on SQLite, its single write lock)."""
    uow = WatchedUnitOfWork(world.base.database)
    with world.token_requests_watched(flow.provider, uow) as in_transaction:
        outcome = await world.authorization(uow).callback(
            flow.provider,
            CALLER,
            state=flow.state,
            code=flow.params.get("code") or flow.params.get("request_token"),
            error=None,
            bound_user=flow.user.id,
            bound_session=SESSION,
        )
    assert outcome.connection.status is ConnectionStatus.CONNECTED
    assert in_transaction == [False]


async def test_no_transaction_is_open_while_a_key_provider_mints_credentials(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.create(ada, "groww")
    uow = WatchedUnitOfWork(world.base.database)
    key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
    with world.token_requests_watched("groww", uow) as in_transaction:
        connected = await world.authorization(uow).submit_key_credentials(
            ada.id, connection.id, key, CALLER
        )
    assert connected.status is ConnectionStatus.CONNECTED
    assert in_transaction == [False]


async def test_a_callback_without_a_state_is_refused(world: ConnectionsWorld, flow: Flow) -> None:
    params = {name: value for name, value in flow.params.items() if name != "state"}
    await _refused(world, flow, params, user=flow.user, reason="missing_state")


async def test_a_callback_with_an_unknown_state_is_refused(
    world: ConnectionsWorld, flow: Flow
) -> None:
    params = {**flow.params, "state": new_state()}
    await _refused(world, flow, params, user=flow.user, reason="unknown_or_spent_state")


async def test_a_replayed_callback_is_refused(world: ConnectionsWorld, flow: Flow) -> None:
    first = await world.callback(flow.provider, flow.params, user=flow.user)
    assert first.connection.status is ConnectionStatus.CONNECTED
    assert world.token_calls(flow.provider) == 1

    await _refused(
        world,
        flow,
        flow.params,
        user=flow.user,
        reason="unknown_or_spent_state",
        then=first.connection,
    )


async def test_a_callback_ten_minutes_late_is_refused(world: ConnectionsWorld, flow: Flow) -> None:
    world.clock.advance(minutes=10)
    await _refused(world, flow, flow.params, user=flow.user, reason="unknown_or_spent_state")


async def test_a_state_delivered_to_another_providers_callback_is_refused(
    world: ConnectionsWorld, flow: Flow
) -> None:
    await _refused(
        world,
        flow,
        flow.params,
        provider=ELSEWHERE[flow.provider],
        user=flow.user,
        reason="unknown_or_spent_state",
    )


async def test_another_users_bearer_cannot_complete_the_flow(
    world: ConnectionsWorld, flow: Flow, bob: User
) -> None:
    """The login-CSRF scenario: bob's browser lands on ada's callback URL."""
    await _refused(world, flow, flow.params, user=bob, reason="state_of_another_caller")


async def test_another_session_of_the_same_user_cannot_complete_the_flow(
    world: ConnectionsWorld, flow: Flow
) -> None:
    await _refused(
        world,
        flow,
        flow.params,
        user=flow.user,
        session="a-session-that-did-not-start-it",
        reason="state_of_another_caller",
    )


@pytest.mark.parametrize("cookie", [None, "not-the-state"])
async def test_a_browser_without_the_matching_state_cookie_is_refused(
    world: ConnectionsWorld, flow: Flow, cookie: str | None
) -> None:
    await _refused(world, flow, flow.params, browser_state=cookie, reason="state_of_another_caller")


async def test_the_browser_holding_the_state_cookie_connects_without_a_bearer(
    world: ConnectionsWorld, flow: Flow
) -> None:
    outcome = await world.callback(flow.provider, flow.params, browser_state=flow.state)

    assert outcome.connection.status is ConnectionStatus.CONNECTED
    assert outcome.connection.id == flow.connection.id
    assert await world.stored(flow.connection.id) == outcome.connection
    assert world.token_calls(flow.provider) == 1
    pending = world.pending(flow.state)
    assert pending is not None and pending.consumed_at == world.clock.now()
    connected = world.audit("provider_connected")
    assert [(e.actor, e.target, e.metadata["repaired"]) for e in connected] == [
        (f"user:{flow.user.id}", f"connection:{flow.connection.id}", False)
    ]


async def test_a_denied_consent_keeps_the_connection_pending_with_the_reason(
    world: ConnectionsWorld, ada: User
) -> None:
    for key in REDIRECTING:
        world.sandboxes[key].settings.consent = ConsentMode.DENY
    for provider in REDIRECTING:
        connection = await world.create(ada, provider)
        started = await world.start(ada, connection)
        params = await world.consent(provider, started)

        outcome = await world.callback(provider, params, user=ada)

        assert outcome.connection.status is ConnectionStatus.PENDING, provider
        assert outcome.connection.last_error is not None
        assert outcome.connection.last_error.code == "consent_denied"
        assert await world.stored(connection.id) == outcome.connection
        assert world.token_calls(provider) == 0
        assert world.sealed(connection.id) == []
        flow = Flow(provider, ada, outcome.connection, params["state"], params)
        await _refused(world, flow, params, user=ada, reason="unknown_or_spent_state")
    denied = world.audit("provider_consent_denied")
    assert [(e.outcome, e.metadata["provider"]) for e in denied] == [
        (AuditOutcome.FAILURE, key) for key in REDIRECTING
    ]


async def test_a_connection_that_needs_consent_again_is_repaired_in_place(
    world: ConnectionsWorld, ada: User
) -> None:
    first = await world.connect(ada, "schwab")
    world.clock.advance(days=1)
    started = await world.start(ada, first)
    outcome = await world.callback("schwab", await world.consent("schwab", started), user=ada)

    assert outcome.connection.id == first.id
    assert outcome.connection.refresh_expires_at == world.clock.now() + timedelta(days=7)
    assert [e.metadata["repaired"] for e in world.audit("provider_connected")] == [False, True]


async def test_the_owner_hears_of_a_new_broker_account_and_of_its_disconnection_once_each(
    world: ConnectionsWorld, ada: User
) -> None:
    """NOTIF-1: connecting a broker account for the first time and disconnecting it are mailed
    to the stored address; logging in again to the same connection (Kite's daily login) is
    not news."""
    connection = await world.connect(ada, "zerodha")
    world.clock.advance(days=1)
    started = await world.start(ada, connection)
    await world.callback("zerodha", await world.consent("zerodha", started), user=ada)
    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)
    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)

    mails = world.base.mails()
    assert [m.template for m in mails] == ["connection_added", "connection_disconnected"]
    assert all(m.recipient == ada.email.value for m in mails)
    assert "was connected to Zerodha" in mails[0].text
    assert "was disconnected" in mails[1].text


async def test_a_callback_for_a_connection_disconnected_since_the_start_never_reaches_the_provider(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.create(ada, "upstox")
    params = await world.consent("upstox", await world.start(ada, connection))
    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)

    with pytest.raises(DashcoreError):
        await world.callback("upstox", params, user=ada)

    assert world.token_calls("upstox") == 0


# ---------------------------------------------------------------- credentials in the vault


@pytest.mark.parametrize("provider", ["schwab", "zerodha", "upstox", "groww"])
async def test_credentials_are_kept_only_sealed_and_open_to_working_tokens(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    connection = await world.connect(ada, provider)

    credentials = await world.credentials(connection.id)
    tokens = world.sandboxes[provider].tokens
    assert tokens.active(credentials.access_token, GrantKind.ACCESS) is not None
    if credentials.refresh_token is not None:
        assert tokens.active(credentials.refresh_token, GrantKind.REFRESH) is not None
    secrets = [s for s in (credentials.access_token, credentials.refresh_token) if s]
    [sealed] = world.sealed(connection.id)
    for secret in secrets:
        assert secret.encode() not in sealed.ciphertext
        assert secret not in repr(connection) + repr(credentials)
        assert all(secret not in repr(event) for event in world.audit())


async def test_the_credential_store_round_trips_what_it_seals(world: ConnectionsWorld) -> None:
    uow = world.uow()
    store = world.credential_store(uow)
    issued = world.clock.now()
    full = ProviderCredentials(
        "access-1", issued, "refresh-1", issued + timedelta(minutes=30), "X1"
    )
    bare = ProviderCredentials("access-2", issued)

    await store.store(UUID(int=1), full)
    await store.store(UUID(int=2), bare)
    await uow.commit()

    assert await world.credentials(UUID(int=1)) == full
    assert await world.credentials(UUID(int=2)) == bare
    assert await world.credential_store(world.uow()).forget(UUID(int=1)) is True
    with pytest.raises(NotFound):
        await world.credentials(UUID(int=3))


# ---------------------------------------------------------------------- key logins (Groww)


@pytest.mark.parametrize("kind", ["secret", "totp"])
async def test_a_groww_key_connects_at_once(world: ConnectionsWorld, ada: User, kind: str) -> None:
    connection = await world.create(ada, "groww")
    key = (
        KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
        if kind == "secret"
        else KeyCredentials(GROWW_TOTP_TOKEN, totp_code=world.base.code(GROWW_TOTP_SEED))
    )

    connected = await world.authorization(world.uow()).submit_key_credentials(
        ada.id, connection.id, key, CALLER
    )

    assert connected.status is ConnectionStatus.CONNECTED
    assert (connected.expires_at, connected.refresh_expires_at) == (NEXT_IST_0600, None)
    assert await world.stored(connection.id) == connected
    assert world.token_calls("groww") == 1
    credentials = await world.credentials(connection.id)
    assert world.sandboxes["groww"].tokens.active(credentials.access_token, GrantKind.ACCESS)


@pytest.mark.parametrize(
    "key",
    [
        KeyCredentials(GROWW_API_KEY, api_secret="not-the-secret"),
        KeyCredentials(GROWW_TOTP_TOKEN, totp_code="000000"),
    ],
    ids=["wrong secret", "wrong totp"],
)
async def test_a_refused_groww_key_leaves_the_connection_pending_with_the_reason(
    world: ConnectionsWorld, ada: User, key: KeyCredentials
) -> None:
    connection = await world.create(ada, "groww")

    with pytest.raises(InvalidInput) as refused:
        await world.authorization(world.uow()).submit_key_credentials(
            ada.id, connection.id, key, CALLER
        )

    assert refused.value.code == "invalid_credentials"
    stored = await world.stored(connection.id)
    assert stored is not None and stored.status is ConnectionStatus.PENDING
    assert stored.last_error is not None and stored.last_error.code == "invalid_credentials"
    assert world.sealed(connection.id) == []
    failed = world.audit("provider_authorization_failed")
    assert [(e.outcome, e.metadata["reason"]) for e in failed] == [
        (AuditOutcome.FAILURE, "invalid_credentials")
    ]


async def test_a_redirect_provider_refuses_key_credentials(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.create(ada, "schwab")

    with pytest.raises(Conflict) as refused:
        await world.authorization(world.uow()).submit_key_credentials(
            ada.id, connection.id, KeyCredentials("key", api_secret="secret"), CALLER
        )

    assert refused.value.code == "redirect_required"
    assert await world.stored(connection.id) == connection


# --------------------------------------------------------------------------- disconnecting


@pytest.mark.parametrize(
    ("provider", "revoked"),
    [("zerodha", "revoked"), ("upstox", "revoked"), ("schwab", "not_supported")],
)
async def test_disconnect_revokes_where_it_can_and_forgets_the_credentials(
    world: ConnectionsWorld, ada: User, provider: str, revoked: str
) -> None:
    connection = await world.connect(ada, provider)
    credentials = await world.credentials(connection.id)

    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)

    stored = await world.stored(connection.id)
    assert stored is not None and stored.status is ConnectionStatus.DISCONNECTED
    assert stored.expires_at is None
    with pytest.raises(NotFound):
        await world.credentials(connection.id)
    assert world.sealed(connection.id) == []
    still_works = world.sandboxes[provider].tokens.active(
        credentials.access_token, GrantKind.ACCESS
    )
    assert (still_works is None) is (revoked == "revoked")
    [event] = world.audit("provider_disconnected")
    assert (event.metadata["revoked"], event.metadata["deleted"]) == (revoked, False)


async def test_disconnect_with_delete_removes_the_connection(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.connect(ada, "zerodha")

    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER, delete=True)

    assert await world.stored(connection.id) is None
    assert await world.connections(world.uow()).list(ada.id) == []
    with pytest.raises(NotFound):
        await world.connections(world.uow()).get(ada.id, connection.id)
    assert world.sealed(connection.id) == []
    [event] = world.audit("provider_disconnected")
    assert (event.metadata["revoked"], event.metadata["deleted"]) == ("revoked", True)


@pytest.mark.parametrize("provider", ["zerodha", "upstox"])
async def test_a_failed_revoke_still_disconnects_and_is_audited(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    connection = await world.connect(ada, provider)
    path = "/session/token" if provider == "zerodha" else "/v2/logout"
    world.sandboxes[provider].faults.add(
        FaultRule(path=path, method="DELETE", kind=FaultKind.STATUS, status=503)
    )

    await world.authorization(world.uow()).disconnect(ada.id, connection.id, CALLER)

    stored = await world.stored(connection.id)
    assert stored is not None and stored.status is ConnectionStatus.DISCONNECTED
    assert world.sealed(connection.id) == []
    [event] = world.audit("provider_disconnected")
    assert event.metadata["revoked"] == "failed:provider_error"


# ------------------------------------------------------------------- what a connection shows


@pytest.mark.parametrize("provider", ["groww", "zerodha"])
async def test_a_daily_connection_past_its_reset_shows_it_needs_a_new_login(
    world: ConnectionsWorld, ada: User, provider: str
) -> None:
    connection = await world.connect(ada, provider)
    assert connection.expires_at == NEXT_IST_0600
    world.clock.set(NEXT_IST_0600 + timedelta(minutes=1))

    listed = await world.connections(world.uow()).list(ada.id)
    got = await world.connections(world.uow()).get(ada.id, connection.id)
    status = await world.authorization(world.uow()).status(ada.id, connection.id)

    for seen in (*listed, got, status):
        assert seen.status is ConnectionStatus.NEEDS_REAUTH
        assert seen.last_error is not None and seen.last_error.code == "credentials_expired"
        assert not seen.is_usable(world.clock.now())


async def test_a_schwab_connection_past_its_access_token_still_shows_connected(
    world: ConnectionsWorld, ada: User
) -> None:
    connection = await world.connect(ada, "schwab")
    world.clock.advance(hours=2)

    status = await world.authorization(world.uow()).status(ada.id, connection.id)

    assert status.status is ConnectionStatus.CONNECTED, "its refresh token is alive"
    assert status.last_error is None


async def test_a_new_login_after_the_reset_connects_the_same_connection_again(
    world: ConnectionsWorld, ada: User
) -> None:
    first = await world.connect(ada, "zerodha")
    world.clock.set(NEXT_IST_0600 + timedelta(hours=1))
    started = await world.start(ada, first)
    outcome = await world.callback("zerodha", await world.consent("zerodha", started), user=ada)

    shown = await world.connections(world.uow()).get(ada.id, first.id)
    assert outcome.connection.id == first.id
    assert shown.status is ConnectionStatus.CONNECTED
    assert shown.is_usable(world.clock.now())
