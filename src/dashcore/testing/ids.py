from __future__ import annotations

from uuid import UUID

from dashcore.ports.ids import IdGenerator

__all__ = ["SequentialIds"]


class SequentialIds(IdGenerator):
    """Predictable, increasing version-7-shaped UUIDs for readable test output."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def new_id(self) -> UUID:
        value = self._next
        self._next += 1
        return UUID(f"00000000-0000-7000-8000-{value:012x}")
