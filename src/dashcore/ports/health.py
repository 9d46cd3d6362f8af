from __future__ import annotations

from typing import Protocol

__all__ = ["DependencyProbe"]


class DependencyProbe(Protocol):
    """A readiness check of one dependency (``database``, ``redis``)."""

    @property
    def name(self) -> str: ...

    async def check(self, timeout: float) -> None:
        """Return when the dependency answers in time; raise ``DependencyUnavailable`` if not."""
        ...
