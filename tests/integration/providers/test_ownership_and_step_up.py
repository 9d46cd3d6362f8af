"""Connections are owner-checked on every route (another user's id is a 404, as an unknown one
is), and adding or removing one needs a recent sign-in (security.md STEP-1, SESS-1 BOLA).

``auth_time`` goes stale the way it does for a real user: the app's FakeClock moves past the
300-second step-up window while the 10-minute access token stays valid.
"""

from __future__ import annotations

from typing import Any

import pytest

from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_brokers.sandbox.tokens import GrantKind
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, ClockedMailbox
from tests.integration.providers.support import (
    connect_redirect,
    create,
    is_live,
    problem_code,
    signed_up,
    status,
    stored_credentials,
)

CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=300'


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "", None),
    ("PATCH", "", {"alias": "mine now"}),
    ("DELETE", "", None),
    ("POST", "/authorization", {}),
    ("POST", "/authorization", {"api_key": "k", "api_secret": "s"}),
    ("GET", "/authorization", None),
    ("POST", "/authorization/refresh", None),
    ("DELETE", "/authorization", None),
]


async def test_another_user_gets_404_on_every_route_and_changes_nothing(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    owner = await signed_up(served, mailbox, "owner@example.com")
    other = await signed_up(served, mailbox, "other@example.com")
    connection_id = await connect_redirect(client, owner, "schwab")
    before = await status(client, owner, connection_id)
    stored = await stored_credentials(served.core, connection_id)

    for method, suffix, body in ROUTES:
        response = await client.request(
            method, f"{API}/providers/{connection_id}{suffix}", json=body, headers=other.headers
        )
        assert response.status_code == 404, (method, suffix, response.text)
        assert problem_code(response) == "connection_not_found"

    listed = await client.get(f"{API}/providers", headers=other.headers)
    assert listed.json() == []
    assert await status(client, owner, connection_id) == before
    assert await stored_credentials(served.core, connection_id) == stored
    assert is_live(sandboxes.apps["schwab"], stored.access_token, GrantKind.ACCESS)


async def test_adding_a_connection_with_a_stale_sign_in_needs_step_up(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    account = await signed_up(served, mailbox, "stale-add@example.com")
    mailbox.clock.advance(seconds=301)

    response = await served.client.post(
        f"{API}/providers", json={"provider": "schwab"}, headers=account.headers
    )

    assert response.status_code == 401, response.text
    assert problem_code(response) == "step_up_required"
    assert response.headers["www-authenticate"] == CHALLENGE
    listed = await served.client.get(f"{API}/providers", headers=account.headers)
    assert listed.status_code == 200 and listed.json() == []


async def test_removing_a_connection_with_a_stale_sign_in_needs_step_up(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "stale-remove@example.com")
    connection_id = await connect_redirect(client, account, "upstox")
    stored = await stored_credentials(served.core, connection_id)
    mailbox.clock.advance(seconds=301)

    response = await client.delete(f"{API}/providers/{connection_id}", headers=account.headers)

    assert response.status_code == 401, response.text
    assert problem_code(response) == "step_up_required"
    assert response.headers["www-authenticate"] == CHALLENGE
    assert (await status(client, account, connection_id))["status"] == "connected"
    assert is_live(sandboxes.apps["upstox"], stored.access_token, GrantKind.ACCESS)


async def test_removing_a_connection_with_a_fresh_sign_in_revokes_and_deletes_it(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "fresh-remove@example.com")
    connection_id = await connect_redirect(client, account, "zerodha")
    stored = await stored_credentials(served.core, connection_id)

    response = await client.delete(f"{API}/providers/{connection_id}", headers=account.headers)

    assert response.status_code == 204, response.text
    gone = await client.get(f"{API}/providers/{connection_id}", headers=account.headers)
    assert gone.status_code == 404
    assert not is_live(sandboxes.apps["zerodha"], stored.access_token, GrantKind.ACCESS)


async def test_disconnecting_with_a_stale_sign_in_needs_step_up(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    """Disconnecting cuts the account off its broker as removing does: a stolen session older
    than five minutes cannot do it."""
    client = served.client
    account = await signed_up(served, mailbox, "stale-disconnect@example.com")
    connection_id = await connect_redirect(client, account, "upstox")
    stored = await stored_credentials(served.core, connection_id)
    mailbox.clock.advance(seconds=301)

    response = await client.delete(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )

    assert response.status_code == 401, response.text
    assert problem_code(response) == "step_up_required"
    assert response.headers["www-authenticate"] == CHALLENGE
    assert (await status(client, account, connection_id))["status"] == "connected"
    assert is_live(sandboxes.apps["upstox"], stored.access_token, GrantKind.ACCESS)


async def test_key_credentials_with_a_stale_sign_in_need_step_up_but_a_login_link_does_not(
    served: Served, mailbox: ClockedMailbox
) -> None:
    """Groww's key binds credentials that nothing else proves: step-up, as adding a
    connection. A redirect provider's link leads to the broker's own login: a daily
    reconnect needs no fresh sign-in here."""
    client = served.client
    account = await signed_up(served, mailbox, "stale-key@example.com")
    groww = await create(client, account, "groww")
    upstox = await create(client, account, "upstox")
    mailbox.clock.advance(seconds=301)

    keyed = await client.post(
        f"{API}/providers/{groww}/authorization",
        json={"api_key": GROWW_API_KEY, "api_secret": GROWW_API_SECRET},
        headers=account.headers,
    )
    assert keyed.status_code == 401, keyed.text
    assert problem_code(keyed) == "step_up_required"
    assert (await status(client, account, groww))["status"] == "pending"
    linked = await client.post(
        f"{API}/providers/{upstox}/authorization", json={}, headers=account.headers
    )
    assert linked.status_code == 200, linked.text
