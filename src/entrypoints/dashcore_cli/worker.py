"""``dashcore worker`` (run background jobs) and ``dashcore jobs status <id>``."""

from __future__ import annotations

import click

from dashcore.domain.jobs import JobId, JobState
from dashcore.ports.jobs import JobQueue
from dashcore_app import Dashcore
from dashcore_app.logging import configure_logging
from dashcore_cli.context import load_settings, require_database, require_extras, run
from dashcore_worker.runner import serve_worker

__all__ = ["jobs", "worker"]


@click.command()
@click.option(
    "--concurrency",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Jobs this process runs at the same time.",
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Only run jobs; leave the schedules to other workers.",
)
def worker(concurrency: int, no_scheduler: bool) -> None:
    """Run background jobs from the Redis queue (and the schedules) until SIGTERM.

    Start as many as the load needs, on any machines sharing DASHCORE_REDIS_URL: each job
    runs on one of them, each scheduled tick is enqueued once. SIGTERM or Ctrl-C stops taking
    jobs and exits once the running ones have finished.
    """
    settings = load_settings()
    if settings.redis_url is not None:  # without, the worker says it needs Redis first
        require_database(require_extras(settings))
    configure_logging(settings)
    run(serve_worker(settings, concurrency=concurrency, scheduler=not no_scheduler))


@click.group()
def jobs() -> None:
    """Inspect background jobs."""


@jobs.command()
@click.argument("job_id")
def status(job_id: str) -> None:
    """Print where job JOB_ID stands (queued, running, succeeded, failed)."""
    settings = load_settings()
    if settings.redis_url is None:
        raise click.ClickException(
            "job statuses are shared through Redis: set DASHCORE_REDIS_URL (on the embedded "
            "default they live inside the API process)"
        )

    async def work() -> JobState:
        async with Dashcore.open(settings) as core:
            return await (await core.get(JobQueue)).status(JobId(job_id))

    state = run(work())
    click.echo(f"job       {state.id}\ntask      {state.task}\nstatus    {state.status}")
    if state.error is not None:
        click.echo(f"error     {state.error}")
    if state.finished_at is not None:
        click.echo(f"finished  {state.finished_at.isoformat()}")
