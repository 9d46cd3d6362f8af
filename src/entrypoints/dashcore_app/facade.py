"""Embedding dashcore in another service: the use cases without HTTP.

    async with Dashcore.open(Settings.from_env()) as core:
        async with core.scope() as scope:
            keeper = await scope.get(SecretKeeper)
            await keeper.store("user:42", "api_token", b"...")
            await (await scope.get(UnitOfWork)).commit()

One ``scope()`` is one unit of work: what it does not commit is rolled back when it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self, TypeVar

from dishka import AsyncContainer, Provider

from dashcore_app.providers import build_container
from dashcore_app.settings import Settings

__all__ = ["Dashcore", "DashcoreScope"]

T = TypeVar("T")


class DashcoreScope:
    """The objects of one unit of work (request or job): use cases, ports, the unit of work."""

    def __init__(self, container: AsyncContainer) -> None:
        self._container = container

    async def get(self, kind: type[T]) -> T:
        return await self._container.get(kind)


class Dashcore:
    def __init__(self, container: AsyncContainer, settings: Settings) -> None:
        self.container = container
        self.settings = settings

    @classmethod
    def open(cls, settings: Settings | None = None, *overrides: Provider) -> Self:
        """Build the core from settings (default: the ``DASHCORE_*`` environment)."""
        resolved = settings or Settings.from_env()
        return cls(build_container(resolved, *overrides), resolved)

    @asynccontextmanager
    async def scope(self) -> AsyncIterator[DashcoreScope]:
        async with self.container() as request_container:
            yield DashcoreScope(request_container)

    async def get(self, kind: type[T]) -> T:
        """An application-wide object (clock, vault, engine)."""
        return await self.container.get(kind)

    async def close(self) -> None:
        await self.container.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
