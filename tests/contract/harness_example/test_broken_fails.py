"""The broker contract can fail: run against the broken example adapter, it fails exactly the
tests its three bugs break, each with a message that says what is wrong."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BROKEN_SUITE = """
import pytest

from tests.contract.harness_example.broken import BrokenGateway
from tests.contract.harness_example.test_example_contract import TestExampleBroker as Example


class TestBrokenBroker(Example):
    @pytest.fixture
    def gateway(self, exchange):
        return BrokenGateway(exchange)
"""


def test_the_contract_fails_the_broken_adapter_naming_each_bug(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_broken=BROKEN_SUITE)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6, failed=5)
    result.stdout.fnmatch_lines_random(
        [
            # missing pagination
            "*holdings: 60 were added at the broker, but following next_cursor to None gave "
            "25 more*",
            # float money
            "*holdings?0?.quantity is the float 5.0; money and quantities must be Decimal*",
            # wrong status mapping, seen by the scenario, the state machine and the capability
            "*the answer to cancelling order * reads open (provider status 'CANCELLED')*",
            "*in the answer to a cancel that succeeded; it must read cancel_requested or "
            "cancelled*",
            "*cancel answered open; it must read cancel_requested or cancelled*",
        ]
    )
