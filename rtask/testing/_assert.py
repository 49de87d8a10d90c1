"""`assert_enqueued` / `assert_enqueued_async`: the thin shells that read a
queue's jobs hash (HSCAN) and check it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._errors import map_redis_errors
from .._job import JobStatus
from .._shards import physical_queues
from .._task import Task
from ._matching import check, expectation
from ._records import EnqueuedJob, job_records

if TYPE_CHECKING:
    from .._app import App

# Fields per HSCAN reply: a hint to Redis, not a limit.
SCAN_COUNT = 1000


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
