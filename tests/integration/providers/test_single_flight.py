"""Two API processes refreshing one connection at once spend the refresh token exactly once
(issue #5 acceptance, OAUTH-3).

The two "processes" are two apps built from the same settings — each with its own container,
adapters, HTTP clients and lifespan task, the second on its own event loop in its own thread —
sharing only PostgreSQL and Redis, exactly as two replicas behind a load balancer do. Both
reach one Schwab sandbox (the second app's simulator
provider is overridden with the first app's), so there is one refresh token to spend, and the
sandbox rotates it: a second spend would be refused and the connection would fall into
``needs_reauth``. The token endpoint answers slowly so that the two refreshes overlap.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from dishka import Provider, Scope, provide

from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox.tokens import GrantKind
from dashcore_http import create_app
from tests.conftest import PostgresSchema
from tests.integration.conftest import _Lifespan
from tests.integration.identity.conftest import Backend, Served
from tests.integration.identity.support import Account, Mailbox, audit_actions
from tests.integration.providers.support import (
    TokenCalls,
    connect_redirect,
    is_live,
    refresh,
    signed_up,
    status,
    stored_credentials,
)
from tests.integration.test_http_health import engine_in_schema

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN_ENDPOINT_DELAY = 0.3


@pytest.fixture
def backend(
    memory_settings: Settings,
    postgres_schema: PostgresSchema,
    redis_server_url: str,
    redis_prefix: str,
) -> Backend:
    """PostgreSQL + Redis only: the embedded default is one process by definition."""
    settings = replace(
        memory_settings,
        database_url=postgres_schema.url,
        redis_url=redis_server_url,
        redis_prefix=redis_prefix,
    )
    return Backend(settings, postgres_schema.schema)


class SharedSandboxes(Provider):
    """Hands a second app the simulators of the first."""

    def __init__(self, sandboxes: BrokerSandboxes) -> None:
        super().__init__()
        self._sandboxes = sandboxes

    @provide(scope=Scope.APP)
    def sandboxes(self) -> BrokerSandboxes:
        return self._sandboxes


@asynccontextmanager
async def second_process(
    backend: Backend, sandboxes: BrokerSandboxes
) -> AsyncIterator[httpx.AsyncClient]:
    assert backend.schema is not None
    app = create_app(backend.settings, engine_in_schema(backend.schema), SharedSandboxes(sandboxes))
    async with _Lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _refresh_on_its_own_loop(
    backend: Backend,
    sandboxes: BrokerSandboxes,
    account: Account,
    connection_id: str,
    ready: threading.Event,
    go: threading.Event,
) -> tuple[int, object]:
    """The second process: its own event loop, app and clients; it refreshes on ``go``."""

    async def run() -> tuple[int, object]:
        async with second_process(backend, sandboxes) as other:
            ready.set()
            await asyncio.to_thread(go.wait, 30)
            answer = await refresh(other, account, connection_id)
            return answer.status_code, answer.json()

    return asyncio.run(run())


async def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    backend: Backend, served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    schwab = sandboxes.apps["schwab"]
    account = await signed_up(served, mailbox, "twice@example.com")
    connection_id = await connect_redirect(served.client, account, "schwab")
    old = await stored_credentials(served.core, connection_id)
    assert old.refresh_token is not None
    schwab.settings.rotate_refresh_tokens = True
    calls = TokenCalls.watch(schwab, "schwab", delay=TOKEN_ENDPOINT_DELAY)
    ready, go = threading.Event(), threading.Event()
    other = asyncio.create_task(
        asyncio.to_thread(
            _refresh_on_its_own_loop, backend, sandboxes, account, connection_id, ready, go
        )
    )
    assert await asyncio.to_thread(ready.wait, 30), "the second process did not start"
    go.set()
    first = await refresh(served.client, account, connection_id)
    second_status, second_body = await other

    assert second_status == 200, second_body
    assert first.json() == second_body
    assert first.status_code == 200, first.text
    assert calls.count == 1
    assert first.json()["status"] == "connected"
    assert first.json()["last_refreshed_at"] is not None
    new = await stored_credentials(served.core, connection_id)
    assert new.refresh_token is not None and new.refresh_token != old.refresh_token
    assert is_live(schwab, new.refresh_token, GrantKind.REFRESH)
    assert not is_live(schwab, old.refresh_token, GrantKind.REFRESH)
    assert (await status(served.client, account, connection_id))["status"] == "connected"
    assert (await audit_actions(served.core)).count("provider_refreshed") == 1
