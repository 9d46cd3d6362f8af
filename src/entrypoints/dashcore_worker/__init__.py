"""Background jobs on taskiq (issue #7): the tasks, the scheduler and the worker process.

How it fits together:

* a use case enqueues work through the ``JobQueue`` port, by task name
  (``await jobs.enqueue("sync_connection", run_id=str(run.id))``);
* with Redis (``DASHCORE_REDIS_URL``) the job goes to a Redis stream and a ``dashcore worker``
  process runs it; on the embedded default it runs at once in the API process;
* each run of a task opens one dishka REQUEST scope (one unit of work), gets the use cases it
  declares and runs them; its status (``queued → running → succeeded | failed``) is kept for
  ``DASHCORE_JOBS_STATUS_TTL`` seconds and read with ``JobQueue.status`` or
  ``dashcore jobs status <id>``;
* periodic jobs come from the schedule table (:mod:`dashcore_worker.schedule`), each tick
  enqueued once however many schedulers run.

**Adding a task** — one small function in a module of :mod:`dashcore_worker.tasks` (a new
module is picked up by itself)::

    from dishka import FromDishka

    from dashcore.application.exports import RunExport
    from dashcore_worker.registry import job_task


    @job_task("run_export")
    async def run_export(export_id: str, run: FromDishka[RunExport]) -> None:
        await run(UUID(export_id))

Arguments arrive by keyword as they were enqueued (strings, integers, booleans, ``None``).
A task must be idempotent: delivery is at least once. To run it periodically, add a row to
:data:`dashcore_worker.schedule.SCHEDULE_TABLE`. See ``docs/jobs.md``.
"""
