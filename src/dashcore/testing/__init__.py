"""The contract-test harness: fakes and suites that adapter authors run against their code."""

from dashcore.testing.clock import FakeClock
from dashcore.testing.ids import SequentialIds

__all__ = ["FakeClock", "SequentialIds"]
