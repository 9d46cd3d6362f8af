"""Readiness of the database: does it answer in time, with dashcore's tables in place?"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.health import DependencyProbe
from dashcore_sql.errors import DATABASE, database_errors, not_migrated

__all__ = ["SqlDatabaseProbe"]


_REVISION = text("SELECT version_num FROM alembic_version")


class SqlDatabaseProbe(DependencyProbe):
    """The database is ready when a fresh or pooled connection reads its schema revision
    within ``timeout`` seconds; otherwise ``DependencyUnavailable(dependency="database")``,
    with code ``database_not_migrated`` when it was never migrated (or downgraded to base):
    a load balancer must not send requests that would all fail so."""

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
                        revision = (await connection.execute(_REVISION)).scalar()
        except TimeoutError as exc:
            raise DependencyUnavailable(
                "The database did not answer in time.", dependency=DATABASE
            ) from exc
        if revision is None:
            raise not_migrated()
