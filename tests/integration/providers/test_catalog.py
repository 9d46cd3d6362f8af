"""The provider catalogue: what is installed (through the entry points) and what this server
can connect."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dashcore.domain.errors import Conflict, NotFound
from dashcore.ports.providers import ProviderRegistry
from dashcore_app.providers import build_container
from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, Mailbox, signed_up

BUILT_IN = {"groww", "schwab", "upstox", "zerodha"}


async def test_the_four_brokers_are_available_and_configured_as_sandboxes(
    served: Served, mailbox: Mailbox
) -> None:
    account = await signed_up(served.client, mailbox, "ada@example.com")
    available = await served.client.get(f"{API}/providers/available", headers=account.headers)
    configured = await served.client.get(f"{API}/providers/configured", headers=account.headers)
    assert available.status_code == configured.status_code == 200, available.text
    by_key = {p["key"]: p for p in available.json()}
    assert set(by_key) == BUILT_IN
    assert {p["key"] for p in configured.json()} == BUILT_IN
    assert all(p["sandbox"] and p["configured"] for p in by_key.values())
    assert by_key["schwab"]["login_style"] == "oauth2_code"
    assert by_key["zerodha"]["login_style"] == "request_token"
    assert by_key["groww"]["login_style"] == "api_key"
    assert by_key["schwab"]["refreshable"] and not by_key["upstox"]["refreshable"]


async def test_without_sandboxes_only_brokers_with_app_credentials_are_configured(
    memory_settings: Settings,
) -> None:
    """Real brokers: Schwab with its app credentials is configured (on its real https base
    URL), Kite and Upstox without theirs are only available, Groww needs none (users bring
    their keys)."""
    settings = replace(
        memory_settings,
        broker_sandboxes=False,
        provider_options={"schwab": {"client_id": "k" * 32, "client_secret": "s" * 16}},
    )
    container = build_container(settings)
    try:
        registry = await container.get(ProviderRegistry)
        assert {d.key for d in registry.available()} == BUILT_IN
        assert {d.key for d in registry.configured()} == {"groww", "schwab"}
        assert not any(d.sandbox for d in registry.available())
        with pytest.raises(Conflict) as refused:
            registry.get("zerodha")
        assert refused.value.code == "provider_not_configured"
        with pytest.raises(NotFound) as unknown:
            registry.get("fidelity")
        assert unknown.value.code == "provider_not_found"
    finally:
        await container.close()
