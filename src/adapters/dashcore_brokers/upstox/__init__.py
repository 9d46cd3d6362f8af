"""Upstox API v2 adapter (``reference/brokers.md`` §3): OAuth 2.0 login, logout, profile.

``PLUGIN`` is the entry point ``upstox = dashcore_brokers.upstox:PLUGIN`` of the
``dashcore.providers`` group.
"""

from __future__ import annotations

from dashcore_brokers.upstox.auth import UpstoxClient
from dashcore_brokers.upstox.plugin import UPSTOX_EXPIRY, UpstoxPlugin

__all__ = ["PLUGIN", "UPSTOX_EXPIRY", "UpstoxClient", "UpstoxPlugin"]

PLUGIN = UpstoxPlugin()
