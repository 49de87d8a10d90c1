"""What task code can learn about the job it runs: `rtask.current_job()`."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from ._errors import RtaskError


@dataclass(slots=True)
class JobContext:
    """The running job, as seen from inside its task."""

    id: str
    queue: str
    task: str
    attempt: int
    max_attempts: int
    lease_token: str
    tags: tuple[str, ...]
    # True once the job was cancelled, timed out or is being handed back.
    # Async tasks are interrupted with CancelledError; sync tasks run in
    # threads and should check this flag in long loops. (A bool assignment is
    # atomic, and the worker only ever sets it.)
    cancelled: bool = False


_current: ContextVar[JobContext] = ContextVar("rtask_current_job")


def current_job() -> JobContext:
    """The job being run by the calling task code."""
    try:
        return _current.get()
    except LookupError:
        raise RtaskError("current_job() called outside a running task") from None
