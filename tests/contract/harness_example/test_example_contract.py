"""The example broker passes the broker contract: the worked example of docs/adapters.md."""

from __future__ import annotations

import pytest

from dashcore.domain.connections import ProviderCredentials
from dashcore.ports.brokers import BrokerGateway
from dashcore.testing import FakeClock, SandboxControl
from dashcore.testing.broker_contract import BrokerContract

from .control import ExampleControl
from .exchange import ExampleExchange
from .gateway import ExampleGateway


class TestExampleBroker(BrokerContract):
    listing_size = 60  # more than the example broker's page of 25

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def exchange(self, clock: FakeClock) -> ExampleExchange:
        return ExampleExchange(clock)

    @pytest.fixture
    def gateway(self, exchange: ExampleExchange) -> BrokerGateway:
        return ExampleGateway(exchange)

    @pytest.fixture
    def credentials(self, exchange: ExampleExchange, clock: FakeClock) -> ProviderCredentials:
        return ProviderCredentials(access_token=exchange.login(), issued_at=clock.now())

    @pytest.fixture
    def control(self, exchange: ExampleExchange) -> SandboxControl:
        return ExampleControl(exchange)
