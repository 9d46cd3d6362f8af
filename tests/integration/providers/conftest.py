"""Fixtures of the provider-connection suites: the identity suites' app (memory, and
PostgreSQL + Redis), whose broker sandboxes approve consent at once."""

from __future__ import annotations

import pytest

from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox import ConsentMode
from tests.integration.identity.conftest import Backend, Served, backend, mailbox, served

__all__ = ["Backend", "Served", "backend", "mailbox", "sandboxes", "served"]


@pytest.fixture
async def sandboxes(served: Served) -> BrokerSandboxes:
    """The app's simulators, set to approve every consent (tests have no person to click)."""
    simulators = await served.core.get(BrokerSandboxes)
    for sandbox in simulators.apps.values():
        sandbox.settings.consent = ConsentMode.APPROVE
    return simulators
