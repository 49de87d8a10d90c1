"""Job handles and records: what a producer holds after enqueueing."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._codec import decode
from ._errors import JobFailed, JobNotFound
from ._history import Execution, executions
from ._protocol import Call, CancelResult, RawJob, cancel, read_job

if TYPE_CHECKING:
    from ._app import App

R = TypeVar("R")

# Ids are 12 hex digits of milliseconds, a per-process counter and a random
# process suffix: lexicographic order is creation order within a process.
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_node = os.urandom(3).hex()


def new_job_id() -> str:
    """A new time-ordered job id (24 hex characters)."""
    return f"{time.time_ns() // 1_000_000:012x}{next(_counter) & 0xFFFFFF:06x}{_node}"


def new_job_ids(n: int) -> list[str]:
    """`n` new job ids, as `n` calls of `new_job_id` in the same millisecond."""
    prefix, node = f"{time.time_ns() // 1_000_000:012x}", _node
    return [f"{prefix}{c & 0xFFFFFF:06x}{node}" for c in itertools.islice(_counter, n)]


def _reseed_after_fork() -> None:
    global _counter, _node
    _counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
    _node = os.urandom(3).hex()


os.register_at_fork(after_in_child=_reseed_after_fork)


class JobStatus(StrEnum):
    """Where a job is in its life."""

    SCHEDULED = "scheduled"  # waiting for its time
    QUEUED = "queued"  # due, waiting for a worker
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; waiting for the next one
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts exhausted or aborted: the dead-letter set
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def _dt(ms: Any) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, UTC)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A snapshot of a job's record."""

    id: str
    queue: str
    task: str
    status: JobStatus
    attempt: int
    max_attempts: int
    priority: int
    tags: list[str]
    errors: list[dict[str, Any]]
    result: Any
    worker: str | None
    created_at: datetime | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # The last value the task reported with set_progress (None: none yet),
    # and its job log: [{"at": ms, "msg": text}, ...], oldest first.
    progress: Any = None
    log: list[dict[str, Any]] = field(default_factory=list)
    # One entry per run, oldest first (see rtask._history).
    executions: list[Execution] = field(default_factory=list)

    @classmethod
    def from_raw(cls, job_id: str, queue: str, raw: RawJob) -> JobInfo:
        st = raw.state
        if st is None:
            raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
        status = JobStatus(st["s"])
        if status is JobStatus.SCHEDULED and int(st["due"]) <= raw.now_ms:
            status = JobStatus.QUEUED
        return cls(
            id=job_id,
            queue=queue,
            task=st["t"],
            status=status,
            attempt=int(st["a"]),
            max_attempts=int(st["m"]),
            priority=int(st["p"]),
            tags=list(st.get("tg") or []),
            errors=raw.errors,
            result=decode(raw.result) if raw.result else None,
            worker=st.get("w"),
            created_at=_dt(st.get("ct")),
            scheduled_at=_dt(st.get("due")),
            started_at=_dt(st.get("st")),
            finished_at=_dt(st.get("ft")),
            labels=dict(st.get("lb") or {}),
            metadata=dict(st.get("md") or {}),
            progress=raw.progress,
            log=list(raw.log or []),
            executions=executions(st, raw.errors, raw.runs or []),
        )

    def outcome(self) -> Any:
        """The result of a succeeded job; `JobFailed` for a failed or cancelled one."""
        if self.status is JobStatus.SUCCEEDED:
            return self.result
        last = self.errors[-1]["message"] if self.errors else "no error recorded"
        raise JobFailed(
            f"job {self.id} {self.status.value}: {last}",
            status=self.status.value,
            errors=self.errors,
        )


def _cancel_call(app: App, queue: str, job_id: str, task: str, reason: str) -> Call[CancelResult]:
    return cancel(
        app.keys(queue),
        job_id,
        task=task,
        reason=reason,
        retention=app.retention,
        now_ms=app.now_ms(),
        events=app.events_enabled,
    )


def _cancelled(result: CancelResult, job_id: str) -> bool:
    if result is CancelResult.NOT_FOUND:
        raise JobNotFound(f"no job {job_id!r}")
    return result in (CancelResult.CANCELLED, CancelResult.REQUESTED)


@dataclass(frozen=True, slots=True)
class Job(Generic[R]):
    """Handle on an enqueued job, for async code."""

    app: App
    id: str
    queue: str
    task: str
    created: bool = True  # False when a job with this id already existed, or a duplicate
    replaced: bool = False  # a unique duplicate whose fields replaced the existing job's

    @property
    def duplicate(self) -> bool:
        """True when this enqueue stored nothing: the handle is on the existing job."""
        return not self.created

    async def info(self) -> JobInfo:
        """The job's record now."""
        call = read_job(self.app.keys(self.queue), self.id, self.app.now_ms())
        raw = await self.app.async_client().run(call)
        return JobInfo.from_raw(self.id, self.queue, raw)

    async def result(self, timeout: float | None = None) -> R:
        """Wait until the job finishes (woken by a notification); its return
        value, `JobFailed`, or `ResultTimeout`."""
        from ._wait import wait_async

        (info,) = await wait_async(self.app, [(self.queue, self.id)], timeout)
        return info.outcome()  # type: ignore[no-any-return]

    async def rerun(self, delay: float = 0) -> None:
        """Run the finished job again, with one more allowed attempt."""
        await self.app.rerun(self.id, self.queue, delay=delay)

    async def update(self, **changes: Any) -> None:
        """Change the waiting job (see `App.update`)."""
        await self.app.update(self.id, self.queue, **changes)

    async def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel the job; False if it had already finished."""
        call = _cancel_call(self.app, self.queue, self.id, self.task, reason)
        return _cancelled(await self.app.async_client().run(call), self.id)


@dataclass(frozen=True, slots=True)
class SyncJob(Generic[R]):
    """Handle on an enqueued job, for sync code: the same methods, blocking."""

    app: App
    id: str
    queue: str
    task: str
    created: bool = True
    replaced: bool = False

    @property
    def duplicate(self) -> bool:
        """True when this enqueue stored nothing: the handle is on the existing job."""
        return not self.created

    def info(self) -> JobInfo:
        """The job's record now."""
        call = read_job(self.app.keys(self.queue), self.id, self.app.now_ms())
        raw = self.app.sync_client().run(call)
        return JobInfo.from_raw(self.id, self.queue, raw)

    def result(self, timeout: float | None = None) -> R:
        """Wait until the job finishes (woken by a notification); its return
        value, `JobFailed`, or `ResultTimeout`."""
        from ._wait import wait_sync

        (info,) = wait_sync(self.app, [(self.queue, self.id)], timeout)
        return info.outcome()  # type: ignore[no-any-return]

    def rerun(self, delay: float = 0) -> None:
        """Run the finished job again, with one more allowed attempt."""
        self.app.rerun_sync(self.id, self.queue, delay=delay)

    def update(self, **changes: Any) -> None:
        """Change the waiting job (see `App.update`)."""
        self.app.update_sync(self.id, self.queue, **changes)

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel the job; False if it had already finished."""
        call = _cancel_call(self.app, self.queue, self.id, self.task, reason)
        return _cancelled(self.app.sync_client().run(call), self.id)


H = TypeVar("H", Job[Any], SyncJob[Any])

# The slot setters of each handle class, in constructor order: setting slots
# directly skips the frozen dataclass's __init__ (an object.__setattr__ call
# per field), which halves the cost of a handle on the enqueue hot paths.
_SETTERS = {
    cls: tuple(
        getattr(cls, name).__set__ for name in ("app", "id", "queue", "task", "created", "replaced")
    )
    for cls in (Job, SyncJob)
}


def created_handle(cls: type[H], app: App, job_id: str, queue: str, task: str, created: bool) -> H:
    """`cls(app, job_id, queue, task, created)`, built faster (see `_SETTERS`)."""
    set_app, set_id, set_queue, set_task, set_created, set_replaced = _SETTERS[cls]
    handle = object.__new__(cls)
    set_app(handle, app)
    set_id(handle, job_id)
    set_queue(handle, queue)
    set_task(handle, task)
    set_created(handle, created)
    set_replaced(handle, False)
    return handle


def created_handles(
    cls: type[H], app: App, ids: Sequence[str], queue: str, task: str, created: Sequence[bool]
) -> list[H]:
    """`[cls(app, id, queue, task, c) for id, c in zip(ids, created)]`, built
    faster (see `_SETTERS`): the handles of jobs that are not unique duplicates."""
    new = object.__new__
    set_app, set_id, set_queue, set_task, set_created, set_replaced = _SETTERS[cls]
    out = []
    for job_id, c in zip(ids, created, strict=True):
        handle = new(cls)
        set_app(handle, app)
        set_id(handle, job_id)
        set_queue(handle, queue)
        set_task(handle, task)
        set_created(handle, c)
        set_replaced(handle, False)
        out.append(handle)
    return out


def mark_existing(handles: Sequence[H], created: Sequence[bool]) -> None:
    """Set `created` False on the handles whose job was not stored (its id existed)."""
    if len(created) != len(handles):
        raise ValueError(f"{len(created)} replies for {len(handles)} handles")
    if all(created):
        return
    for handle, c in zip(handles, created, strict=True):
        if not c:
            _SETTERS[type(handle)][4](handle, False)
