"""A refresh against a broker having a bad day, through HTTP (issue #5 acceptance, OAUTH-3):
a silent or failing token endpoint is a 503 and leaves the connection connected with the error
recorded (the next try decides); a 429 passes its ``Retry-After`` on; a refresh token the broker
no longer honours moves the connection to ``needs_reauth``, and logging in again repairs the
same connection. Nothing stored is lost on the way.

The provider timeout is shortened to half a second so that a hanging broker is given up on
quickly; the sandbox's own answers are in-process and far faster than that.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox import FaultKind, FaultRule
from dashcore_brokers.sandbox.tokens import GrantKind
from tests.integration.identity.conftest import Backend, Served
from tests.integration.identity.support import Mailbox
from tests.integration.providers.support import (
    TOKEN_ENDPOINTS,
    connect_redirect,
    consent,
    create,
    is_live,
    land,
    problem_code,
    refresh,
    signed_up,
    status,
    stored_credentials,
)

PROVIDER_TIMEOUT = 0.5


@pytest.fixture
def backend(backend: Backend) -> Backend:
    settings = replace(
        backend.settings,
        provider_timeout=PROVIDER_TIMEOUT,
        provider_connect_timeout=PROVIDER_TIMEOUT,
    )
    return replace(backend, settings=settings)


def _token_fault(
    kind: FaultKind, *, answer: int = 503, retry_after: int | None = None
) -> FaultRule:
    """One firing of ``kind`` at Schwab's token endpoint (a fresh rule: rules count down)."""
    return FaultRule(
        path=TOKEN_ENDPOINTS["schwab"],
        method="POST",
        kind=kind,
        status=answer,
        seconds=5,
        retry_after=retry_after,
    )


@pytest.mark.parametrize(
    ("kind", "status_code", "code"),
    [
        (FaultKind.TIMEOUT, 504, "provider_timeout"),
        (FaultKind.STATUS, 503, "provider_error"),
        (FaultKind.STATUS, 500, "provider_error"),
    ],
    ids=["timeout", "503", "500"],
)
async def test_an_unreachable_token_endpoint_is_503_and_the_connection_stays_connected(
    served: Served,
    mailbox: Mailbox,
    sandboxes: BrokerSandboxes,
    kind: FaultKind,
    status_code: int,
    code: str,
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "outage@example.com")
    connection_id = await connect_redirect(client, account, "schwab")
    stored = await stored_credentials(served.core, connection_id)
    sandboxes.apps["schwab"].faults.add(_token_fault(kind, answer=status_code))

    failed = await refresh(client, account, connection_id)

    assert failed.status_code == 503, failed.text
    assert problem_code(failed) == code
    current = await status(client, account, connection_id)
    assert current["status"] == "connected"
    assert current["last_error"]["code"] == code
    assert await stored_credentials(served.core, connection_id) == stored
    assert is_live(sandboxes.apps["schwab"], stored.refresh_token or "", GrantKind.REFRESH)

    recovered = await refresh(client, account, connection_id)  # the fault fired once
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "connected"


async def test_a_rate_limited_refresh_passes_retry_after_on(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "throttled@example.com")
    connection_id = await connect_redirect(client, account, "schwab")
    stored = await stored_credentials(served.core, connection_id)
    sandboxes.apps["schwab"].faults.add(_token_fault(FaultKind.STATUS, answer=429, retry_after=7))

    limited = await refresh(client, account, connection_id)

    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"] == "7"
    assert (await status(client, account, connection_id))["status"] == "connected"
    assert await stored_credentials(served.core, connection_id) == stored


async def test_a_code_exchange_the_broker_turns_away_leaves_the_reason_on_the_pending_connection(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    """The state is spent and the connection waits for a new login: its last_error says why
    (the code exchange is a POST, never retried)."""
    client = served.client
    account = await signed_up(served, mailbox, "turned-away@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)
    sandboxes.apps["schwab"].faults.add(_token_fault(FaultKind.STATUS, answer=429, retry_after=7))

    limited = await land(client, account, callback)

    assert (limited.status_code, problem_code(limited)) == (429, "provider_rate_limited")
    waiting = await status(client, account, connection_id)
    assert waiting["status"] == "pending"
    assert waiting["last_error"]["code"] == "provider_rate_limited"


async def test_a_new_login_the_broker_fails_leaves_a_connected_connection_as_it_was(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "still-connected@example.com")
    connection_id = await connect_redirect(client, account, "schwab")
    before = await status(client, account, connection_id)
    callback = await consent(client, account, connection_id)
    sandboxes.apps["schwab"].faults.add(_token_fault(FaultKind.STATUS, answer=503))

    failed = await land(client, account, callback)

    assert failed.status_code == 503, failed.text
    assert await status(client, account, connection_id) == before


@pytest.mark.parametrize("dead", ["revoked", "expired"])
async def test_a_dead_refresh_token_needs_reauth_and_a_new_login_repairs_the_connection(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes, dead: str
) -> None:
    client = served.client
    schwab = sandboxes.apps["schwab"]
    account = await signed_up(served, mailbox, f"{dead}@example.com")
    connection_id = await connect_redirect(client, account, "schwab")
    old = await stored_credentials(served.core, connection_id)
    assert old.refresh_token is not None
    (schwab.tokens.revoke if dead == "revoked" else schwab.tokens.expire)(old.refresh_token)

    answered = await refresh(client, account, connection_id)

    assert answered.status_code == 200, answered.text
    assert answered.json()["needs_reauth"] is True
    current = await status(client, account, connection_id)
    assert current["status"] == "needs_reauth" and current["needs_reauth"] is True
    assert current["last_error"] is not None
    again = await refresh(client, account, connection_id)
    assert again.status_code == 409 and problem_code(again) == "not_connected"

    landed = await land(client, account, await consent(client, account, connection_id))
    assert landed.status_code == 200, landed.text
    assert landed.json()["connection_id"] == connection_id
    repaired = await status(client, account, connection_id)
    assert repaired["status"] == "connected" and repaired["last_error"] is None
    new = await stored_credentials(served.core, connection_id)
    assert new.refresh_token != old.refresh_token
    assert is_live(schwab, new.access_token, GrantKind.ACCESS)
