from __future__ import annotations

from typing import Protocol

__all__ = ["UnitOfWork"]


class UnitOfWork(Protocol):
    """One transaction, shared by every repository of a request or job.

    Writes made through repositories become visible to others only after ``commit()``. Whatever
    is not committed when the unit of work ends is rolled back: nothing commits implicitly.
    After ``commit()`` or ``rollback()`` the unit of work is ready for a new transaction.
    """

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...
