"""Breached-password checks (security.md PW-3)."""

from __future__ import annotations

from dashcore.ports.passwords import BreachedPasswords

__all__ = ["NoBreachCheck"]


class NoBreachCheck(BreachedPasswords):
    """The check turned off: nothing is sent and every password counts as never seen. Off is
    a choice made in the configuration, not an outage, so nothing is audited per password."""

    async def times_seen(self, password: str) -> int | None:
        return 0
