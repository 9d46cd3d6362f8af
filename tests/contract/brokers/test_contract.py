"""What every broker adapter promises, checked against its sandbox: a login yields working
credentials on the provider's calendar, the descriptor tells the truth about the ports,
refresh and revoke behave where the broker has them, dead tokens mean "log in again", and the
policy's faults surface as the documented domain errors."""

from __future__ import annotations

import pytest

from dashcore.domain.errors import ProviderUnavailable, RateLimited, ReauthRequired
from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import BreakerPolicy, BreakerState, HttpPolicy, RateLimit
from dashcore_brokers.sandbox import BrokerSandbox, FaultKind, FaultRule

from .conftest import open_session
from .harness import CASES, BrokerCase, Session
from .timing import FakeTiming

REFRESHING = pytest.mark.parametrize(
    "case", [c for c in CASES if c.refreshable], ids=lambda c: c.id
)
REVOKING = pytest.mark.parametrize("case", [c for c in CASES if c.revocable], ids=lambda c: c.id)

# ---------------------------------------------------------------------------- login, profile


async def test_login_gives_credentials_that_work(case: BrokerCase, session: Session) -> None:
    credentials = await case.login(session)
    assert credentials.access_token
    assert credentials.issued_at == session.clock.now()
    assert credentials.account_ref == case.account_ref
    assert (credentials.refresh_token is not None) == case.refreshable
    assert await session.auth.profile(credentials) == case.user_id


async def test_credentials_follow_the_providers_calendar(
    case: BrokerCase, session: Session
) -> None:
    credentials = await case.login(session)
    expiry = credentials.expiry(session.auth.descriptor.expiry)
    now = session.clock.now()
    assert expiry.access_expires_at == case.access_ends(now)
    assert expiry.ends_at == case.consent_ends(now)


async def test_descriptor_matches_the_ports(case: BrokerCase, session: Session) -> None:
    descriptor = session.auth.descriptor
    auth = session.auth
    assert descriptor.key == case.plugin.key and descriptor.name == case.plugin.name
    assert descriptor.configured and descriptor.sandbox
    assert descriptor.login_style is case.plugin.login_style
    logins = {
        "oauth2_code": auth.oauth,
        "request_token": auth.request_token,
        "api_key": auth.key_login,
    }
    assert [style for style, port in logins.items() if port is not None] == [
        descriptor.login_style.value
    ]
    assert descriptor.refreshable == (auth.refresher is not None) == case.refreshable
    assert descriptor.revocable == (auth.revoker is not None) == case.revocable


def test_plugin_describes_itself_unconfigured(case: BrokerCase) -> None:
    descriptor = case.plugin.descriptor(False)
    assert not descriptor.configured and not descriptor.sandbox
    assert descriptor.key == case.plugin.key


def test_default_config_points_at_the_real_broker_over_https(case: BrokerCase) -> None:
    config = case.plugin.default_config(client_id="id", client_secret="secret")
    assert not config.sandbox
    assert config.api_base_url.startswith("https://")
    assert config.login_base_url.startswith("https://")
    assert config.http.total_timeout == 30 and config.http.connect_timeout == 10


# ------------------------------------------------------------------------- refresh and revoke


@REFRESHING
async def test_refresh_where_supported(case: BrokerCase, session: Session) -> None:
    assert session.auth.refresher is not None
    credentials = await case.login(session)
    session.clock.advance(minutes=20)
    refreshed = await session.auth.refresher.refresh(credentials)
    assert refreshed.access_token != credentials.access_token
    assert refreshed.issued_at == session.clock.now()
    # The sandbox does not rotate by default: the old refresh token is kept.
    assert refreshed.refresh_token == credentials.refresh_token
    assert refreshed.account_ref == credentials.account_ref
    assert await session.auth.profile(refreshed) == case.user_id


@REFRESHING
async def test_a_rotated_refresh_token_is_stored(case: BrokerCase, session: Session) -> None:
    assert session.auth.refresher is not None
    session.sandbox.settings.rotate_refresh_tokens = True
    credentials = await case.login(session)
    refreshed = await session.auth.refresher.refresh(credentials)
    assert refreshed.refresh_token not in (None, credentials.refresh_token)
    again = await session.auth.refresher.refresh(refreshed)
    assert await session.auth.profile(again) == case.user_id
    with pytest.raises(ReauthRequired):
        await session.auth.refresher.refresh(credentials)  # the rotated-away one


@REFRESHING
async def test_a_dead_refresh_token_needs_reauth(case: BrokerCase, session: Session) -> None:
    assert session.auth.refresher is not None
    credentials = await case.login(session)
    assert credentials.refresh_token is not None
    session.sandbox.tokens.revoke(credentials.refresh_token)
    with pytest.raises(ReauthRequired):
        await session.auth.refresher.refresh(credentials)


@REVOKING
async def test_revoke_where_supported(case: BrokerCase, session: Session) -> None:
    assert session.auth.revoker is not None
    credentials = await case.login(session)
    await session.auth.revoker.revoke(credentials)
    with pytest.raises(ReauthRequired):
        await session.auth.profile(credentials)
    await session.auth.revoker.revoke(credentials)  # already dead: still revoked, no error


@pytest.mark.parametrize("how", ["expired", "revoked"])
async def test_a_dead_access_token_needs_reauth(
    case: BrokerCase, session: Session, how: str
) -> None:
    credentials = await case.login(session)
    if how == "expired":
        session.sandbox.tokens.expire(credentials.access_token)
    else:
        session.sandbox.tokens.revoke(credentials.access_token)
    with pytest.raises(ReauthRequired):
        await session.auth.profile(credentials)


async def test_the_daily_or_fixed_expiry_is_enforced(case: BrokerCase, session: Session) -> None:
    credentials = await case.login(session)
    now = session.clock.now()
    session.clock.set(case.access_ends(now))
    with pytest.raises(ReauthRequired):
        await session.auth.profile(credentials)


# ---------------------------------------------------------------------------------- faults


def fault(sandbox: BrokerSandbox, path: str, **rule: object) -> FaultRule:
    return sandbox.faults.add(FaultRule(path=path, **rule))  # type: ignore[arg-type]


async def test_a_silent_provider_is_unavailable_after_the_timeout(
    case: BrokerCase,
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
) -> None:
    quick = HttpPolicy(connect_timeout=0.02, total_timeout=0.1)
    session = await open_session(case.plugin, sandboxes, clock, timing, http=quick)
    async with session.auth:
        fault(session.sandbox, case.token_path, kind=FaultKind.TIMEOUT, seconds=5)
        with pytest.raises(ProviderUnavailable) as failed:
            await case.login(session)
        assert failed.value.code == "provider_timeout"
        assert len([r for r in session.recorder.requests if r.method == "POST"]) == 1


async def test_5xx_on_a_read_is_retried(case: BrokerCase, session: Session) -> None:
    credentials = await case.login(session)
    fault(session.sandbox, case.profile_path, kind=FaultKind.STATUS, status=503, times=2)
    assert await session.auth.profile(credentials) == case.user_id
    reads = [r for r in session.recorder.requests if r.url.path == case.profile_path]
    assert len(reads) == 3


async def test_5xx_on_a_read_ends_unavailable_after_three_attempts(
    case: BrokerCase, session: Session
) -> None:
    credentials = await case.login(session)
    fault(session.sandbox, case.profile_path, kind=FaultKind.STATUS, status=502, times=None)
    with pytest.raises(ProviderUnavailable) as failed:
        await session.auth.profile(credentials)
    assert failed.value.code == "provider_error"
    assert len([r for r in session.recorder.requests if r.url.path == case.profile_path]) == 3


async def test_5xx_on_a_login_is_never_retried(case: BrokerCase, session: Session) -> None:
    fault(session.sandbox, case.token_path, kind=FaultKind.STATUS, status=503)
    with pytest.raises(ProviderUnavailable):
        await case.login(session)
    assert len([r for r in session.recorder.requests if r.url.path == case.token_path]) == 1


async def test_429_with_retry_after_is_rate_limited(
    case: BrokerCase, session: Session, timing: FakeTiming
) -> None:
    credentials = await case.login(session)
    fault(
        session.sandbox,
        case.profile_path,
        kind=FaultKind.STATUS,
        status=429,
        retry_after=3,
        times=None,
    )
    with pytest.raises(RateLimited) as limited:
        await session.auth.profile(credentials)
    assert limited.value.retry_after == 3
    assert timing.sleeps[-2:] == [3.0, 3.0]  # two waits between three reads


async def test_429_on_a_login_is_rate_limited_at_once(case: BrokerCase, session: Session) -> None:
    fault(session.sandbox, case.token_path, kind=FaultKind.STATUS, status=429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await case.login(session)
    assert limited.value.retry_after == 7


async def test_the_circuit_opens_then_closes_after_the_cooldown(
    case: BrokerCase,
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
) -> None:
    policy = HttpPolicy(
        breaker=BreakerPolicy(failures=5, cooldown=30),
        rate_limit=RateLimit(per_second=100, burst=100),
    )
    session = await open_session(case.plugin, sandboxes, clock, timing, http=policy)
    async with session.auth:
        credentials = await case.login(session)
        fault(session.sandbox, case.profile_path, kind=FaultKind.STATUS, status=503, times=None)
        with pytest.raises(ProviderUnavailable):
            await session.auth.profile(credentials)  # 3 failed attempts
        with pytest.raises(ProviderUnavailable) as opened:
            await session.auth.profile(credentials)  # 2 more: open
        assert opened.value.code == "provider_circuit_open"
        assert session.auth.http.breaker.state.value == BreakerState.OPEN.value
        sent = len(session.recorder.requests)
        with pytest.raises(ProviderUnavailable) as refused:
            await session.auth.profile(credentials)
        assert refused.value.code == "provider_circuit_open"
        assert len(session.recorder.requests) == sent  # not even tried
        session.sandbox.faults.clear()
        timing.advance(30)
        assert await session.auth.profile(credentials) == case.user_id
        assert session.auth.http.breaker.state is BreakerState.CLOSED
