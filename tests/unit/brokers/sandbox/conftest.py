from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.groww import GrowwSandbox
from dashcore_brokers.sandbox.schwab import SchwabSandbox
from dashcore_brokers.sandbox.upstox import UpstoxSandbox
from dashcore_brokers.sandbox.zerodha import KiteSandbox

# 2026-01-05 10:00 IST (a Monday morning in India).
START = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)


class RecordingSleep:
    """Stands in for asyncio.sleep: records the delays a fault asked for, waits for none."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def schwab(clock: FakeClock, sleep: RecordingSleep) -> SchwabSandbox:
    return SchwabSandbox(clock, sleep=sleep)


@pytest.fixture
async def schwab_client(schwab: SchwabSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=schwab)
    async with httpx.AsyncClient(transport=transport, base_url="https://schwab.test") as client:
        yield client


@pytest.fixture
def kite(clock: FakeClock) -> KiteSandbox:
    return KiteSandbox(clock)


@pytest.fixture
async def kite_client(kite: KiteSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=kite)
    async with httpx.AsyncClient(transport=transport, base_url="https://kite.test") as client:
        yield client


@pytest.fixture
def upstox(clock: FakeClock) -> UpstoxSandbox:
    return UpstoxSandbox(clock)


@pytest.fixture
async def upstox_client(upstox: UpstoxSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=upstox)
    async with httpx.AsyncClient(transport=transport, base_url="https://upstox.test") as client:
        yield client


@pytest.fixture
def groww(clock: FakeClock) -> GrowwSandbox:
    return GrowwSandbox(clock)


@pytest.fixture
async def groww_client(groww: GrowwSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=groww)
    async with httpx.AsyncClient(transport=transport, base_url="https://groww.test") as client:
        yield client
