from __future__ import annotations

import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox.exchange import Exchange
from tests.unit.brokers.exchange.support import START, india_exchange, us_exchange


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def us(clock: FakeClock) -> Exchange:
    return us_exchange(clock)


@pytest.fixture
def india(clock: FakeClock) -> Exchange:
    return india_exchange(clock)
