"""rtask: a Redis-backed distributed task framework.

app = rtask.App("redis://localhost:6379/0")     # or "memory://"

@app.task
async def add(x: int, y: int) -> int:
    return x + y

job = await add.enqueue(1, 2)
assert await job.result(timeout=5) == 3
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import backoff, middleware
from ._app import App
from ._codec import Codec, JsonCodec, MsgpackCodec
from ._context import JobContext, current_job
from ._errors import (
    Abort,
    BackendError,
    Cancel,
    CodecError,
    ConfigError,
    EnqueueSkipped,
    InvalidInput,
    InvalidSchedule,
    JobFailed,
    JobNotFound,
    JobOutcome,
    JobStateError,
    PayloadTooLarge,
    ResultTimeout,
    Retry,
    RtaskError,
    ScheduleNotFound,
    Snooze,
    UnknownTask,
)
from ._history import Execution, ExecutionOutcome
from ._job import Job, JobInfo, JobStatus, SyncJob
from ._protocol import Retention
from ._task import BoundTask, Task
from ._unique import Replace, Unique
from ._worker import Worker, WorkerConfig

if TYPE_CHECKING:
    from ._admin import QueueStats, TaskStats, TaskType, WorkerInfo
    from ._events import Event
    from ._list import Filter as JobFilter
    from ._list import JobPage
    from ._manage import CancelledJob, Prune
    from ._schedule import Schedule, ScheduleInfo
    from ._schedules import SchedulePage

__version__ = "0.1.0"

__all__ = [
    "Abort",
    "App",
    "BackendError",
    "BoundTask",
    "Cancel",
    "CancelledJob",
    "Codec",
    "CodecError",
    "ConfigError",
    "EnqueueSkipped",
    "Event",
    "Execution",
    "ExecutionOutcome",
    "InvalidInput",
    "InvalidSchedule",
    "Job",
    "JobContext",
    "JobFailed",
    "JobFilter",
    "JobInfo",
    "JobNotFound",
    "JobOutcome",
    "JobPage",
    "JobStateError",
    "JobStatus",
    "JsonCodec",
    "MsgpackCodec",
    "PayloadTooLarge",
    "Prune",
    "QueueStats",
    "Replace",
    "ResultTimeout",
    "Retention",
    "Retry",
    "RtaskError",
    "Schedule",
    "ScheduleInfo",
    "ScheduleNotFound",
    "SchedulePage",
    "Snooze",
    "SyncJob",
    "Task",
    "TaskStats",
    "TaskType",
    "Unique",
    "UnknownTask",
    "Worker",
    "WorkerConfig",
    "WorkerInfo",
    "__version__",
    "backoff",
    "current_job",
    "middleware",
]

# The public names of the operator views (stats, listing, management,
# schedules): a worker never uses them, so their modules are imported on first
# access (PEP 562) rather than here, and a worker's start-up does not pay for
# them. Name -> (module, attribute); the TYPE_CHECKING imports mirror it.
_DEFERRED = {
    "CancelledJob": ("._manage", "CancelledJob"),
    "Event": ("._events", "Event"),
    "JobFilter": ("._list", "Filter"),
    "JobPage": ("._list", "JobPage"),
    "Prune": ("._manage", "Prune"),
    "QueueStats": ("._admin", "QueueStats"),
    "Schedule": ("._schedule", "Schedule"),
    "ScheduleInfo": ("._schedule", "ScheduleInfo"),
    "SchedulePage": ("._schedules", "SchedulePage"),
    "TaskStats": ("._admin", "TaskStats"),
    "TaskType": ("._admin", "TaskType"),
    "WorkerInfo": ("._admin", "WorkerInfo"),
}


def __getattr__(name: str) -> Any:
    """A deferred public name (see _DEFERRED), imported on first access."""
    try:
        module, attribute = _DEFERRED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value  # later accesses find it without this function
    return value


def __dir__() -> list[str]:
    """The module's names, the deferred ones included."""
    return sorted({*globals(), *_DEFERRED})
