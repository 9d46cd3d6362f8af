"""The app's engine in a PostgreSQL schema of a bench's own (created, migrated and dropped by
the bench), so that a measurement never touches another's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_app.settings import Settings
from dashcore_sql import create_engine

__all__ = ["engine_in_schema"]


def engine_in_schema(schema: str) -> Provider:
    """A provider override: the app's engine on ``schema`` (first on every connection's
    ``search_path``)."""

    class SchemaEngine(Provider):
        @provide(scope=Scope.APP)
        async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
            engine = create_engine(settings.database_url, schema=schema)
            yield engine
            await engine.dispose()

    return SchemaEngine()
