"""Readiness of the database: does it answer in time, with dashcore's tables in place?"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dashcore.domain.errors import DependencyUnavailable
from dashcore.ports.health import DependencyProbe
from dashcore_sql.engine import first_round_trip
from dashcore_sql.errors import DATABASE, database_errors, not_migrated

__all__ = ["SqlDatabaseProbe"]


_REVISION = text("SELECT version_num FROM alembic_version")


class SqlDatabaseProbe(DependencyProbe):
    """The database is ready when a fresh or pooled connection reads its schema revision
    within ``timeout`` seconds (a pooled connection the server had closed is replaced, as
    for any transaction: ``first_round_trip``); otherwise
    ``DependencyUnavailable(dependency="database")``, with code ``database_not_migrated`` when
    it was never migrated (or downgraded to base): a load balancer must not send requests
    that would all fail so."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def name(self) -> str:
        return DATABASE

    async def check(self, timeout: float) -> None:
        # The read runs as its own task, so that the answer does not wait for the driver to
        # close the connection given up on (up to two more seconds): that goes on behind it.
        reading = asyncio.ensure_future(self._revision())
        reading.add_done_callback(_ignore_late_failure)
        try:
            revision = await asyncio.wait_for(asyncio.shield(reading), timeout)
        except TimeoutError as exc:
            reading.cancel()
            raise DependencyUnavailable(
                "The database did not answer in time.", dependency=DATABASE
            ) from exc
        if revision is None:
            raise not_migrated()

    async def _revision(self) -> str | None:
        async def read(connection: AsyncConnection) -> str | None:
            revision: str | None = (await connection.execute(_REVISION)).scalar()
            return revision

        with database_errors():
            connection, revision = await first_round_trip(self._engine, read)
            await connection.close()
        return revision


def _ignore_late_failure(reading: asyncio.Future[str | None]) -> None:
    """A read given up on may still end in an error: nobody awaits it any more."""
    if not reading.cancelled():
        reading.exception()
