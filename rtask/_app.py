"""The App: where tasks are registered and how Redis is reached.

The operator views (`stats`, `workers`, `job`, …) import `_admin` when first
called: a worker never calls them, and its start-up should not pay for that."""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from ._app_manage import ManageMixin
from ._app_schedules import ScheduleMethods
from ._backoff import BackoffLike
from ._client import AsyncClient, SyncClient, async_client, check_url, redact, sync_client
from ._codec import Codec, get_codec
from ._errors import ConfigError, UnknownTask
from ._job import Job, SyncJob
from ._keys import QueueKeys, check_prefix, check_queue, queue_keys
from ._middleware import Middleware, RateLimitLike, check_middleware
from ._plan import drive_async, drive_sync
from ._protocol import Retention
from ._shards import check_physical_queue, check_table, shard_names
from ._task import Task, remote_function
from ._unique import Unique

if TYPE_CHECKING:
    from ._admin import QueueStats, TaskType, WorkerInfo
    from ._events import Event
    from ._worker import Worker


class FakeClock(Protocol):
    """What an App needs of a fake clock (rtask.testing.FrozenClock)."""

    def now_ms(self) -> int: ...


P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_URL = "redis://localhost:6379/0"

# A worker is live while its last heartbeat is at most this old (the default
# `live_s` of `stats` and `workers`). Workers heartbeat every lease_s / 3
# (10 s by default) even when idle.
LIVE_S = 60.0


class _TaskDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Task[P, R]: ...


class App(ScheduleMethods, ManageMixin):
    """Registers tasks and schedules, and holds the connection settings.

    `url` is `redis://…`, `rediss://…`, `unix://…`, `redis+cluster://h:p,h:p/`
    (`rediss+cluster://` for TLS) for a Redis Cluster, or `memory://<name>` for
    the embedded mode (the same scripts on an in-process fakeredis server).

    `shards` spreads queues over several physical queues (hash tags), e.g.
    `{"emails": 4}`: see "Sharded queues" in the README. Every process of the
    fleet (producers and workers) must declare the same shard counts.

    `index_created=True` keeps each queue's `created` index (a zset of every
    job by created time, written and cleaned by the scripts) for
    `app.jobs(order="created")`; every process of the fleet must set it
    alike, as it costs Redis memory and time on the hot path (README,
    "Managing jobs").
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        prefix: str = "rtask",
        codec: str | Codec = "msgpack",
        max_payload_bytes: int = 1 << 20,
        retention: Retention | None = None,
        middleware: Sequence[Middleware] | None = None,
        events: bool = False,
        shards: Mapping[str, int] | None = None,
        index_created: bool = False,
    ) -> None:
        self.url = url
        self.prefix = check_prefix(prefix)
        self.codec = get_codec(codec)
        if max_payload_bytes < 1:
            raise ConfigError("max_payload_bytes must be >= 1")
        self.max_payload_bytes = max_payload_bytes
        self.retention = retention or Retention()
        self.tasks: dict[str, Task[Any, Any]] = {}
        # Sharded queues: queue -> number of shards (see _shards); tasks add theirs.
        self.shard_table = check_table(shards)
        self.schedules = {}  # (queue, id) -> Schedule declared in code
        self.clock: Callable[[], float] = time.time
        # Wraps every task's enqueue and execution (see rtask.middleware);
        # fixed before tasks are registered.
        self.middleware = check_middleware(middleware, "App")
        # Lifecycle events in each queue's capped stream (see `events()`).
        self.events_enabled = bool(events)
        # The created-time index of every queue (app.jobs(order="created")).
        self.index_created = bool(index_created)
        # Set by rtask.testing.frozen_clock: the time every script call uses.
        self.fake_clock: FakeClock | None = None
        self._sync: SyncClient | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        check_url(url)

    def now_ms(self) -> int | None:
        """The `now_ms` to pass to scripts: None (the Redis clock) unless a
        fake clock is set (rtask.testing.frozen_clock)."""
        clock = self.fake_clock
        return None if clock is None else clock.now_ms()

    def time(self) -> float:
        """Seconds since the epoch: the fake clock's if set, else `clock()`."""
        clock = self.fake_clock
        return self.clock() if clock is None else clock.now_ms() / 1000

    @classmethod
    def from_env(cls, **kwargs: Any) -> App:
        """An App on `RTASK_REDIS_URL` (default redis://localhost:6379/0)."""
        return cls(os.environ.get("RTASK_REDIS_URL", DEFAULT_URL), **kwargs)

    def __repr__(self) -> str:
        return f"App({redact(self.url)!r}, tasks={len(self.tasks)})"

    # ------------------------------------------------------------ tasks

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]: ...
    @overload
    def task(self, fn: Callable[P, R]) -> Task[P, R]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str = "default",
        max_attempts: int = 5,
        concurrency: int | None = None,
        timeout: float | None = None,
        backoff: BackoffLike | None = None,
        blocking: bool | None = None,
        priority: int = 0,
        rate_limit: RateLimitLike | None = None,
        middleware: Sequence[Middleware] | None = None,
        shards: int | None = None,
        unique: Unique | None = None,
    ) -> _TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        max_attempts: int = 5,
        concurrency: int | None = None,
        timeout: float | None = None,
        backoff: BackoffLike | None = None,
        blocking: bool | None = None,
        priority: int = 0,
        rate_limit: RateLimitLike | None = None,
        middleware: Sequence[Middleware] | None = None,
        shards: int | None = None,
        unique: Unique | None = None,
    ) -> Any:
        """Register a function as a task: `@app.task` or `@app.task(name=…, queue=…)`.

        `rate_limit` ("100/s", "10/m", "5/2s" or (count, seconds)) caps how
        many jobs of the task start per period across every worker; it is
        checked when jobs are claimed, so a limited job waits in its queue
        and never uses an attempt. `middleware` wraps this task's enqueue
        and runs, inside the App's middleware. `shards=K` spreads the task's
        queue over K shards (the same as `App(shards={queue: K})`). `unique`: the
        task's default `rtask.Unique` rule (a job's own `options(unique=…)`
        overrides it).

        """
        options: dict[str, Any] = {
            "name": name,
            "queue": queue,
            "max_attempts": max_attempts,
            "concurrency": concurrency,
            "timeout": timeout,
            "backoff": backoff,
            "blocking": blocking,
            "priority": priority,
            "rate_limit": rate_limit,
            "middleware": middleware,
            "shards": shards,
            "unique": unique,
        }
        if fn is None:
            return lambda f: self._register(Task(self, f, **options))
        return self._register(Task(self, fn, **options))

    def _register(self, task: Task[P, R]) -> Task[P, R]:
        if task.name in self.tasks:
            raise ConfigError(f"a task named {task.name!r} is already registered")
        self.tasks[task.name] = task
        return task

    def remote(
        self,
        name: str,
        *,
        queue: str | None = None,
        max_attempts: int = 5,
        timeout: float | None = None,
        priority: int = 0,
    ) -> Task[..., Any]:
        """A handle to enqueue the task `name` without its function, for a
        producer that cannot import the workers' code.

        The handle enqueues like the task itself (`enqueue`, `enqueue_sync`,
        `options`, `enqueue_many`); calling it directly raises `RtaskError`. It
        is not registered, so it does not make this App's workers serve it.
        `max_attempts`, `timeout` and `priority` are the job defaults the
        handle writes (the worker's own task options do not apply to them).
        If `name` is registered on this App, that task is returned. Annotate the
        handle to type-check its calls: `add: Task[[int, int], int] = app.remote("add")`.
        """
        task = self.tasks.get(name)
        if task is not None:
            if queue is not None and queue != task.queue:
                raise ConfigError(
                    f"task {name!r} is registered on queue {task.queue!r}, not {queue!r}"
                )
            return task
        return Task(
            self,
            remote_function(name),
            name=name,
            queue=queue or "default",
            max_attempts=max_attempts,
            timeout=timeout,
            priority=priority,
        )

    def get_task(self, name: str) -> Task[Any, Any]:
        """The task registered under `name`, or `UnknownTask`."""
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTask(f"no task named {name!r} is registered") from None

    def queues(self) -> list[str]:
        """The queues of the registered tasks, sorted."""
        return sorted({t.queue for t in self.tasks.values()})

    # ------------------------------------------------------------ Redis

    def keys(self, queue: str) -> QueueKeys:
        """The keys of `queue` (a queue name, or one of its shards' `<queue>#<i>`)."""
        physical = check_physical_queue(queue)
        return queue_keys(self.prefix, physical, index_created=self.index_created)

    def shards(self, queue: str) -> list[str]:
        """The physical queues of `queue`: itself, then `<queue>#1` … if it is sharded."""
        return shard_names(check_queue(queue), self.shard_table.get(queue, 1))

    def async_client(self) -> AsyncClient:
        """The async client of the running event loop (one per loop)."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = async_client(self.url)
        return client

    def sync_client(self) -> SyncClient:
        """The sync client (thread-safe, one per App)."""
        if self._sync is None:
            self._sync = sync_client(self.url)
        return self._sync

    async def aclose(self) -> None:
        """Close the async client of the running loop."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the sync client."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    # ------------------------------------------------------------ workers

    def worker(self, queues: list[str] | None = None, **options: Any) -> Worker:
        """An in-process worker for `queues` (default: the queues of every task).

        Options are the fields of `WorkerConfig` (concurrency, lease_s, grace_s, …).
        """
        from ._worker import Worker, WorkerConfig

        config = WorkerConfig(queues=tuple(queues or self.queues() or ["default"]), **options)
        return Worker(self, config)

    # ------------------------------------------------------------ operators

    async def stats(
        self, queues: Sequence[str] | None = None, *, live_s: float = LIVE_S
    ) -> list[QueueStats]:
        """Counts per queue and task (default queues: every task's, plus "default").

        Each queue is read atomically: scheduled, queued and running jobs per
        task, finished jobs kept, the oldest queued job's wait and the workers
        with a heartbeat in the last `live_s` seconds.
        """
        from ._admin import stats_plan

        return await drive_async(self.async_client(), stats_plan(self, queues, live_s))

    def stats_sync(
        self, queues: Sequence[str] | None = None, *, live_s: float = LIVE_S
    ) -> list[QueueStats]:
        """`stats` for sync code."""
        from ._admin import stats_plan

        return drive_sync(self.sync_client(), stats_plan(self, queues, live_s))

    async def task_types(self, queues: Sequence[str] | None = None) -> list[TaskType]:
        """Task names known on each queue: every task ever enqueued there (by
        any producer of the fleet) and those this App registers."""
        from ._admin import task_types_plan

        return await drive_async(self.async_client(), task_types_plan(self, queues))

    def task_types_sync(self, queues: Sequence[str] | None = None) -> list[TaskType]:
        """`task_types` for sync code."""
        from ._admin import task_types_plan

        return drive_sync(self.sync_client(), task_types_plan(self, queues))

    async def workers(
        self, queues: Sequence[str] | None = None, *, live_s: float = LIVE_S
    ) -> list[WorkerInfo]:
        """Workers with a heartbeat in the last `live_s` seconds, per queue, with
        the number of jobs each holds."""
        from ._admin import workers_plan

        return await drive_async(self.async_client(), workers_plan(self, queues, live_s))

    def workers_sync(
        self, queues: Sequence[str] | None = None, *, live_s: float = LIVE_S
    ) -> list[WorkerInfo]:
        """`workers` for sync code."""
        from ._admin import workers_plan

        return drive_sync(self.sync_client(), workers_plan(self, queues, live_s))

    async def job(self, job_id: str, queue: str = "default") -> Job[Any]:
        """A handle on the existing job `job_id`, or `JobNotFound`."""
        from ._admin import info_plan

        info = await drive_async(self.async_client(), info_plan(self, job_id, queue))
        return Job(self, job_id, info.queue, info.task, created=False)

    def events(
        self, queue: str = "default", *, since: str = "0", follow: bool = False
    ) -> AsyncIterator[Event]:
        """Lifecycle events of `queue` (written when the workers' and
        producers' App has `events=True`), oldest first, after the stream id
        `since` ("0": the oldest kept; "$": only new ones). With `follow`,
        waits for new events until you stop iterating:

            async for event in app.events("emails", follow=True):
                print(event.kind, event.job_id)
        """
        from ._events import read_events

        return read_events(self, queue, since=since, follow=follow)

    def events_sync(
        self, queue: str = "default", *, since: str = "0", follow: bool = False
    ) -> Iterator[Event]:
        """`events` for sync code."""
        from ._events import read_events_sync

        return read_events_sync(self, queue, since=since, follow=follow)

    def job_sync(self, job_id: str, queue: str = "default") -> SyncJob[Any]:
        """`job` for sync code: a `SyncJob`, or `JobNotFound`."""
        from ._admin import info_plan

        info = drive_sync(self.sync_client(), info_plan(self, job_id, queue))
        return SyncJob(self, job_id, info.queue, info.task, created=False)
