"""rtask: a Redis-backed distributed task framework.

app = rtask.App("redis://localhost:6379/0")     # or "memory://"

@app.task
async def add(x: int, y: int) -> int:
    return x + y

job = await add.enqueue(1, 2)
assert await job.result(timeout=5) == 3
"""

from . import backoff, middleware
from ._admin import QueueStats, TaskStats, TaskType, WorkerInfo
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
from ._events import Event
from ._history import Execution, ExecutionOutcome
from ._job import Job, JobInfo, JobStatus, SyncJob
from ._list import Filter as JobFilter
from ._list import JobPage
from ._manage import CancelledJob, Prune
from ._protocol import Retention
from ._schedule import Schedule, ScheduleInfo
from ._schedules import SchedulePage
from ._task import BoundTask, Task
from ._unique import Replace, Unique
from ._worker import Worker, WorkerConfig

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
