"""What task code can learn about the job it runs: `rtask.current_job()`."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ._errors import RtaskError
from ._progress import ReportBuffer

_create_lock = threading.Lock()


@dataclass(slots=True)
class JobContext:
    """The running job, as seen from inside its task.

    Progress and log lines are buffered and written with the worker's next
    heartbeat or with the job's outcome, whichever comes first (no round trip
    per call); pass `flush=True` or call `flush()` to write at once.
    """

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
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Created at the first report: most jobs report nothing.
    reports: ReportBuffer | None = None
    # The App and queue keys its reports are written with (None outside a worker).
    owner: tuple[Any, Any] | None = field(default=None, repr=False)

    def _buffer(self) -> ReportBuffer:
        reports = self.reports
        if reports is None:
            with _create_lock:  # a blocking task may report from several threads
                if self.reports is None:
                    app, keys = self.owner or (None, None)
                    self.reports = ReportBuffer(app, keys, self.id, self.lease_token)
                reports = self.reports
        return reports

    async def set_progress(self, value: Any, *, flush: bool = False) -> None:
        """Report progress (any JSON value: 0.42, {"done": 3, "of": 10}, …),
        visible as `job.info().progress`; the latest value wins."""
        self._buffer().set_progress(value)
        if flush:
            await self.flush()

    def set_progress_sync(self, value: Any, *, flush: bool = False) -> None:
        """`set_progress` for sync (blocking) tasks, from their thread."""
        self._buffer().set_progress(value)
        if flush:
            self.flush_sync()

    def log(self, message: str) -> None:
        """Append a line to the job's log (`job.info().log`, `rtask jobs show`);
        the newest 100 lines are kept. Safe from async and sync tasks."""
        self._buffer().log(message)

    async def flush(self) -> None:
        """Write pending progress and log lines now (one round trip)."""
        buffer = self._buffer()
        call = buffer.call()
        if call is not None and buffer.app is not None:
            await buffer.app.async_client().run(call)

    def flush_sync(self) -> None:
        """`flush` for sync tasks (uses the App's sync client)."""
        buffer = self._buffer()
        call = buffer.call()
        if call is not None and buffer.app is not None:
            buffer.app.sync_client().run(call)


_current: ContextVar[JobContext] = ContextVar("rtask_current_job")


def current_job() -> JobContext:
    """The job being run by the calling task code."""
    try:
        return _current.get()
    except LookupError:
        raise RtaskError("current_job() called outside a running task") from None
