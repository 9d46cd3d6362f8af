"""No token, secret, code or checksum in a log line, a repr or an error (security.md BKEY-1,
AUD-2), across a whole journey with its failures, for every broker.

httpx logs each request line (URL included) at INFO. Kite's logout puts the access token in
the query string because Kite's protocol does; such lines are checked after the production
log pipeline's scrubber (``dashcore_app.logging.scrub``), the one place that renders them.
"""

from __future__ import annotations

import base64
import logging

import pytest
from structlog.testing import capture_logs

from dashcore.domain.connections import KeyCredentials, ProviderCredentials
from dashcore.domain.errors import DashcoreError
from dashcore_app.logging import scrub
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    SCHWAB_REDIRECT_URI,
    UPSTOX_REDIRECT_URI,
)
from dashcore_brokers.zerodha import kite_checksum

from .harness import BrokerCase, Session


async def _failures(
    case: BrokerCase, session: Session, credentials: ProviderCredentials
) -> list[DashcoreError]:
    """Every refusal a journey can meet; each must raise a domain error (returned)."""
    auth = session.auth
    caught: list[DashcoreError] = []
    spent = session.seen_secrets[0]
    if auth.oauth is not None:
        uri = SCHWAB_REDIRECT_URI if case.plugin.key == "schwab" else UPSTOX_REDIRECT_URI
        refused_login = auth.oauth.exchange_code(code=spent, redirect_uri=uri)
    elif auth.request_token is not None:
        refused_login = auth.request_token.exchange_request_token(spent)
    else:
        assert auth.key_login is not None
        refused_login = auth.key_login.mint(
            KeyCredentials(GROWW_API_KEY, api_secret="wrong-secret")
        )
    with pytest.raises(DashcoreError) as refused:
        await refused_login
    caught.append(refused.value)
    session.sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, status=503, times=3)
    )
    with pytest.raises(DashcoreError) as unavailable:
        await auth.profile(credentials)
    session.sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, status=429, retry_after=60)
    )
    with pytest.raises(DashcoreError) as limited:
        await auth.profile(credentials)
    session.sandbox.tokens.expire(credentials.access_token)
    with pytest.raises(DashcoreError) as expired:
        await auth.profile(credentials)
    return [*caught, unavailable.value, limited.value, expired.value]


async def test_no_secret_leaves_the_adapter(
    case: BrokerCase, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):  # the app silences them; this test reads every line
        caplog.set_level(logging.DEBUG, logger=name)
    issued: list[ProviderCredentials] = []
    raised: list[DashcoreError] = []
    with capture_logs() as logs:
        credentials = await case.login(session)
        issued.append(credentials)
        await session.auth.profile(credentials)
        if session.auth.refresher is not None:
            issued.append(await session.auth.refresher.refresh(credentials))
        raised += await _failures(case, session, issued[-1])
        if session.auth.revoker is not None:
            await session.auth.revoker.revoke(issued[-1])
        with pytest.raises(DashcoreError) as last:
            await session.auth.profile(issued[-1])  # expired, and revoked where possible
        raised.append(last.value)

    config = session.config
    secrets = {case.app_secret, *session.seen_secrets}
    for credential in issued:
        secrets |= {credential.access_token, credential.refresh_token or case.app_secret}
    if case.plugin.key == "schwab":
        secrets.add(
            base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
        )
    if case.plugin.key == "zerodha":
        secrets.add(kite_checksum(config.client_id, session.seen_secrets[0], config.client_secret))

    texts = [repr(logs)]
    for record in caplog.records:
        message = record.getMessage()
        texts.append(scrub(message) if record.name == "httpx" else message)
    for error in raised:
        texts += [str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    texts += [repr(item) for item in (*issued, config, session.auth, session.sandbox)]
    texts += [
        repr(port)
        for port in (
            session.auth.oauth,
            session.auth.request_token,
            session.auth.key_login,
            session.auth.refresher,
            session.auth.revoker,
            session.auth.http,
        )
    ]
    assert caplog.records, "the journey logged nothing at all: the check would be empty"
    for secret in secrets:
        assert len(secret) >= 8
        leaks = [text for text in texts if secret in text]
        assert not leaks, f"a secret leaked into: {leaks[0][:200]}"
