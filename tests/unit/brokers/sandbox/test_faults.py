"""Each fault type against each broker: the profile endpoint stands in for any route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import (
    BrokerSandbox,
    FaultKind,
    FaultRule,
    SandboxTransport,
    create_sandboxes,
)

from .conftest import RecordingSleep
from .flows import CASES, BrokerCase


@pytest.fixture(params=CASES, ids=lambda case: case.key)
def case(request: pytest.FixtureRequest) -> BrokerCase:
    chosen: BrokerCase = request.param
    return chosen


@pytest.fixture
def sandbox(case: BrokerCase, clock: FakeClock, sleep: RecordingSleep) -> BrokerSandbox:
    return create_sandboxes(clock, sleep=sleep)[case.key]


@pytest.fixture
async def client(sandbox: BrokerSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox)
    async with httpx.AsyncClient(transport=transport, base_url="https://broker.test") as client:
        yield client


async def test_latency_delays_then_serves(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient, sleep: RecordingSleep
) -> None:
    headers = await case.login(client)
    sandbox.faults.add(FaultRule(path=case.profile_path, kind=FaultKind.LATENCY, seconds=2.5))
    response = await client.get(case.profile_path, headers=headers)
    assert response.status_code == 200
    assert sleep.calls == [2.5]


async def test_rate_limit_with_retry_after_then_recovers(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient
) -> None:
    headers = await case.login(client)
    sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, status=429, retry_after=3)
    )
    limited = await client.get(case.profile_path, headers=headers)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert case.is_error_body(limited.json())
    assert (await client.get(case.profile_path, headers=headers)).status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_use_the_broker_error_body(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient, status: int
) -> None:
    headers = await case.login(client)
    sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, status=status, times=2)
    )
    for _ in range(2):
        failed = await client.get(case.profile_path, headers=headers)
        assert failed.status_code == status
        assert "retry-after" not in failed.headers
        assert case.is_error_body(failed.json())
    assert (await client.get(case.profile_path, headers=headers)).status_code == 200


async def test_always_rule_keeps_failing_and_method_filter_applies(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient
) -> None:
    headers = await case.login(client)
    sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, method="POST", times=None)
    )
    assert (await client.get(case.profile_path, headers=headers)).status_code == 200
    sandbox.faults.clear()
    sandbox.faults.add(
        FaultRule(path=case.profile_path, kind=FaultKind.STATUS, status=500, times=None)
    )
    for _ in range(3):
        assert (await client.get(case.profile_path, headers=headers)).status_code == 500


async def test_hang_answers_504_after_the_delay(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient, sleep: RecordingSleep
) -> None:
    headers = await case.login(client)
    sandbox.faults.add(FaultRule(path=case.profile_path, kind=FaultKind.TIMEOUT, seconds=60))
    response = await client.get(case.profile_path, headers=headers)
    assert sleep.calls == [60]
    assert response.status_code == 504
    assert case.is_error_body(response.json())


async def test_hang_makes_the_client_time_out(case: BrokerCase, clock: FakeClock) -> None:
    sandbox = create_sandboxes(clock)[case.key]  # real asyncio.sleep
    transport = SandboxTransport(app=sandbox)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://broker.test", timeout=0.05
    ) as client:
        headers = await case.login(client)
        sandbox.faults.add(FaultRule(path=case.profile_path, kind=FaultKind.TIMEOUT, seconds=30))
        with pytest.raises(httpx.ReadTimeout):
            await client.get(case.profile_path, headers=headers)
        assert (await client.get(case.profile_path, headers=headers)).status_code == 200


async def test_expired_and_revoked_tokens_are_refused(
    case: BrokerCase, sandbox: BrokerSandbox, client: httpx.AsyncClient
) -> None:
    headers = await case.login(client)
    assert sandbox.tokens.expire() >= 1
    expired = await client.get(case.profile_path, headers=headers)
    assert expired.status_code in {401, 403}
    assert case.is_error_body(expired.json())

    headers = await case.login(client)
    assert sandbox.tokens.revoke() >= 1
    revoked = await client.get(case.profile_path, headers=headers)
    assert revoked.status_code in {401, 403}
