"""Fixtures for driving the HTTP app in-process over ASGI, lifespan included."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from dishka import Provider
from litestar import Litestar
from litestar.types import ControllerRouterHandler

from dashcore_app.settings import LogFormat, MailerKind, Settings
from dashcore_http import create_app
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


class LifespanFailed(RuntimeError):
    """The app refused to start (or to stop); the message is the app's."""


class _Lifespan:
    """The ASGI lifespan protocol, run in a task of its own as a server runs it (so that
    fixtures may start and stop it from different tasks)."""

    def __init__(self, app: Litestar) -> None:
        self._app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _expect(self, message_type: str) -> None:
        message = await self._from_app.get()
        if message["type"] != message_type:
            assert self._task is not None
            with contextlib.suppress(Exception):
                await self._task
            raise LifespanFailed(message.get("message", message["type"]))

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(
            self._app(scope, self._to_app.get, self._from_app.put)  # type: ignore[arg-type]
        )
        await self._to_app.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def __aexit__(self, *_: object) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown.complete")
        assert self._task is not None
        await self._task


@pytest.fixture
def vault_keys() -> str:
    return KeyRing.generate().to_env_value()


@pytest.fixture
def signing_keys() -> str:
    return SigningKeyRing.generate().to_env_value()


@pytest.fixture
def memory_settings(vault_keys: str, signing_keys: str) -> Settings:
    """The embedded default in memory, with fresh keys, cheap hashing and the memory mailer."""
    return Settings(
        database_url="memory://",
        vault_keys=vault_keys,
        signing_keys=signing_keys,
        log_format=LogFormat.JSON,
        hash_profile="test",
        mailer=MailerKind.MEMORY,
    )


@pytest.fixture
def serve() -> AppClient:
    """``async with serve(settings, *overrides, route_handlers=...) as client``: lifespan on.

    httpx's ASGI transport streams request bodies lazily, so a test can tell how much of a
    body the app read.
    """

    @asynccontextmanager
    async def serving(
        settings: Settings,
        *overrides: Provider,
        route_handlers: Sequence[ControllerRouterHandler] = (),
        base_url: str = "http://testserver",
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings, *overrides, route_handlers=route_handlers)
        async with _Lifespan(app):
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                yield client

    return serving


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """The JSON log lines written to stdout so far (rendered by the real processor chain)."""

    def read() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.split("\n") if line.startswith("{")]

    return read
