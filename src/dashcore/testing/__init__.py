"""The contract-test harness: fakes and suites that adapter authors run against their code.

This package imports only the standard library; the suites that need pytest and hypothesis
live in their own modules: ``dashcore.testing.broker_contract.BrokerContract`` is the broker
adapters' suite, which an author subclasses, supplying the ``gateway``, ``credentials`` and
``control`` (a :class:`SandboxControl`) fixtures. See docs/adapters.md.
"""

from dashcore.testing.clock import FakeClock
from dashcore.testing.control import SandboxControl
from dashcore.testing.ids import SequentialIds

__all__ = ["FakeClock", "SandboxControl", "SequentialIds"]
