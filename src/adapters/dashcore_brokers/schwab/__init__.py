"""Charles Schwab adapter (``reference/brokers.md`` §1): OAuth 2.0 login, refresh, profile.

``PLUGIN`` is the entry point ``schwab = dashcore_brokers.schwab:PLUGIN`` of the
``dashcore.providers`` group.
"""

from __future__ import annotations

from dashcore_brokers.schwab.auth import SchwabClient
from dashcore_brokers.schwab.plugin import SCHWAB_EXPIRY, SchwabPlugin

__all__ = ["PLUGIN", "SCHWAB_EXPIRY", "SchwabClient", "SchwabPlugin"]

PLUGIN = SchwabPlugin()
