"""Every error rtask raises, and the outcomes task code raises.

RtaskError
├── ConfigError            invalid App/task/worker configuration
├── InvalidInput           bad argument at the API (also a ValueError)
│   ├── UnknownTask        no task of that name
│   └── PayloadTooLarge    encoded arguments exceed the configured limit
├── CodecError             a payload or result cannot be encoded or decoded
├── JobNotFound            no job with that id in that queue
├── JobStateError          the job's status does not allow that change (rerun, update)
├── ResultTimeout          job.result(timeout=...) ran out of time (also a TimeoutError)
├── JobFailed              job.result() of a job that failed or was cancelled
├── BackendError           Redis could not be reached or answered with an error
├── EnqueueSkipped         a middleware's on_enqueue chose not to store the job
└── JobOutcome             raised by task code to choose the outcome of a run
    ├── Retry              run again (after `delay`), counts an attempt
    ├── Snooze             run again after `delay`, gives the attempt back
    ├── Cancel             stop for good: cancelled
    └── Abort              stop for good: failed, no more attempts
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import _redis_errors


class RtaskError(Exception):
    """Root of every error rtask raises."""


class ConfigError(RtaskError):
    """Invalid configuration of an App, a task or a worker."""


class InvalidInput(RtaskError, ValueError):
    """A bad argument at the API boundary; nothing was stored."""


class UnknownTask(InvalidInput):
    """No task is registered under that name."""


class PayloadTooLarge(InvalidInput):
    """The encoded arguments exceed the App's `max_payload_bytes`."""


class InvalidSchedule(InvalidInput):
    """A schedule that cannot fire: bad cron, unknown time zone, a zero or
    negative interval, an empty time range, or no execution time left."""


class ScheduleNotFound(RtaskError):
    """No schedule with that id exists in that queue."""


class CodecError(RtaskError):
    """A payload or result cannot be encoded or decoded."""


class JobNotFound(RtaskError):
    """No job with that id exists in that queue (it may have been pruned)."""


class JobStateError(RtaskError):
    """The job's status does not allow the change asked (e.g. updating a running
    job, rerunning an unfinished one); nothing was changed."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class ResultTimeout(RtaskError, TimeoutError):
    """The job did not finish within the timeout given to `result()`."""


class JobFailed(RtaskError):
    """`result()` was asked of a job that failed or was cancelled."""

    def __init__(self, message: str, *, status: str, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors


class BackendError(RtaskError):
    """Redis could not be reached, or answered with an error."""


class EnqueueSkipped(RtaskError):
    """Raised by a middleware's `on_enqueue` to skip a job: nothing is stored,
    and the caller of `enqueue` gets this error."""


class JobOutcome(RtaskError):
    """Base of the exceptions task code raises to choose an outcome."""


class Retry(JobOutcome):
    """Run the job again after `delay` seconds (default: the task's backoff).

    Counts an attempt: when it was the last one, the job fails.
    """

    def __init__(self, delay: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Snooze(JobOutcome):
    """Run the job again after `delay` seconds without using an attempt."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"snoozed for {delay}s")
        self.delay = delay


class Cancel(JobOutcome):
    """Stop the job for good with status `cancelled`."""

    def __init__(self, reason: str = "cancelled by the task") -> None:
        super().__init__(reason)
        self.reason = reason


class Abort(JobOutcome):
    """Stop the job for good with status `failed`, whatever attempts are left."""

    def __init__(self, reason: str = "aborted by the task") -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Turn redis-py errors into `BackendError` at the boundary."""
    try:
        yield
    except _redis_errors.redis_error() as exc:
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc
