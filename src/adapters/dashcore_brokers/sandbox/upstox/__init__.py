"""Upstox API v2 simulator (``reference/brokers.md`` §3)."""

from __future__ import annotations

from dashcore_brokers.sandbox.upstox.sandbox import UPSTOX_USER, UpstoxSandbox

__all__ = ["UPSTOX_USER", "UpstoxSandbox"]
