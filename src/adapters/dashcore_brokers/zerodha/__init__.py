"""Zerodha Kite Connect v3 adapter (``reference/brokers.md`` §2): request-token login with a
checksum, refresh for approved apps, logout, profile.

``PLUGIN`` is the entry point ``zerodha = dashcore_brokers.zerodha:PLUGIN`` of the
``dashcore.providers`` group.
"""

from __future__ import annotations

from dashcore_brokers.zerodha.auth import KiteClient, kite_checksum
from dashcore_brokers.zerodha.plugin import KITE_EXPIRY, KITE_RATE_LIMIT, KitePlugin

__all__ = ["KITE_EXPIRY", "KITE_RATE_LIMIT", "PLUGIN", "KiteClient", "KitePlugin", "kite_checksum"]

PLUGIN = KitePlugin()
