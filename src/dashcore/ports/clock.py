from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    """The source of the current instant. ``now()`` is always timezone-aware UTC."""

    def now(self) -> datetime: ...
