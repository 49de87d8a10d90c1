"""Tasks: a registered function plus its options, and how to enqueue it.

`Task` is here; its per-job options (`EnqueueOptions` and their checks) are
in `_task_options`, `BoundTask` and the enqueue paths in `_task_enqueue`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, NoReturn

from ._backoff import BackoffLike, to_backoff
from ._errors import ConfigError, InvalidInput, RtaskError
from ._job import Job, SyncJob
from ._keys import check_queue, check_task_name
from ._middleware import (
    Middleware,
    RateLimitLike,
    check_middleware,
    enqueue_hooks,
    execute_hooks,
    parse_rate_limit,
)
from ._shards import declare
from ._task_enqueue import OVERLAP_MIN, BoundTask, P, R
from ._task_options import (
    MAX_ATTEMPTS_LIMIT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    EnqueueOptions,
    _check_int,
    _check_seconds,
    renamed_options,
)
from ._unique import Unique

if TYPE_CHECKING:
    from ._app import App

# Every name importers take from this module (some now live in the two above).
__all__ = [
    "MAX_ATTEMPTS_LIMIT",
    "OVERLAP_MIN",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "BoundTask",
    "EnqueueOptions",
    "Task",
    "_check_int",
    "_check_seconds",
    "remote_function",
    "renamed_options",
]


def remote_function(name: str) -> Callable[..., NoReturn]:
    """The function of a by-name handle (`App.remote`): calling it is an error."""

    def remote(*args: Any, **kwargs: Any) -> NoReturn:
        raise RtaskError(
            f"task {name!r} is a by-name handle (app.remote): its function is not in this"
            " process, so it cannot be called; enqueue it instead"
        )

    remote.__qualname__ = remote.__name__ = name
    return remote


class Task(Generic[P, R]):
    """A function registered with an App. Calling it runs the function directly."""

    def __init__(
        self,
        app: App,
        fn: Callable[P, Any],
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
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = check_task_name(name or f"{fn.__module__}.{fn.__qualname__}")
        self.queue = check_queue(queue)
        self.keys = app.keys(self.queue)  # computed once: enqueue is a hot path
        if shards is not None:  # the queue's shard count (see _shards)
            declare(app.shard_table, self.queue, shards, f"task {self.name}")
        self.is_async = inspect.iscoroutinefunction(fn)
        if blocking and self.is_async:
            raise ConfigError(f"task {self.name}: blocking=True is for sync functions")
        # Sync functions run in threads unless declared non-blocking.
        self.blocking = (not self.is_async) if blocking is None else blocking
        try:
            self.max_attempts = _check_int("max_attempts", max_attempts, 1, MAX_ATTEMPTS_LIMIT)
            self.concurrency = (
                0 if concurrency is None else _check_int("concurrency", concurrency, 1, 1_000_000)
            )
            self.timeout_s = _check_seconds("timeout", timeout, positive=True)
            self.priority = _check_int("priority", priority, PRIORITY_MIN, PRIORITY_MAX)
        except InvalidInput as exc:
            raise ConfigError(f"task {self.name}: {exc}") from None
        self.backoff = to_backoff(backoff)
        # (limit, period_ms): at most `limit` claims per period, fleet-wide (claim.lua)
        self.rate_limit = parse_rate_limit(rate_limit, f"task {self.name}")
        self.middleware = check_middleware(middleware, f"task {self.name}")
        # The App's middleware wraps the task's; both lists are fixed from here.
        chain = [*getattr(app, "middleware", ()), *self.middleware]
        self.enqueue_hooks = enqueue_hooks(chain)
        self.execute_hooks = execute_hooks(chain)
        if unique is not None and not isinstance(unique, Unique):
            raise ConfigError(f"task {self.name}: unique must be a rtask.Unique, got {unique!r}")
        self.unique = unique
        self._default = BoundTask(self, EnqueueOptions())

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    @property
    def shards(self) -> int:
        """How many shards the task's queue is spread over (1: not sharded)."""
        return self.app.shard_table.get(self.queue, 1)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    def options(
        self,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        priority: int | None = None,
        tags: Sequence[str] = (),
        id: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        unique: Unique | None = None,
    ) -> BoundTask[P, R]:
        """The task with per-job options: `delay` seconds or `at` a time, and the rest.

        `labels` (str -> str) and `metadata` (JSON values) are stored with the
        job, visible in `job.info()` and to the task as `current_job().labels`
        / `.metadata`. `unique`: a `rtask.Unique` rule; a duplicate enqueue
        returns a handle on the existing job with `job.duplicate` True.
        """
        opts = EnqueueOptions(
            delay,
            at,
            priority,
            tuple(tags),
            id,
            max_attempts,
            timeout,
            dict(labels or {}),
            dict(metadata or {}),
            unique,
        )
        return BoundTask(self, opts)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue one job (async)."""
        return await self._default.enqueue(*args, **kwargs)

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        """Enqueue one job (sync)."""
        return self._default.enqueue_sync(*args, **kwargs)

    async def enqueue_many(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        *,
        ids: Sequence[str] | None = None,
        if_not_exists: bool = False,
    ) -> list[Job[R]]:
        """Enqueue one job per item (a tuple of args, or a dict of kwargs) in one round trip.

        `ids`: one explicit id per item. `if_not_exists` (with `ids`): store
        none of them if any exists, atomically; then every handle has
        `created` False (Ora's `if_not_exists`).
        """
        return await self._default.enqueue_many(items, ids=ids, if_not_exists=if_not_exists)

    def enqueue_many_sync(
        self,
        items: Iterable[Sequence[Any] | dict[str, Any]],
        *,
        ids: Sequence[str] | None = None,
        if_not_exists: bool = False,
    ) -> list[SyncJob[R]]:
        """Enqueue one job per item (sync)."""
        return self._default.enqueue_many_sync(items, ids=ids, if_not_exists=if_not_exists)
