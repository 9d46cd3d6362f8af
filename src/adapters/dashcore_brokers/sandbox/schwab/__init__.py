"""Charles Schwab Trader API simulator (``reference/brokers.md`` §1)."""

from __future__ import annotations

from dashcore_brokers.sandbox.schwab.sandbox import SCHWAB_USER, SchwabSandbox

__all__ = ["SCHWAB_USER", "SchwabSandbox"]
