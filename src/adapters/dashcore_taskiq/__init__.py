"""Background jobs on taskiq: a Redis Streams broker with acknowledged delivery (or taskiq's
in-memory broker on the embedded default), job statuses in a taskiq result backend, the
``JobQueue`` port by task name, and schedule-tick claims.

The Redis parts (:mod:`dashcore_taskiq.streams`) need the ``worker`` extra and are imported
only where Redis is configured. The tasks themselves are the worker entrypoint's
(``dashcore_worker``): this package never imports them; it runs whatever tasks are registered
on the broker.
"""

from dashcore_taskiq.brokers import in_process_broker, start_broker, stop_broker
from dashcore_taskiq.queue import TaskiqJobQueue
from dashcore_taskiq.statuses import JobFailed, JobStatuses, JobStatusMiddleware
from dashcore_taskiq.ticks import InProcessScheduleTicks

__all__ = [
    "InProcessScheduleTicks",
    "JobFailed",
    "JobStatusMiddleware",
    "JobStatuses",
    "TaskiqJobQueue",
    "in_process_broker",
    "start_broker",
    "stop_broker",
]
