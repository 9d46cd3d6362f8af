"""The state cookie of a redirect authorization (OAUTH-1, SESS-2) behind a proxy that ends TLS:
the request reaches dashcore as http, the browser spoke https, so the cookie is ``Secure``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, Served
from tests.integration.identity.support import API, Mailbox
from tests.integration.providers.support import create, signed_up


@pytest.fixture
def backend(memory_settings: Settings) -> Backend:
    return Backend(replace(memory_settings, public_base_url="https://app.example"))


async def test_the_state_cookie_is_secure_when_the_public_base_is_https(
    served: Served, mailbox: Mailbox
) -> None:
    client = served.client  # plain http, as from the proxy
    account = await signed_up(served, mailbox, "behind-proxy@example.com")
    connection_id = await create(client, account, "schwab")
    started = await client.post(
        f"{API}/providers/{connection_id}/authorization", json={}, headers=account.headers
    )
    assert started.status_code == 200, started.text
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("dashcore_provider_state=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite", "path"} <= attributes
    assert started.headers["strict-transport-security"].startswith("max-age=")
