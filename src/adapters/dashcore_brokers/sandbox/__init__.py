"""Wire-faithful broker simulators for tests and the embedded default.

``create_sandboxes(clock)`` returns one ASGI app per broker (``schwab``, ``zerodha``, ``upstox``,
``groww``), each speaking that broker's real wire format for login, tokens and the user profile,
with token lifetimes on the injected clock and programmable faults. Default test credentials are
the constants of :mod:`dashcore_brokers.sandbox.credentials`. See ``docs/sandboxes.md``.
"""

from __future__ import annotations

from dashcore_brokers.sandbox.core import BrokerSandbox
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_brokers.sandbox.registry import SANDBOX_KEYS, create_sandboxes, first_id_at
from dashcore_brokers.sandbox.settings import ConsentMode, SandboxSettings
from dashcore_brokers.sandbox.transport import SandboxTransport

__all__ = [
    "SANDBOX_KEYS",
    "BrokerSandbox",
    "ConsentMode",
    "FaultKind",
    "FaultRule",
    "SandboxSettings",
    "SandboxTransport",
    "create_sandboxes",
    "first_id_at",
]
