"""The contract-test harness: fakes and suites that adapter authors run against their code.

``BrokerContract`` is the broker adapters' suite (pytest + hypothesis); an author subclasses it
and supplies the ``gateway``, ``credentials`` and ``control`` (a :class:`SandboxControl`)
fixtures. See docs/adapters.md.
"""

from dashcore.testing.broker_contract import BrokerContract
from dashcore.testing.clock import FakeClock
from dashcore.testing.control import SandboxControl
from dashcore.testing.ids import SequentialIds

__all__ = ["BrokerContract", "FakeClock", "SandboxControl", "SequentialIds"]
