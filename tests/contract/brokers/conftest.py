"""Fixtures of the broker contract suite: a fake clock, one sandbox per broker, and the
adapter under test wired to its sandbox through a recording transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import HttpPolicy
from dashcore_brokers.plugin import BrokerPlugin, ProviderConfig
from dashcore_brokers.sandbox import BrokerSandbox, create_sandboxes

from .harness import CASES, START, BrokerCase, Recorder, Session
from .timing import FakeTiming


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timing() -> FakeTiming:
    return FakeTiming()


@pytest.fixture
def sandboxes(clock: FakeClock) -> dict[str, BrokerSandbox]:
    return create_sandboxes(clock)


def sandbox_config(plugin: BrokerPlugin, **changes: object) -> ProviderConfig:
    config = plugin.default_config(sandbox_url=f"https://{plugin.key}.sandbox.test")
    return replace(config, **changes)  # type: ignore[arg-type]


async def open_session(
    plugin: BrokerPlugin,
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
    *,
    approved: bool = False,
    http: HttpPolicy | None = None,
    **changes: object,
) -> Session:
    """The adapter of ``plugin`` on its sandbox (``approved``: a Kite app with refresh)."""
    sandbox = sandboxes[plugin.key]
    config = sandbox_config(plugin, http=http or plugin.default_config().http, **changes)
    if approved:
        config = replace(config, refresh_enabled=True)
        app = sandbox.apps.get(config.client_id)  # type: ignore[attr-defined]
        app.refresh_enabled = True
    recorder = Recorder(sandbox)
    auth = plugin.create(config, clock, transport=recorder, timing=timing.timing())
    return Session(sandbox, auth, recorder, clock, config)


@pytest.fixture(params=CASES, ids=lambda case: case.id)
def case(request: pytest.FixtureRequest) -> BrokerCase:
    chosen: BrokerCase = request.param
    return chosen


@pytest.fixture
async def session(
    case: BrokerCase,
    sandboxes: dict[str, BrokerSandbox],
    clock: FakeClock,
    timing: FakeTiming,
) -> AsyncIterator[Session]:
    opened = await open_session(case.plugin, sandboxes, clock, timing, approved=case.approved)
    async with opened.auth:
        yield opened
