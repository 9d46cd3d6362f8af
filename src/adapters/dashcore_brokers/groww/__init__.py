"""Groww Trade API adapter (``reference/brokers.md`` §4): API key + checksum or TOTP token
minting, profile.

``PLUGIN`` is the entry point ``groww = dashcore_brokers.groww:PLUGIN`` of the
``dashcore.providers`` group.
"""

from __future__ import annotations

from dashcore_brokers.groww.auth import GrowwClient, groww_checksum
from dashcore_brokers.groww.plugin import GROWW_EXPIRY, GROWW_RATE_LIMIT, GrowwPlugin

__all__ = [
    "GROWW_EXPIRY",
    "GROWW_RATE_LIMIT",
    "PLUGIN",
    "GrowwClient",
    "GrowwPlugin",
    "groww_checksum",
]

PLUGIN = GrowwPlugin()
