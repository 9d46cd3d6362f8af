"""Fixtures of the provider-connection suites: the identity suites' app (memory, and
PostgreSQL + Redis; the end-to-end flows also on SQLite, the embedded default), whose broker
sandboxes approve consent at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox import ConsentMode
from tests.integration.identity.conftest import Backend, Served, backend, mailbox, served
from tests.migrated import migrate_database

__all__ = ["Backend", "Served", "backend", "embedded_backend", "mailbox", "sandboxes", "served"]


@pytest.fixture
async def embedded_backend(memory_settings: Settings, tmp_path: Path) -> Backend:
    """The embedded default: a migrated SQLite file, sessions and locks in the process."""
    url = f"sqlite+aiosqlite:///{tmp_path}/dashcore.db"
    await migrate_database(url)
    return Backend(replace(memory_settings, database_url=url))


@pytest.fixture
async def sandboxes(served: Served) -> BrokerSandboxes:
    """The app's simulators, set to approve every consent (tests have no person to click)."""
    simulators = await served.core.get(BrokerSandboxes)
    for sandbox in simulators.apps.values():
        sandbox.settings.consent = ConsentMode.APPROVE
    return simulators
