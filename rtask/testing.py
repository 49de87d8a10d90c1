"""Helpers for the tests of code that uses rtask.

    from rtask.testing import assert_enqueued, drain_sync

    def test_signup(rtask_app):          # fixture of the rtask pytest plugin (memory://)
        @rtask_app.task
        def send_welcome(user_id: int) -> None: ...

        signup(user_id=7)                # code that enqueues send_welcome(7)
        assert_enqueued(rtask_app, send_welcome, args=[7])
        assert drain_sync(rtask_app).succeeded == 1

- `drain` / `drain_sync` run every job that is due with an in-process worker
  in burst mode, and return what it did.
- `assert_enqueued` / `assert_enqueued_async` check that jobs were enqueued
  (rexecutor's `assert_enqueued!`). They read the whole queue of the task with
  HSCAN over its jobs hash: meant for tests, never for production code.
- `frozen_clock(app)` stops time for every script call of `app` (enqueue,
  claim, finish, cancel, reads): `clock.advance(3600)` then `drain` runs what
  became due (delays, backoffs), without sleeping.

The matching and the failure message are pure functions of decoded records
(`job_records`, `Expectation`, `check`); the Redis reading is a thin shell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ._codec import Codec, decode, encode
from ._errors import CodecError, InvalidInput, RtaskError, map_redis_errors
from ._fake_clock import FrozenClock, frozen_clock
from ._job import JobInfo, JobStatus
from ._protocol import RawJob
from ._shards import physical_queues
from ._task import Task

if TYPE_CHECKING:
    from ._app import App

__all__ = [
    "DrainResult",
    "EnqueuedJob",
    "Expectation",
    "FrozenClock",
    "assert_enqueued",
    "assert_enqueued_async",
    "check",
    "drain",
    "drain_sync",
    "expectation",
    "frozen_clock",
    "job_records",
]

# Fields per HSCAN reply: a hint to Redis, not a limit.
SCAN_COUNT = 1000
# payload, result, errors, progress, log, runs kept by reruns
_RESERVED = (":p", ":r", ":e", ":g", ":l", ":x")


# ---------------------------------------------------------------- drain


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain did: outcomes as the worker reported them.

    `retried` counts attempts that ended in an exception, a timeout or
    `Retry`: the job runs again after its backoff, or is `failed` if that was
    its last attempt. `failed` counts outcomes that failed a job at once
    (`Abort`, unknown task, undecodable payload). Check final statuses with
    `assert_enqueued(..., status=...)`.
    """

    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    snoozed: int = 0
    cancelled: int = 0

    @classmethod
    def from_stats(cls, stats: Mapping[str, int]) -> DrainResult:
        """The result from a worker's `stats` counters."""
        return cls(
            claimed=stats.get("claimed", 0),
            succeeded=stats.get("outcome.succeeded", 0),
            retried=stats.get("outcome.retry", 0),
            failed=stats.get("outcome.failed", 0),
            snoozed=stats.get("outcome.snoozed", 0),
            cancelled=stats.get("outcome.cancelled", 0),
        )

    @property
    def ran(self) -> int:
        """Runs that reached an outcome."""
        return self.succeeded + self.retried + self.failed + self.snoozed + self.cancelled


async def drain(
    app: App, queues: Sequence[str] | None = None, **worker_options: Any
) -> DrainResult:
    """Run every due job of `queues` (default: the queues of the app's tasks)
    with an in-process worker in burst mode, until nothing is due and nothing
    runs. Sync and async tasks run as under `rtask worker`.

    A retry or snooze that is due at once (backoff 0) runs in the same drain;
    jobs due later (a delay, a backoff) are left waiting. Jobs of tasks the
    app does not define fail with `unknown_task`, as on any worker. Worker
    options are `WorkerConfig` fields; signals are not handled unless
    `handle_signals=True` is given.
    """
    names = list(queues) if queues is not None else (app.queues() or ["default"])
    redis = app.async_client().redis
    serving = []
    for queue in names:
        # A queue without a known task has nothing to run (and a burst worker
        # given one would wait for work forever).
        if any(t.queue == queue for t in app.tasks.values()):
            serving.append(queue)
            continue
        with map_redis_errors():
            if await redis.scard(app.keys(queue).tasks):
                serving.append(queue)
    if not serving:
        return DrainResult()
    options: dict[str, Any] = {"handle_signals": False, **worker_options}
    worker = app.worker(serving, **options)
    await worker.run(burst=True)
    return DrainResult.from_stats(worker.stats)


def _no_running_loop(name: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RtaskError(f"{name}() cannot run inside a running event loop: use `await {instead}`")


def drain_sync(app: App, queues: Sequence[str] | None = None, **worker_options: Any) -> DrainResult:
    """`drain` for sync test code: runs it with `asyncio.run` in this thread.

    Raises `RtaskError` if an event loop is running here (use `await drain`).
    """
    _no_running_loop("drain_sync", "rtask.testing.drain(app)")

    async def run() -> DrainResult:
        try:
            return await drain(app, queues, **worker_options)
        finally:
            await app.aclose()  # the loop ends here: so does its client

    return asyncio.run(run())


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    """A job as `assert_enqueued` sees it: its state and decoded arguments."""

    id: str
    queue: str
    task: str
    status: JobStatus
    args: list[Any]
    kwargs: dict[str, Any]
    tags: tuple[str, ...]
    scheduled_at: datetime | None
    priority: int = 0
    attempt: int = 0
    max_attempts: int = 1
    payload_error: str | None = None  # set when the payload could not be decoded

    def describe(self) -> str:
        """One readable line."""
        when = "-" if self.scheduled_at is None else _iso(self.scheduled_at)
        args = f"<{self.payload_error}>" if self.payload_error else repr(self.args)
        kwargs = "" if self.payload_error else repr(self.kwargs)
        return (
            f"{self.id}  {self.status.value:<9}  args={args} kwargs={kwargs}"
            f" tags={list(self.tags)} scheduled_at={when}"
        )


def _iso(when: datetime) -> str:
    return when.isoformat("T", "milliseconds")


def _decode_payload(payload: bytes | None) -> tuple[list[Any], dict[str, Any], str | None]:
    if payload is None:
        return [], {}, "no payload"
    try:
        value = decode(payload)
    except CodecError as exc:
        return [], {}, str(exc)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], list)
        or not isinstance(value[1], dict)
    ):
        return [], {}, "payload is not [args, kwargs]"
    return value[0], value[1], None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def job_records(
    queue: str,
    fields: Mapping[bytes | str, bytes],
    now_ms: int,
    *,
    task: str | None = None,
) -> list[EnqueuedJob]:
    """The jobs in the fields of a queue's jobs hash (of `task` only, if given),
    in id order (creation order). `now_ms` is the server time: a waiting job
    that is due is reported `queued`, as `Job.info()` does."""
    states: dict[str, bytes] = {}
    payloads: dict[str, bytes] = {}
    for raw_key, value in fields.items():
        key = _text(raw_key)
        if key.endswith(":p"):
            payloads[key[:-2]] = value
        elif not key.endswith(_RESERVED):
            states[key] = value
    records = []
    for job_id in sorted(states):
        state = orjson.loads(states[job_id])
        if task is not None and state.get("t") != task:
            continue
        info = JobInfo.from_raw(job_id, queue, RawJob(now_ms, state, None, []))
        args, kwargs, error = _decode_payload(payloads.get(job_id))
        records.append(
            EnqueuedJob(
                id=job_id,
                queue=queue,
                task=info.task,
                status=info.status,
                args=args,
                kwargs=kwargs,
                tags=tuple(info.tags),
                scheduled_at=info.scheduled_at,
                priority=info.priority,
                attempt=info.attempt,
                max_attempts=info.max_attempts,
                payload_error=error,
            )
        )
    return records


# ---------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Expectation:
    """What `assert_enqueued` looks for. None means "any"; `count` None means
    at least one job, N exactly N. `tags` are all-of; the time bounds are
    strict (`scheduled_after < scheduled_at < scheduled_before`)."""

    task: str
    queue: str
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    scheduled_at: datetime | None = None
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None
    statuses: frozenset[JobStatus] | None = None
    count: int | None = None

    def matches(self, job: EnqueuedJob) -> bool:
        """True if `job` passes every filter (the task included)."""
        if job.task != self.task:
            return False
        if self.statuses is not None and job.status not in self.statuses:
            return False
        if self.args is not None and (job.payload_error or job.args != self.args):
            return False
        if self.kwargs is not None and (job.payload_error or job.kwargs != self.kwargs):
            return False
        if not set(self.tags) <= set(job.tags):
            return False
        return self._in_window(job.scheduled_at)

    def _in_window(self, when: datetime | None) -> bool:
        bounds = (self.scheduled_at, self.scheduled_after, self.scheduled_before)
        if when is None:
            return all(bound is None for bound in bounds)
        if self.scheduled_at is not None and when != self.scheduled_at:
            return False
        if self.scheduled_after is not None and not when > self.scheduled_after:
            return False
        return self.scheduled_before is None or when < self.scheduled_before

    def describe(self) -> str:
        """The filter, readable."""
        parts = [f"task={self.task!r}", f"queue={self.queue!r}"]
        if self.args is not None:
            parts.append(f"args={self.args!r}")
        if self.kwargs is not None:
            parts.append(f"kwargs={self.kwargs!r}")
        if self.tags:
            parts.append(f"tags all of {list(self.tags)!r}")
        for name in ("scheduled_at", "scheduled_after", "scheduled_before"):
            bound = getattr(self, name)
            if bound is not None:
                parts.append(f"{name}={_iso(bound)}")
        if self.statuses is not None:
            parts.append(f"status in {sorted(s.value for s in self.statuses)}")
        return " ".join(parts)

    def wanted(self) -> str:
        if self.count is None:
            return "at least 1 job"
        return f"exactly {self.count} job{'' if self.count == 1 else 's'}"


def _listing(title: str, jobs: Sequence[EnqueuedJob]) -> list[str]:
    lines = [f"  {title} ({len(jobs)}):"]
    lines += [f"    {job.describe()}" for job in jobs] or ["    (none)"]
    return lines


def failure_message(
    expect: Expectation, matching: Sequence[EnqueuedJob], of_task: Sequence[EnqueuedJob]
) -> str:
    """The AssertionError message: the filter, the matching jobs, all jobs of the task."""
    lines = [
        f"assert_enqueued: expected {expect.wanted()} matching, found {len(matching)}",
        f"  filter: {expect.describe()}",
        *_listing("matching jobs", matching),
        *_listing(f"all jobs of task {expect.task!r} in queue {expect.queue!r}", of_task),
    ]
    return "\n".join(lines)


def check(expect: Expectation, jobs: Iterable[EnqueuedJob]) -> list[EnqueuedJob]:
    """The jobs matching `expect`; AssertionError if their number is not as expected."""
    __tracebackhide__ = True
    of_task = [job for job in jobs if job.task == expect.task]
    matching = [job for job in of_task if expect.matches(job)]
    ok = bool(matching) if expect.count is None else len(matching) == expect.count
    if not ok:
        raise AssertionError(failure_message(expect, matching, of_task))
    return matching


def _normalized(codec: Codec, value: Any) -> Any:
    """`value` as it comes back from the codec (tuples become lists), so the
    expected arguments compare equal to the decoded ones."""
    try:
        return decode(encode(codec, value))
    except CodecError:
        return value


def _statuses(
    status: JobStatus | str | Iterable[JobStatus | str] | None,
) -> frozenset[JobStatus] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, str) else list(status)
    try:
        return frozenset(JobStatus(s) for s in items)
    except ValueError as exc:
        raise InvalidInput(f"{exc}; statuses are {[s.value for s in JobStatus]}") from None


def _aware(name: str, when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime")
    return when


def expectation(
    app: App,
    task: Task[Any, Any] | str,
    *,
    queue: str | None = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    count: int | None = None,
    tags: Iterable[str] = (),
    scheduled_at: datetime | None = None,
    scheduled_after: datetime | None = None,
    scheduled_before: datetime | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
) -> Expectation:
    """The `Expectation` for `assert_enqueued`'s arguments (no I/O).

    `task` is a Task, or a task name: its queue is `queue`, else the queue of
    the app's task of that name, else "default".
    """
    if isinstance(task, Task):
        name = task.name
        if queue is not None and queue != task.queue:
            raise InvalidInput(f"task {name!r} is on queue {task.queue!r}, not {queue!r}")
        queue = task.queue
    else:
        name = task
        registered = app.tasks.get(name)
        queue = queue or (registered.queue if registered else "default")
    if count is not None and (isinstance(count, bool) or count < 0):
        raise InvalidInput(f"count must be an integer >= 0, got {count!r}")
    if isinstance(tags, str):
        raise InvalidInput("tags must be a list of strings, not one string")
    return Expectation(
        task=name,
        queue=queue,
        args=None if args is None else _normalized(app.codec, list(args)),
        kwargs=None if kwargs is None else _normalized(app.codec, dict(kwargs)),
        tags=tuple(tags),
        scheduled_at=_aware("scheduled_at", scheduled_at),
        scheduled_after=_aware("scheduled_after", scheduled_after),
        scheduled_before=_aware("scheduled_before", scheduled_before),
        statuses=_statuses(status),
        count=count,
    )


# ---------------------------------------------------------------- shells


def _jobs_keys(app: App, queue: str) -> list[str]:
    return [app.keys(q).jobs for q in physical_queues(app.shard_table, [queue])]


def _ms(server_time: tuple[int, int]) -> int:
    seconds, micros = server_time
    return int(seconds) * 1000 + int(micros) // 1000


def assert_enqueued(
    app: App,
    task: Task[Any, Any] | str,
    *,
    queue: str | None = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    count: int | None = None,
    tags: Iterable[str] = (),
    scheduled_at: datetime | None = None,
    scheduled_after: datetime | None = None,
    scheduled_before: datetime | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
) -> list[EnqueuedJob]:
    """Assert that jobs of `task` matching the filters are in its queue; return them.

    Without `count`, at least one must match; with `count=N`, exactly N
    (`count=0`: none). Jobs in any status match unless `status` (one or
    several) is given. `args` and `kwargs` compare equal to the arguments as
    enqueued (`add.enqueue(1, y=2)` has args [1] and kwargs {"y": 2}); `tags`
    must all be on the job; `scheduled_*` bound the job's due time (strictly).
    Finished jobs count while they are retained. On failure, the AssertionError
    lists the filter, the matching jobs and every job of the task.

    Reads the whole queue with HSCAN: for tests only.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    expect = expectation(
        app,
        task,
        queue=queue,
        args=args,
        kwargs=kwargs,
        count=count,
        tags=tags,
        scheduled_at=scheduled_at,
        scheduled_after=scheduled_after,
        scheduled_before=scheduled_before,
        status=status,
    )
    redis = app.sync_client().redis
    fields: dict[Any, Any] = {}
    with map_redis_errors():
        for key in _jobs_keys(app, expect.queue):  # a sharded queue: every shard
            fields.update(redis.hscan_iter(key, count=SCAN_COUNT))
        now_ms = app.now_ms() or _ms(redis.time())
    return check(expect, job_records(expect.queue, fields, now_ms, task=expect.task))


async def assert_enqueued_async(
    app: App,
    task: Task[Any, Any] | str,
    *,
    queue: str | None = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    count: int | None = None,
    tags: Iterable[str] = (),
    scheduled_at: datetime | None = None,
    scheduled_after: datetime | None = None,
    scheduled_before: datetime | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
) -> list[EnqueuedJob]:
    """`assert_enqueued` for async tests (the same arguments and checks)."""
    __tracebackhide__ = True
    expect = expectation(
        app,
        task,
        queue=queue,
        args=args,
        kwargs=kwargs,
        count=count,
        tags=tags,
        scheduled_at=scheduled_at,
        scheduled_after=scheduled_after,
        scheduled_before=scheduled_before,
        status=status,
    )
    redis = app.async_client().redis
    fields: dict[Any, Any] = {}
    with map_redis_errors():
        for key in _jobs_keys(app, expect.queue):  # a sharded queue: every shard
            fields.update({k: v async for k, v in redis.hscan_iter(key, count=SCAN_COUNT)})
        now_ms = app.now_ms() or _ms(await redis.time())
    return check(expect, job_records(expect.queue, fields, now_ms, task=expect.task))
