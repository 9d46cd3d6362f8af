"""Following background work from the command line (dashcore_cli.progress)."""

from __future__ import annotations

import asyncio
import time

import pytest

from dashcore_cli import progress
from dashcore_cli.progress import POLL_SECONDS, follow


async def test_following_work_a_worker_holds_reads_at_the_polling_pace() -> None:
    """Found by QA: once the local use case returned (a worker had claimed the job), the
    command read the stored state in a tight loop instead of every ``POLL_SECONDS``."""
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        return reads

    started = time.monotonic()
    assert await follow(asyncio.sleep(0), read, lambda n: n == 4) == 4
    elapsed = time.monotonic() - started
    # the first read may come before the work's end wakes the follower; the last two wait
    assert elapsed >= 1.9 * POLL_SECONDS


async def test_the_first_read_after_the_work_ends_is_at_once() -> None:
    reads: list[float] = []

    async def work() -> None:
        await asyncio.sleep(0.05)

    async def read() -> int:
        reads.append(time.monotonic())
        return len(reads)

    started = time.monotonic()
    await follow(work(), read, lambda n: n == 2)
    assert reads[1] - started < POLL_SECONDS, "the end of the work woke the follower"


async def test_an_error_of_the_work_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)

    async def work() -> None:
        raise RuntimeError("the export failed")

    async def read() -> int:
        return 0

    with pytest.raises(RuntimeError, match="the export failed"):
        await follow(work(), read, lambda _: False)
