"""Zerodha Kite Connect v3 simulator (``reference/brokers.md`` §2)."""

from __future__ import annotations

from dashcore_brokers.sandbox.zerodha.sandbox import KITE_USER, KiteSandbox

__all__ = ["KITE_USER", "KiteSandbox"]
