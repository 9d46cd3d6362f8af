from __future__ import annotations

from typing import Protocol
from uuid import UUID

__all__ = ["IdGenerator"]


class IdGenerator(Protocol):
    """Makes new identifiers: UUIDv7, time-ordered, so inserts stay index-local."""

    def new_id(self) -> UUID: ...
