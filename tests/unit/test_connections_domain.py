"""Provider-connection domain (issue #5; brokers.md §1.2, §2.2, §3.2, §4.2, §5; security.md
OAUTH-1, OAUTH-3, BKEY-1): keys and aliases, the connection state machine with repair in place,
the providers' credential calendars, credential secrecy and pending authorizations."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.connections import (
    CREDENTIALS_EXPIRED,
    IST,
    PENDING_AUTHORIZATION_TTL,
    ConnectionError_,
    ConnectionScope,
    ConnectionStatus,
    CredentialExpiry,
    DailyReset,
    FixedLifetimes,
    KeyCredentials,
    PendingAuthorization,
    ProviderConnection,
    ProviderCredentials,
    check_return_to,
    hash_state,
    new_state,
    parse_alias,
    parse_provider_key,
)
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.testing.clock import FakeClock

CONNECTION_ID = UUID("00000000-0000-7000-8000-0000000000c1")
USER_ID = UUID("00000000-0000-7000-8000-0000000000a1")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
NAIVE = T0.replace(tzinfo=None)

SCHWAB = FixedLifetimes(access=timedelta(minutes=30), refresh=timedelta(days=7))
KITE = DailyReset(time(6, 0))
GROWW = DailyReset(time(6, 0))
UPSTOX = DailyReset(time(3, 30))

INVALID_GRANT = ConnectionError_("invalid_grant", "The provider refused the refresh token.")
PROVIDER_DOWN = ConnectionError_("provider_unavailable", "The provider did not answer.")
CONSENT_DENIED = ConnectionError_("access_denied", "You declined the request at the provider.")

TRANSITION = "invalid_connection_transition"


def pending(*, alias: str | None = "My Schwab", trade: bool = False) -> ProviderConnection:
    scopes = frozenset({ConnectionScope.TRADE}) if trade else frozenset()
    return ProviderConnection.create(
        CONNECTION_ID, USER_ID, "schwab", T0, alias=alias, scopes=scopes
    )


def in_status(status: ConnectionStatus) -> ProviderConnection:
    """A connection brought to ``status`` through the public transitions, one minute apart."""
    start = pending()
    at = T0 + timedelta(minutes=1)
    connected = start.connected(at, SCHWAB.at_consent(at))
    later = at + timedelta(minutes=1)
    return {
        ConnectionStatus.PENDING: lambda: start,
        ConnectionStatus.CONNECTED: lambda: connected,
        ConnectionStatus.REFRESHING: lambda: connected.refreshing(later),
        ConnectionStatus.NEEDS_REAUTH: lambda: connected.needs_reauth(later, INVALID_GRANT),
        ConnectionStatus.ERROR: lambda: start.failed(later, PROVIDER_DOWN),
        ConnectionStatus.DISCONNECTED: lambda: connected.disconnected(later),
    }[status]()


# ----------------------------------------------------------------------------- provider keys


@pytest.mark.parametrize(
    "key", ["schwab", "zerodha", "groww", "upstox", "ab", "a1", "upstox_v2", "a" * 32]
)
def test_a_provider_key_is_2_to_32_lowercase_ascii_letters_digits_or_underscores(key: str) -> None:
    assert parse_provider_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a",
        "a" * 33,
        "Schwab",
        "SCHWAB",
        "1schwab",
        "_schwab",
        "sch-wab",
        "sch.wab",
        "sch wab",
        " schwab",
        "schwab ",
        "schwab\n",
        "schwab\t",
        "schwab\x00",
        "sch\x1bwab",
        "schwäb",
        "ｓｃｈｗａｂ",
        "schwab/../x",
    ],
)
def test_anything_else_is_not_a_provider_key(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_provider_key(key)
    assert caught.value.code == "invalid_provider"
    assert [error.field for error in caught.value.errors] == ["provider"]


@pytest.mark.parametrize("value", [None, 42, b"schwab"])
def test_a_provider_key_that_is_not_text_is_refused_as_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_provider_key(value)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_a_provider_key_is_accepted_exactly_when_it_fits_the_rule(text: str) -> None:
    fits = re.fullmatch(r"[a-z][a-z0-9_]{1,31}", text, re.ASCII) is not None
    if fits:
        assert parse_provider_key(text) == text
    else:
        with pytest.raises(InvalidInput):
            parse_provider_key(text)


# ----------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    ("given_alias", "stored"),
    [
        (None, None),
        ("My Schwab", "My Schwab"),
        ("  Roth IRA \t\n", "Roth IRA"),
        ("a" * 60, "a" * 60),
        ("   " + "a" * 60 + "   ", "a" * 60),
        ("Émile's brokerage", "Émile's brokerage"),
        ("ज़ेरोधा पोर्टफोलियो", "ज़ेरोधा पोर्टफोलियो"),
        ("📈 Growth", "📈 Growth"),
    ],
)
def test_an_alias_is_trimmed_and_kept(given_alias: str | None, stored: str | None) -> None:
    assert parse_alias(given_alias) == stored


@pytest.mark.parametrize(
    "alias",
    [
        "",
        "   ",
        "\t\n",
        "a" * 61,
        " " + "a" * 61 + " ",
        "line\nbreak",
        "tab\tinside",
        "nul\x00",
        "escape\x1b[31m",
        "delete\x7f",
        "zero\u200bwidth",
        "right\u202eto-left",
        "c1\x85control",
    ],
)
def test_an_alias_that_is_empty_too_long_or_not_printable_is_refused(alias: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_alias(alias)
    assert caught.value.code == "invalid_alias"
    assert [error.field for error in caught.value.errors] == ["alias"]


@given(st.text(max_size=80))
def test_an_alias_is_either_clean_or_refused_never_anything_else(text: str) -> None:
    trimmed = text.strip()
    if 1 <= len(trimmed) <= 60 and trimmed.isprintable():
        assert parse_alias(text) == trimmed
    else:
        with pytest.raises(InvalidInput, match="printable"):
            parse_alias(text)


# ------------------------------------------------------------------------------------ create


def test_a_new_connection_is_pending_read_only_and_has_no_credentials() -> None:
    connection = pending()

    assert connection.id == CONNECTION_ID and connection.user_id == USER_ID
    assert connection.provider == "schwab" and connection.alias == "My Schwab"
    assert connection.status is ConnectionStatus.PENDING
    assert connection.scopes == {ConnectionScope.READ} and not connection.can_trade
    assert connection.created_at == connection.updated_at == T0
    assert connection.connected_at is None and connection.expires_at is None
    assert connection.refresh_expires_at is None and connection.last_refreshed_at is None
    assert connection.credential_expiry is None and connection.last_error is None
    assert not connection.is_usable(T0)


def test_trade_is_optional_and_always_comes_with_read() -> None:
    connection = pending(trade=True)

    assert connection.scopes == {ConnectionScope.READ, ConnectionScope.TRADE}
    assert connection.can_trade


def test_an_alias_is_optional_and_parsed_on_create() -> None:
    assert pending(alias=None).alias is None
    assert pending(alias="  IRA  ").alias == "IRA"
    with pytest.raises(InvalidInput) as caught:
        pending(alias="bad\nalias")
    assert caught.value.code == "invalid_alias"


def test_create_refuses_an_unknown_shape_of_provider_key() -> None:
    with pytest.raises(InvalidInput) as caught:
        ProviderConnection.create(CONNECTION_ID, USER_ID, "Charles Schwab", T0)
    assert caught.value.code == "invalid_provider"


def test_create_refuses_a_naive_time_and_stores_utc() -> None:
    with pytest.raises(InvalidInput) as caught:
        ProviderConnection.create(CONNECTION_ID, USER_ID, "zerodha", NAIVE)
    assert caught.value.errors[0].field == "created_at"

    in_india = datetime(2026, 3, 10, 14, 30, tzinfo=IST)
    connection = ProviderConnection.create(CONNECTION_ID, USER_ID, "zerodha", in_india)
    assert connection.created_at == T0 and connection.created_at.tzinfo is UTC


def test_a_connection_without_read_scope_cannot_exist() -> None:
    with pytest.raises(InvalidInput) as caught:
        ProviderConnection(
            id=CONNECTION_ID,
            user_id=USER_ID,
            provider="schwab",
            status=ConnectionStatus.PENDING,
            scopes=frozenset({ConnectionScope.TRADE}),
            created_at=T0,
            updated_at=T0,
        )
    assert caught.value.code == "invalid_scopes"


@pytest.mark.parametrize(
    "naive_field", ["updated_at", "connected_at", "expires_at", "refresh_expires_at"]
)
def test_a_connection_with_any_naive_timestamp_cannot_exist(naive_field: str) -> None:
    fields: dict[str, object] = {
        "id": CONNECTION_ID,
        "user_id": USER_ID,
        "provider": "schwab",
        "status": ConnectionStatus.CONNECTED,
        "scopes": frozenset({ConnectionScope.READ}),
        "created_at": T0,
        "updated_at": T0,
        "connected_at": T0,
        "expires_at": T0 + timedelta(minutes=30),
        "refresh_expires_at": T0 + timedelta(days=7),
        naive_field: NAIVE,
    }
    with pytest.raises(InvalidInput) as caught:
        ProviderConnection(**fields)  # type: ignore[arg-type]
    assert caught.value.errors[0].field == naive_field


def test_a_transition_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInput):
        pending().failed(NAIVE, PROVIDER_DOWN)


# ------------------------------------------------------------------------- the state machine

Method = Callable[[ProviderConnection, datetime], ProviderConnection]

METHODS: dict[str, tuple[Method, ConnectionStatus]] = {
    "connected": (
        lambda c, now: c.connected(now, SCHWAB.at_consent(now)),
        ConnectionStatus.CONNECTED,
    ),
    "refreshing": (lambda c, now: c.refreshing(now), ConnectionStatus.REFRESHING),
    "refreshed": (
        lambda c, now: c.refreshed(now, SCHWAB.at_refresh(now, SCHWAB.at_consent(T0))),
        ConnectionStatus.CONNECTED,
    ),
    "needs_reauth": (
        lambda c, now: c.needs_reauth(now, INVALID_GRANT),
        ConnectionStatus.NEEDS_REAUTH,
    ),
    "failed": (lambda c, now: c.failed(now, PROVIDER_DOWN), ConnectionStatus.ERROR),
    "disconnected": (lambda c, now: c.disconnected(now), ConnectionStatus.DISCONNECTED),
}

S = ConnectionStatus
ALLOWED: dict[str, frozenset[ConnectionStatus]] = {
    # A (new) authorization connects anything not final, repairing it in place.
    "connected": frozenset({S.PENDING, S.CONNECTED, S.REFRESHING, S.NEEDS_REAUTH, S.ERROR}),
    "refreshing": frozenset({S.CONNECTED}),
    # A refresh result only lands on a connection that holds credentials and is refreshing.
    "refreshed": frozenset({S.REFRESHING}),
    "needs_reauth": frozenset({S.CONNECTED, S.REFRESHING, S.ERROR}),
    # A failure on a failed connection records the newer reason (found by QA: a second wrong
    # key answered 409 invalid_connection_transition instead of the provider's refusal).
    "failed": frozenset({S.PENDING, S.CONNECTED, S.REFRESHING, S.NEEDS_REAUTH, S.ERROR}),
    "disconnected": frozenset(set(S) - {S.DISCONNECTED}),
}


def _matrix(allowed: bool) -> list[object]:
    cells: list[object] = []
    for name in METHODS:
        for status in ConnectionStatus:
            if (status in ALLOWED[name]) is not allowed:
                continue
            cells.append(pytest.param(name, status, id=f"{status}-{name}"))
    return cells


@pytest.mark.parametrize(("method", "status"), _matrix(allowed=True))
def test_every_allowed_transition_moves_the_same_connection(
    method: str, status: ConnectionStatus
) -> None:
    before = in_status(status)
    move, target = METHODS[method]
    now = T0 + timedelta(hours=1)

    after = move(before, now)

    assert after.status is target and after.updated_at == now
    assert (after.id, after.user_id, after.provider, after.alias, after.scopes) == (
        before.id,
        before.user_id,
        before.provider,
        before.alias,
        before.scopes,
    )
    assert after.created_at == before.created_at
    assert before.status is status, "a connection is immutable; a transition returns a new one"


@pytest.mark.parametrize(("method", "status"), _matrix(allowed=False))
def test_every_other_transition_is_a_conflict(method: str, status: ConnectionStatus) -> None:
    before = in_status(status)
    move, _ = METHODS[method]

    with pytest.raises(Conflict) as caught:
        move(before, T0 + timedelta(hours=1))

    assert caught.value.code == TRANSITION


def test_disconnected_is_final() -> None:
    gone = in_status(ConnectionStatus.DISCONNECTED)

    for name, (move, _) in METHODS.items():
        with pytest.raises(Conflict):
            move(gone, T0 + timedelta(hours=1))
        assert gone.status is ConnectionStatus.DISCONNECTED, name
    assert gone.expires_at is None and gone.refresh_expires_at is None
    assert gone.credential_expiry is None


def test_a_denied_consent_cannot_touch_a_disconnected_connection() -> None:
    with pytest.raises(Conflict):
        in_status(ConnectionStatus.DISCONNECTED).consent_denied(
            T0 + timedelta(hours=1), CONSENT_DENIED
        )


def test_connect_then_refresh_cycle_records_when_it_happened() -> None:
    clock = FakeClock(T0)
    connection = pending().connected(clock.now(), SCHWAB.at_consent(clock.now()))
    assert connection.connected_at == T0 and connection.last_refreshed_at is None
    assert connection.expires_at == T0 + timedelta(minutes=30)
    assert connection.refresh_expires_at == T0 + timedelta(days=7)

    clock.advance(minutes=25)
    refreshing = connection.refreshing(clock.now())
    refreshed = refreshing.refreshed(
        clock.now(),
        SCHWAB.at_refresh(clock.now(), refreshing.credential_expiry),  # type: ignore[arg-type]
    )

    assert refreshing.status is ConnectionStatus.REFRESHING
    assert refreshed.status is ConnectionStatus.CONNECTED
    assert refreshed.connected_at == T0, "a refresh is not a new consent"
    assert refreshed.last_refreshed_at == clock.now()
    assert refreshed.expires_at == clock.now() + timedelta(minutes=30)
    assert refreshed.refresh_expires_at == T0 + timedelta(days=7)


@pytest.mark.parametrize(
    "broken",
    [ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR],
)
def test_a_new_authorization_repairs_the_connection_in_place(broken: ConnectionStatus) -> None:
    before = in_status(broken)
    assert before.last_error is not None
    now = T0 + timedelta(days=2)

    repaired = before.connected(now, SCHWAB.at_consent(now))

    assert repaired.status is ConnectionStatus.CONNECTED
    assert (repaired.id, repaired.user_id, repaired.provider, repaired.alias) == (
        CONNECTION_ID,
        USER_ID,
        "schwab",
        "My Schwab",
    )
    assert repaired.created_at == T0 and repaired.scopes == before.scopes
    assert repaired.last_error is None
    assert repaired.connected_at == now and repaired.last_refreshed_at is None
    assert repaired.expires_at == now + timedelta(minutes=30)
    assert repaired.refresh_expires_at == now + timedelta(days=7)
    assert repaired.is_usable(now)


def test_needs_reauth_and_failure_record_the_reason() -> None:
    assert in_status(ConnectionStatus.NEEDS_REAUTH).last_error == INVALID_GRANT
    assert in_status(ConnectionStatus.ERROR).last_error == PROVIDER_DOWN


def test_a_successful_refresh_clears_the_previous_error() -> None:
    now = T0 + timedelta(minutes=10)
    troubled = in_status(ConnectionStatus.CONNECTED).consent_denied(now, CONSENT_DENIED)
    refreshed = troubled.refreshing(now).refreshed(
        now, SCHWAB.at_refresh(now, SCHWAB.at_consent(T0))
    )
    assert refreshed.last_error is None


@pytest.mark.parametrize(
    "status",
    [ConnectionStatus.PENDING, ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_REAUTH],
)
def test_a_denied_consent_keeps_the_status_and_records_the_reason(
    status: ConnectionStatus,
) -> None:
    before = in_status(status)
    now = T0 + timedelta(hours=3)

    after = before.consent_denied(now, CONSENT_DENIED)

    assert after.status is status
    assert after.last_error == CONSENT_DENIED and after.updated_at == now
    assert (after.id, after.expires_at, after.connected_at) == (
        before.id,
        before.expires_at,
        before.connected_at,
    )


def test_rename_changes_only_the_alias() -> None:
    now = T0 + timedelta(hours=1)
    renamed = pending().renamed("  Joint account ", now)
    assert renamed.alias == "Joint account" and renamed.updated_at == now
    assert renamed.status is ConnectionStatus.PENDING
    assert pending().renamed(None, now).alias is None
    with pytest.raises(InvalidInput):
        pending().renamed("x" * 61, now)


def test_a_connection_error_has_a_short_code_and_message() -> None:
    for code, message in [("", "no code"), ("x" * 65, "code too long"), ("wordy", "x" * 501)]:
        with pytest.raises(ValueError, match="1-64 characters"):
            ConnectionError_(code, message)
    assert ConnectionError_("x" * 64, "x" * 500).code == "x" * 64


# --------------------------------------------------------------------------------- is_usable


def test_a_connection_is_usable_until_its_credentials_end() -> None:
    kite = ProviderConnection.create(CONNECTION_ID, USER_ID, "zerodha", T0)
    minted = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
    connected = kite.connected(minted, KITE.at_consent(minted))
    dies = datetime(2026, 3, 11, 6, 0, tzinfo=IST)

    assert connected.is_usable(minted)
    assert connected.is_usable(dies - timedelta(microseconds=1))
    assert not connected.is_usable(dies)
    assert not connected.is_usable(dies + timedelta(hours=1))


def test_a_refreshable_connection_stays_usable_past_its_access_token_until_the_horizon() -> None:
    connected = in_status(ConnectionStatus.CONNECTED)
    consent = connected.connected_at
    assert consent is not None

    assert connected.is_usable(consent + timedelta(hours=1)), "the access token can be refreshed"
    assert connected.is_usable(consent + timedelta(days=7) - timedelta(seconds=1))
    assert not connected.is_usable(consent + timedelta(days=7))


@pytest.mark.parametrize(
    ("status", "usable"),
    [
        (ConnectionStatus.PENDING, False),
        (ConnectionStatus.CONNECTED, True),
        (ConnectionStatus.REFRESHING, True),
        (ConnectionStatus.NEEDS_REAUTH, False),
        (ConnectionStatus.ERROR, False),
        (ConnectionStatus.DISCONNECTED, False),
    ],
)
def test_only_a_connected_or_refreshing_connection_is_usable(
    status: ConnectionStatus, usable: bool
) -> None:
    assert in_status(status).is_usable(T0 + timedelta(minutes=3)) is usable


@pytest.mark.parametrize(("provider", "rule"), [("zerodha", KITE), ("groww", GROWW)])
def test_a_daily_connection_past_its_reset_reads_as_needing_a_new_login(
    provider: str, rule: DailyReset
) -> None:
    minted = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
    connected = ProviderConnection.create(CONNECTION_ID, USER_ID, provider, T0).connected(
        minted, rule.at_consent(minted)
    )
    dies = datetime(2026, 3, 11, 6, 0, tzinfo=IST)

    assert connected.as_of(dies - timedelta(microseconds=1)) is connected
    seen = connected.as_of(dies + timedelta(hours=2))
    assert seen.status is ConnectionStatus.NEEDS_REAUTH
    assert seen.last_error == CREDENTIALS_EXPIRED
    assert seen.updated_at == dies, "it needs a login since the reset, not since it was read"
    assert seen.is_usable(dies) is connected.is_usable(dies) is False


def test_a_refreshable_connection_reads_as_connected_until_its_horizon() -> None:
    connected = in_status(ConnectionStatus.CONNECTED)
    consent = connected.connected_at
    assert consent is not None

    assert connected.as_of(consent + timedelta(hours=1)) is connected
    assert connected.as_of(consent + timedelta(days=7)).status is ConnectionStatus.NEEDS_REAUTH


@pytest.mark.parametrize(
    "status",
    [
        ConnectionStatus.PENDING,
        ConnectionStatus.NEEDS_REAUTH,
        ConnectionStatus.ERROR,
        ConnectionStatus.DISCONNECTED,
    ],
)
def test_only_a_connected_or_refreshing_connection_reads_differently_once_expired(
    status: ConnectionStatus,
) -> None:
    connection = in_status(status)
    assert connection.as_of(T0 + timedelta(days=30)) is connection


def test_an_access_token_is_refreshed_before_use_only_while_its_horizon_is_ahead() -> None:
    connected = in_status(ConnectionStatus.CONNECTED)
    assert connected.expires_at is not None and connected.connected_at is not None
    ahead = timedelta(minutes=5)

    assert not connected.access_refresh_due(connected.expires_at - timedelta(minutes=6), ahead)
    assert connected.access_refresh_due(connected.expires_at - timedelta(minutes=5), ahead)
    assert connected.access_refresh_due(connected.expires_at + timedelta(hours=1), ahead)
    horizon = connected.connected_at + timedelta(days=7)
    assert not connected.access_refresh_due(horizon, ahead), "past the horizon: a new login"
    capped = replace(connected, expires_at=horizon)
    assert not capped.access_refresh_due(horizon - timedelta(minutes=1), ahead)
    kite = ProviderConnection.create(CONNECTION_ID, USER_ID, "zerodha", T0).connected(
        T0, KITE.at_consent(T0)
    )
    assert not kite.access_refresh_due(T0 + timedelta(hours=1), timedelta(days=1))


# ------------------------------------------------------------------ Schwab: fixed lifetimes


def test_schwab_access_lives_30_minutes_and_refresh_7_days_from_consent() -> None:
    expiry = SCHWAB.at_consent(T0)

    assert expiry.access_expires_at == T0 + timedelta(minutes=30)
    assert expiry.refresh_expires_at == T0 + timedelta(days=7)
    assert expiry.ends_at == T0 + timedelta(days=7)


def test_schwab_refreshes_never_extend_the_seven_day_horizon() -> None:
    clock = FakeClock(T0)
    expiry = SCHWAB.at_consent(clock.now())

    while clock.now() < T0 + timedelta(days=6, hours=23):
        clock.advance(minutes=25)
        expiry = SCHWAB.at_refresh(clock.now(), expiry)
        assert expiry.refresh_expires_at == T0 + timedelta(days=7)
        assert expiry.access_expires_at == min(
            clock.now() + timedelta(minutes=30), T0 + timedelta(days=7)
        )


def test_schwab_access_near_day_seven_is_capped_at_the_horizon() -> None:
    late = T0 + timedelta(days=7) - timedelta(minutes=10)

    expiry = SCHWAB.at_refresh(late, SCHWAB.at_consent(T0))

    assert expiry.access_expires_at == T0 + timedelta(days=7)
    assert expiry.refresh_expires_at == T0 + timedelta(days=7)


def test_fixed_lifetimes_without_refresh_end_with_the_access_token() -> None:
    rule = FixedLifetimes(access=timedelta(hours=1))
    expiry = rule.at_consent(T0)
    assert expiry.refresh_expires_at is None
    assert expiry.ends_at == expiry.access_expires_at == T0 + timedelta(hours=1)


def test_the_calendars_refuse_naive_times() -> None:
    naive = NAIVE
    with pytest.raises(InvalidInput):
        SCHWAB.at_consent(naive)
    with pytest.raises(InvalidInput):
        SCHWAB.at_refresh(naive, SCHWAB.at_consent(T0))
    with pytest.raises(InvalidInput):
        KITE.next_reset(naive)
    with pytest.raises(InvalidInput):
        CredentialExpiry(naive)
    with pytest.raises(InvalidInput):
        CredentialExpiry(T0, naive)


aware_instants = st.datetimes(
    min_value=datetime(1971, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    max_value=datetime(2200, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    timezones=st.builds(
        timezone,
        st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14)),
    ),
)


@given(
    consent=aware_instants,
    gaps=st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)), max_size=30),
)
def test_property_schwab_horizon_is_consent_plus_seven_days_whatever_the_refreshes(
    consent: datetime, gaps: list[timedelta]
) -> None:
    horizon = consent + timedelta(days=7)
    expiry = SCHWAB.at_consent(consent)
    refreshed_at = consent
    for gap in gaps:
        refreshed_at += gap
        expiry = SCHWAB.at_refresh(refreshed_at, expiry)
        assert expiry.refresh_expires_at == horizon
        assert expiry.access_expires_at <= horizon
        assert expiry.access_expires_at <= refreshed_at + timedelta(minutes=30)
    assert expiry.ends_at == horizon


# ------------------------------------------------------- Kite, Groww, Upstox: daily IST resets


@pytest.mark.parametrize(
    ("rule", "minted", "dies"),
    [
        pytest.param(
            KITE,
            datetime(2026, 3, 10, 5, 59, tzinfo=IST),
            datetime(2026, 3, 10, 6, 0, tzinfo=IST),
            id="kite-05:59-dies-the-same-morning",
        ),
        pytest.param(
            KITE,
            datetime(2026, 3, 10, 6, 0, tzinfo=IST),
            datetime(2026, 3, 11, 6, 0, tzinfo=IST),
            id="kite-06:00-exactly-lives-a-day",
        ),
        pytest.param(
            KITE,
            datetime(2026, 3, 10, 23, 0, tzinfo=IST),
            datetime(2026, 3, 11, 6, 0, tzinfo=IST),
            id="kite-23:00-dies-next-morning",
        ),
        pytest.param(
            GROWW,
            datetime(2026, 3, 10, 9, 15, tzinfo=IST),
            datetime(2026, 3, 11, 6, 0, tzinfo=IST),
            id="groww-market-open-dies-next-morning",
        ),
        pytest.param(
            UPSTOX,
            datetime(2026, 3, 10, 2, 30, tzinfo=IST),
            datetime(2026, 3, 10, 3, 30, tzinfo=IST),
            id="upstox-02:30-dies-an-hour-later",
        ),
        pytest.param(
            UPSTOX,
            datetime(2026, 3, 10, 3, 30, tzinfo=IST),
            datetime(2026, 3, 11, 3, 30, tzinfo=IST),
            id="upstox-03:30-exactly-lives-a-day",
        ),
        pytest.param(
            UPSTOX,
            datetime(2026, 3, 10, 15, 30, tzinfo=IST),
            datetime(2026, 3, 11, 3, 30, tzinfo=IST),
            id="upstox-market-close-dies-next-night",
        ),
        pytest.param(
            KITE,
            datetime(2026, 12, 31, 22, 0, tzinfo=UTC),
            datetime(2027, 1, 1, 6, 0, tzinfo=IST),
            id="kite-utc-input-across-new-year",
        ),
    ],
)
def test_indian_tokens_die_at_the_next_daily_reset(
    rule: DailyReset, minted: datetime, dies: datetime
) -> None:
    expiry = rule.at_consent(minted)

    assert expiry.access_expires_at == dies
    assert expiry.access_expires_at.tzinfo is UTC
    assert expiry.refresh_expires_at is None and expiry.ends_at == dies
    assert rule.at_refresh(minted, expiry) == expiry, "a re-mint follows the same calendar"


@given(after=aware_instants, rule=st.sampled_from([KITE, UPSTOX]))
def test_property_the_next_reset_is_within_a_day_and_on_the_ist_wall_time(
    after: datetime, rule: DailyReset
) -> None:
    reset = rule.next_reset(after)

    assert reset.tzinfo is UTC
    assert after < reset <= after + timedelta(hours=24)
    assert reset.astimezone(IST).time() == rule.at


# ------------------------------------------------------------------------ credentials


def test_the_providers_own_earlier_expiry_caps_the_calendar() -> None:
    minted = datetime(2026, 3, 10, 9, 0, tzinfo=IST)
    groww_says = datetime(2026, 3, 11, 5, 0, tzinfo=IST)

    expiry = ProviderCredentials("tok", minted, expires_at=groww_says).expiry(GROWW)

    assert expiry.access_expires_at == groww_says


def test_a_later_provider_expiry_is_ignored() -> None:
    minted = datetime(2026, 3, 10, 9, 0, tzinfo=IST)
    says_later = datetime(2026, 3, 11, 9, 0, tzinfo=IST)

    expiry = ProviderCredentials("tok", minted, expires_at=says_later).expiry(GROWW)

    assert expiry.access_expires_at == datetime(2026, 3, 11, 6, 0, tzinfo=IST)


def test_schwab_credentials_follow_the_consent_then_the_refresh_calendar() -> None:
    consent = ProviderCredentials("at-1", T0, refresh_token="rt-1").expiry(SCHWAB)
    assert consent == SCHWAB.at_consent(T0)

    at = T0 + timedelta(days=3)
    short = ProviderCredentials(
        "at-2", at, refresh_token="rt-2", expires_at=at + timedelta(minutes=15)
    ).expiry(SCHWAB, consent)

    assert short.access_expires_at == at + timedelta(minutes=15)
    assert short.refresh_expires_at == T0 + timedelta(days=7), "capping never moves the horizon"


def test_credentials_need_an_access_token_and_aware_times() -> None:
    with pytest.raises(ValueError, match="access token"):
        ProviderCredentials("", T0)
    with pytest.raises(InvalidInput):
        ProviderCredentials("tok", NAIVE)
    with pytest.raises(InvalidInput):
        ProviderCredentials("tok", T0, expires_at=NAIVE)


def test_credentials_never_show_their_tokens() -> None:
    credentials = ProviderCredentials(
        "access-SECRET-1", T0, refresh_token="refresh-SECRET-2", account_ref="AB1234"
    )

    for shown in (repr(credentials), str(credentials)):
        assert "SECRET" not in shown
        assert "AB1234" in shown, "the provider's user id is not secret"


def test_key_credentials_take_a_secret_or_a_totp_code() -> None:
    assert KeyCredentials("key", api_secret="secret").totp_code is None
    assert KeyCredentials("key", totp_code="123456").api_secret is None


@pytest.mark.parametrize(
    ("api_key", "api_secret", "totp_code"),
    [
        ("KEY-VALUE", None, None),
        ("KEY-VALUE", "SECRET-VALUE", "123456"),
        ("", "SECRET-VALUE", None),
        ("K" * 4097, "SECRET-VALUE", None),
    ],
    ids=["neither", "both", "no-key", "key-too-long"],
)
def test_key_credentials_need_a_key_and_exactly_one_of_secret_or_code(
    api_key: str, api_secret: str | None, totp_code: str | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        KeyCredentials(api_key, api_secret=api_secret, totp_code=totp_code)
    assert caught.value.code == "invalid_credentials"
    shown = f"{caught.value} {caught.value!r} {caught.value.errors!r}"
    assert "KEY-VALUE" not in shown and "SECRET-VALUE" not in shown and "123456" not in shown


@pytest.mark.parametrize(("api_secret", "totp_code"), [("", None), (None, "")])
def test_an_empty_secret_or_code_is_not_given(
    api_secret: str | None, totp_code: str | None
) -> None:
    with pytest.raises(InvalidInput):
        KeyCredentials("key", api_secret=api_secret, totp_code=totp_code)


def test_key_credentials_hide_everything_in_their_repr() -> None:
    for credentials in (
        KeyCredentials("KEY-VALUE", api_secret="SECRET-VALUE"),
        KeyCredentials("KEY-VALUE", totp_code="654321"),
    ):
        shown = repr(credentials) + str(credentials)
        assert "KEY-VALUE" not in shown and "SECRET-VALUE" not in shown and "654321" not in shown


# ---------------------------------------------------------------- pending authorizations


def test_a_pending_authorization_binds_user_connection_provider_and_session() -> None:
    connection = pending()
    state = new_state()
    now = T0 + timedelta(minutes=5)

    started = PendingAuthorization.start(
        state,
        connection,
        "session-1",
        "https://127.0.0.1:8443/api/v1/providers/callback",
        now,
        code_verifier="verifier-SECRET",
        return_to="/connections",
    )

    assert started.state_hash == hash_state(state)
    assert (started.user_id, started.connection_id, started.provider) == (
        USER_ID,
        CONNECTION_ID,
        "schwab",
    )
    assert started.session_id == "session-1"
    assert started.redirect_uri == "https://127.0.0.1:8443/api/v1/providers/callback"
    assert started.return_to == "/connections" and started.consumed_at is None
    assert started.created_at == now
    assert started.expires_at == now + timedelta(minutes=10) == now + PENDING_AUTHORIZATION_TTL
    shown = repr(started)
    assert state not in shown and "verifier-SECRET" not in shown


def test_a_pending_authorization_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInput):
        PendingAuthorization.start(new_state(), pending(), "session-1", "https://x.test/cb", NAIVE)


def test_a_state_is_43_base64url_characters_and_never_repeats() -> None:
    states = {new_state() for _ in range(1000)}

    assert len(states) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", state) for state in states)


def test_a_state_is_stored_as_its_sha256_hex() -> None:
    assert hash_state("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    state = new_state()
    assert hash_state(state) == hashlib.sha256(state.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_state(state))
    assert hash_state(state) != hash_state(new_state())


@pytest.mark.parametrize("path", ["/", "/connections", "/a/b-c_d/", "/x" * 100])
def test_a_return_to_on_this_site_is_kept(path: str) -> None:
    assert check_return_to(path) == path


@pytest.mark.parametrize(
    "path", ["", "//host", "/a\n", "/\\host", "http://host", "/a//b", "/a?b", "a", "/x" * 101]
)
def test_a_return_to_that_could_leave_the_site_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_return_to(path)
    assert raised.value.errors[0].field == "return_to"
