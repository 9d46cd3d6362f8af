"""Where a /health request spends its time, without a server: drive the ASGI app in-process.

``python -m bench.profile_app`` runs each app's lifespan, then sends sequential GET /health
through the ASGI callables of bare and dashcore in alternating chunks (a shared machine's noise
hits both alike), prints microseconds per request (median and min of the chunks) and a cProfile
of dashcore: own time grouped by package and the top functions. No sockets and no server, so
the figures are the app's own cost per request; ``--log-level INFO`` includes the request log.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DASHCORE = "dashcore_http.asgi:app_from_env"
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/profile_app"),
    (b"accept", b"*/*"),
]


def load(target: str) -> ASGIApp:
    module, _, name = target.partition(":")
    factory: Callable[[], ASGIApp] = getattr(importlib.import_module(module), name)
    return factory()


class Lifespan:
    """Runs the ASGI lifespan protocol around the measurements."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {answer}")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        if self._task is not None:
            await self._task


async def one_request(app: ASGIApp, state: dict[str, Any], path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": list(HEADERS),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": dict(state),
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def compare(
    apps: dict[str, ASGIApp], path: str, count: int, rounds: int
) -> dict[str, list[float]]:
    """Microseconds per request for each app, in alternating chunks of ``count`` requests.

    The machine may be shared: chunks alternate between the apps so that noise hits all alike.
    """
    async with AsyncExitStack() as stack:
        states = {
            name: (await stack.enter_async_context(Lifespan(app))).state
            for name, app in apps.items()
        }
        for name, app in apps.items():
            for _ in range(500):  # warm-up; also checks the route answers
                status = await one_request(app, states[name], path)
                if status != 200:
                    raise RuntimeError(f"{name}: {path} answered {status}")
        timings: dict[str, list[float]] = {name: [] for name in apps}
        for index in range(rounds):
            names = list(apps) if index % 2 == 0 else list(reversed(apps))
            for name in names:
                app, state = apps[name], states[name]
                started = time.perf_counter()
                for _ in range(count):
                    await one_request(app, state, path)
                timings[name].append((time.perf_counter() - started) / count * 1e6)
    return timings


async def profiled(app: ASGIApp, path: str, count: int) -> cProfile.Profile:
    profile = cProfile.Profile()
    async with Lifespan(app) as lifespan:
        for _ in range(500):
            await one_request(app, lifespan.state, path)
        profile.enable()
        for _ in range(count):
            await one_request(app, lifespan.state, path)
        profile.disable()
    return profile


def by_package(stats: pstats.Stats, top: int = 15) -> list[tuple[str, float]]:
    """Own (tottime) seconds grouped by top-level package or stdlib module."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        totals[_package(filename)] += tottime
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


def _package(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    for root in ("/src/entrypoints/", "/src/adapters/", "/src/"):
        if root in filename:
            return filename.split(root)[1].split("/")[0]
    if filename.startswith(("~", "<")):
        return "builtins"
    return "stdlib:" + Path(filename).stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_app", description=__doc__)
    parser.add_argument("--count", type=int, default=4000, help="requests per chunk")
    parser.add_argument("--rounds", type=int, default=5, help="alternating chunks per app")
    parser.add_argument("--path", default="/health")
    parser.add_argument("--bare-only", action="store_true")
    parser.add_argument("--log-level", default="WARNING", help="DASHCORE_LOG_LEVEL")
    args = parser.parse_args(argv)

    targets = {"bare": "bench.bare_app:app_from_env"}
    with tempfile.TemporaryDirectory(prefix="dashcore-profile-") as tmp:
        if not args.bare_only:
            from dashcore_security import KeyRing

            os.environ.update(
                {
                    "DASHCORE_DATA_DIR": tmp,
                    "DASHCORE_DATABASE_URL": "memory://",
                    "DASHCORE_VAULT_KEYS": KeyRing.generate().to_env_value(),
                    "DASHCORE_LOG_LEVEL": args.log_level,
                }
            )
            targets["dashcore"] = DASHCORE
        apps = {name: load(target) for name, target in targets.items()}
        timings = asyncio.run(compare(apps, args.path, args.count, args.rounds))
        for name, values in timings.items():
            print(
                f"{name:<10}{statistics.median(values):8.1f} us/request median "
                f"(min {min(values):.1f}; in-process, no server)",
                file=sys.stderr,
            )
        if args.bare_only:
            return 0
        bare, dash = min(timings["bare"]), min(timings["dashcore"])
        print(
            f"dashcore/bare cost {dash / bare:.2f}x (min chunks); extra {dash - bare:.1f} us",
            file=sys.stderr,
        )
        profile = asyncio.run(profiled(load(DASHCORE), args.path, args.count))
    stats = pstats.Stats(profile, stream=sys.stderr)
    print("\nown time by package (profiled, includes profiler overhead):", file=sys.stderr)
    total = sum(seconds for _, seconds in by_package(stats, top=1000))
    for name, seconds in by_package(stats):
        print(f"  {name:<32}{seconds / total:7.1%}", file=sys.stderr)
    print(file=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
