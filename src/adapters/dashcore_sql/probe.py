"""Readiness of the database: can we run ``SELECT 1`` in time?"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.health import DependencyProbe
from dashcore_sql.errors import DATABASE, database_errors

__all__ = ["SqlDatabaseProbe"]


class SqlDatabaseProbe(DependencyProbe):
    """The database is ready when a fresh or pooled connection answers ``SELECT 1`` within
    ``timeout`` seconds; otherwise ``DependencyUnavailable(dependency="database")``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def name(self) -> str:
        return DATABASE

    async def check(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                with database_errors():
                    async with self._engine.connect() as connection:
                        await connection.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise DependencyUnavailable(
                "The database did not answer in time.", dependency=DATABASE
            ) from exc
