"""``dashcore worker``'s start-up, without Redis or a database behind it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from dashcore_app.settings import Settings
from dashcore_worker import runner


async def _no_jobs(*_args: object, **_kwargs: object) -> None:
    return None


@pytest.mark.parametrize("sandboxes", [True, False])
async def test_a_worker_with_in_process_sandboxes_says_they_are_its_own(
    monkeypatch: pytest.MonkeyPatch, memory_settings: Settings, sandboxes: bool
) -> None:
    monkeypatch.setattr(runner, "run_worker", _no_jobs)
    settings = replace(
        memory_settings, redis_url="redis://127.0.0.1:1/0", broker_sandboxes=sandboxes
    )
    with capture_logs() as logs:
        await runner.serve_worker(settings, concurrency=1, scheduler=False)
    warned = [log for log in logs if log["event"] == "worker_sandboxes_private"]
    assert len(warned) == (1 if sandboxes else 0)
    if sandboxes:
        assert warned[0]["log_level"] == "warning"
        assert "dashcore sandbox serve" in warned[0]["detail"]
