"""What the API shows for a connection is what it can do: past its credentials' end (Groww's
and Kite's 06:00 IST reset, Schwab's seven-day consent) a connection reads as needing a new
login in the listing, the connection and its authorization status; a Schwab connection whose
30-minute access token ended while its refresh token lives still reads as connected.

The app runs on a FakeClock (``ClockedMailbox``) that the sandboxes share."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dashcore_app.brokers import BrokerSandboxes
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, Account, ClockedMailbox, log_in
from tests.integration.providers.support import (
    connect_groww_keys,
    connect_redirect,
    signed_up,
    status,
)


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


async def _connect(served: Served, account: Account, provider: str) -> str:
    if provider == "groww":
        return await connect_groww_keys(served.client, account)
    return await connect_redirect(served.client, account, provider)


async def _seen(served: Served, account: Account, connection_id: str) -> set[tuple[str, bool]]:
    """``(status, needs_reauth)`` of the connection as the listing, its own read and its
    authorization status show it, to a fresh sign-in (the clock may have moved past the
    last one)."""
    client = served.client
    account = await log_in(client, account.email)
    listed = await client.get(f"{API}/providers", headers=account.headers)
    assert listed.status_code == 200, listed.text
    one = await client.get(f"{API}/providers/{connection_id}", headers=account.headers)
    assert one.status_code == 200, one.text
    [in_list] = [c for c in listed.json() if c["id"] == connection_id]
    shown = (in_list, one.json(), await status(client, account, connection_id))
    return {(view["status"], view["needs_reauth"]) for view in shown}


@pytest.mark.parametrize("provider", ["groww", "zerodha"])
async def test_a_daily_connection_past_its_reset_reads_as_needing_a_new_login(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes, provider: str
) -> None:
    account = await signed_up(served, mailbox, f"{provider}-reset@example.com")
    connection_id = await _connect(served, account, provider)
    assert await _seen(served, account, connection_id) == {("connected", False)}
    ends = datetime.fromisoformat(
        (await status(served.client, account, connection_id))["expires_at"]
    )

    mailbox.clock.set(ends + timedelta(minutes=1))

    assert await _seen(served, account, connection_id) == {("needs_reauth", True)}


async def test_schwab_past_its_access_token_but_not_its_consent_reads_as_connected(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    account = await signed_up(served, mailbox, "schwab-access@example.com")
    connection_id = await _connect(served, account, "schwab")

    mailbox.clock.advance(timedelta(hours=2))

    assert await _seen(served, account, connection_id) == {("connected", False)}
    mailbox.clock.advance(timedelta(days=7))
    assert await _seen(served, account, connection_id) == {("needs_reauth", True)}
