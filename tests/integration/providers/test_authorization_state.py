"""The callback accepts a state only once, only fresh, only from whoever started the flow and
only at the provider it was issued for (security.md OAUTH-1, OAUTH-2, BKEY-1).

Every refusal is a 400 ``invalid_authorization_state`` problem, leaves the connection exactly as
it was, and happens before the provider's token endpoint is called (counted at the sandbox).
The app runs on a FakeClock (``ClockedMailbox``) that the sandboxes share, so a state can be
left to expire without waiting.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox import ConsentMode
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, Account, ClockedMailbox
from tests.integration.providers.support import (
    TokenCalls,
    consent,
    create,
    land,
    problem_code,
    query_of,
    signed_up,
    status,
    with_query,
)

PUBLIC = "http://127.0.0.1:8000"
"""The app's public base URL (the default): where providers send the browser back."""


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


async def _view(client: httpx.AsyncClient, account: Account, connection_id: str) -> Any:
    response = await client.get(f"{API}/providers/{connection_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert problem_code(response) == "invalid_authorization_state"


async def test_a_replayed_state_is_refused_and_changes_nothing(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "replay@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)
    assert (await land(client, account, callback)).status_code == 200
    before = await _view(client, account, connection_id)
    calls = TokenCalls.watch(sandboxes.apps["schwab"], "schwab")

    _refused(await land(client, account, callback))

    assert calls.count == 0
    assert await _view(client, account, connection_id) == before


async def test_an_expired_state_is_refused(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "late@example.com")
    connection_id = await create(client, account, "upstox")
    callback = await consent(client, account, connection_id)
    before = await _view(client, account, connection_id)
    calls = TokenCalls.watch(sandboxes.apps["upstox"], "upstox")
    mailbox.clock.advance(seconds=10 * 60 + 1)

    _refused(await land(client, account, callback))

    assert calls.count == 0
    assert await _view(client, account, connection_id) == before


async def test_a_state_fresh_to_the_last_second_is_accepted(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "prompt@example.com")
    connection_id = await create(client, account, "upstox")
    callback = await consent(client, account, connection_id)
    mailbox.clock.advance(seconds=10 * 60 - 1)

    landed = await land(client, account, callback)

    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True


async def test_another_users_bearer_cannot_complete_the_flow(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    victim = await signed_up(served, mailbox, "victim@example.com")
    attacker = await signed_up(served, mailbox, "attacker@example.com")
    connection_id = await create(client, victim, "schwab")
    callback = await consent(client, victim, connection_id)
    client.cookies.clear()
    calls = TokenCalls.watch(sandboxes.apps["schwab"], "schwab")

    _refused(await land(client, attacker, callback))

    assert calls.count == 0
    assert (await status(client, victim, connection_id))["status"] == "pending"
    listed = await client.get(f"{API}/providers", headers=attacker.headers)
    assert listed.json() == []


async def test_a_browser_without_the_state_cookie_is_refused_and_with_it_accepted(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    """The authlib cache-CSRF scenario: the attacker starts a flow in their own browser and
    lures the victim's browser (signed in, but with no state cookie of that flow, or the cookie
    of its own flow) to the callback. Only the browser that started the flow gets through."""
    client = served.client
    attacker = await signed_up(served, mailbox, "lure@example.com")
    victim = await signed_up(served, mailbox, "lured@example.com")
    schwab = sandboxes.apps["schwab"]

    async def browser_starts(account: Account) -> tuple[str, str]:
        """A browser on the public origin starts a flow; its jar keeps the state cookie."""
        connection_id = await create(client, account, "schwab")
        started = await client.post(
            f"{PUBLIC}{API}/providers/{connection_id}/authorization",
            json={},
            headers=account.headers,
        )
        assert started.status_code == 200, started.text
        assert started.cookies.get("dashcore_provider_state")
        login = await client.get(started.json()["authorization_url"])
        return connection_id, login.headers["location"]

    attacker_connection, attacker_callback = await browser_starts(attacker)
    attacker_cookie = dict(client.cookies)
    client.cookies.clear()
    await browser_starts(victim)  # the victim's browser holds its own, different state cookie
    calls = TokenCalls.watch(schwab, "schwab")

    _refused(await land(client, None, attacker_callback))  # victim's cookie, no bearer
    client.cookies.clear()
    _refused(await land(client, None, attacker_callback))  # no cookie, no bearer
    assert calls.count == 0
    assert (await status(client, attacker, attacker_connection))["status"] == "pending"

    attacker_connection, attacker_callback = await browser_starts(attacker)
    landed = await land(client, None, attacker_callback)  # the starting browser, no bearer
    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True
    assert attacker_cookie  # the first flow's cookie existed and was not what let it through
    cleared = landed.headers.get("set-cookie", "")
    assert "dashcore_provider_state=" in cleared and "Max-Age=0" in cleared


async def test_a_schwab_state_at_the_upstox_callback_is_refused(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "mixup@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)
    before = await _view(client, account, connection_id)
    watched = [TokenCalls.watch(sandboxes.apps[key], key) for key in ("schwab", "upstox")]
    mixed = callback.replace("/callback/schwab", "/callback/upstox")

    _refused(await land(client, account, mixed))

    assert [calls.count for calls in watched] == [0, 0]
    assert await _view(client, account, connection_id) == before
    _refused(await land(client, account, callback))  # the refused attempt spent the state


@pytest.mark.parametrize("state", [None, "", "forged-state-with-no-pending-row"])
async def test_a_kite_callback_without_a_pending_row_is_refused(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes, state: str | None
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "kite-row@example.com")
    connection_id = await create(client, account, "zerodha")
    callback = await consent(client, account, connection_id)
    calls = TokenCalls.watch(sandboxes.apps["zerodha"], "zerodha")
    params = {**query_of(callback), "state": state}
    forged = with_query(f"{PUBLIC}{API}/providers/callback/zerodha", params)

    _refused(await land(client, account, forged))

    assert calls.count == 0
    assert (await status(client, account, connection_id))["status"] == "pending"


@pytest.mark.parametrize("provider", ["schwab", "zerodha", "upstox"])
async def test_denied_consent_leaves_the_connection_pending_with_the_reason(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes, provider: str
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, f"no-{provider}@example.com")
    connection_id = await create(client, account, provider)
    sandboxes.apps[provider].settings.consent = ConsentMode.DENY
    calls = TokenCalls.watch(sandboxes.apps[provider], provider)

    landed = await land(client, account, await consent(client, account, connection_id))

    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is False
    current = await status(client, account, connection_id)
    assert current["status"] == "pending"
    assert current["last_error"]["code"] == "consent_denied"
    assert calls.count == 0


async def test_a_browser_sees_a_small_page_without_tokens(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "page@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)

    page = await client.get(callback, headers={**account.headers, "Accept": "text/html"})

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "Connected" in page.text
    assert query_of(callback)["code"] not in page.text


async def test_a_browser_whose_callback_fails_sees_why_and_loses_the_spent_state(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    """Not a JSON problem in a browser tab: a page with the reason and its code, the status
    of the problem, and the state cookie cleared."""
    client = served.client
    account = await signed_up(served, mailbox, "twice@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)
    assert (await land(client, account, callback)).status_code == 200

    page = await client.get(callback, headers={**account.headers, "Accept": "text/html"})

    assert page.status_code == 400, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Not connected" in page.text and "invalid_authorization_state" in page.text
    assert "max-age=0" in page.headers["set-cookie"].lower()
    assert query_of(callback)["code"] not in page.text


@pytest.mark.parametrize(
    "return_to",
    [
        "//1539432451",
        "//evil.example/x",
        "/a\n",
        "/\\evil.example",
        "https://evil.example",
        "/a//b",
        "/a?next=//x",
        "/%2F%2Fevil.example",
    ],
)
async def test_a_return_to_that_leaves_the_site_is_refused(
    served: Served, mailbox: ClockedMailbox, return_to: str
) -> None:
    """OAUTH-2: the callback sends the browser to ``return_to``, so only a path on this site is
    taken; a protocol-relative URL, a backslash, a scheme or a trailing newline is a 422."""
    client = served.client
    account = await signed_up(served, mailbox, "open-redirect@example.com")
    connection_id = await create(client, account, "schwab")
    response = await client.post(
        f"{API}/providers/{connection_id}/authorization",
        json={"return_to": return_to},
        headers=account.headers,
    )
    assert response.status_code == 422, response.text
    assert "return_to" in response.text
    fine = await client.post(
        f"{API}/providers/{connection_id}/authorization",
        json={"return_to": "/connections/done"},
        headers=account.headers,
    )
    assert fine.status_code == 200, fine.text
