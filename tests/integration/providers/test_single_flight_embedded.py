"""Two refreshes of one connection at once on the embedded default (SQLite, the in-process
lock): the second waits for the first and finds its result, and nobody waits on the database.

Found by QA: the waiter held its transaction (on SQLite, the write lock) while the lock's holder
needed it to store the new credentials; one request failed 503 after SQLite's 5 s busy timeout,
and every other user's requests stalled as long."""

from __future__ import annotations

import asyncio
import time

import pytest

from dashcore_app.brokers import BrokerSandboxes
from tests.integration.identity.conftest import Backend, Served
from tests.integration.identity.support import Mailbox
from tests.integration.providers.support import TokenCalls, connect_redirect, refresh, signed_up

TOKEN_ENDPOINT_DELAY = 0.3


@pytest.fixture
def backend(embedded_backend: Backend) -> Backend:
    return embedded_backend


async def test_two_refreshes_at_once_share_one_without_stalling_anyone(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    bob = await signed_up(served, mailbox, "bob@example.com")
    connection_id = await connect_redirect(served.client, ada, "schwab")
    calls = TokenCalls.watch(sandboxes.apps["schwab"], "schwab", delay=TOKEN_ENDPOINT_DELAY)

    async def bobs_profile() -> float:
        await asyncio.sleep(TOKEN_ENDPOINT_DELAY / 3)  # while the refreshes are under way
        started = time.monotonic()
        me = await served.client.get("/api/v1/auth/me", headers=bob.headers)
        assert me.status_code == 200, me.text
        return time.monotonic() - started

    first, second, bobs_wait = await asyncio.gather(
        refresh(served.client, ada, connection_id),
        refresh(served.client, ada, connection_id),
        bobs_profile(),
    )

    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json() == second.json()
    assert calls.count == 1
    assert bobs_wait < 2, "another user's request waited on the database"
