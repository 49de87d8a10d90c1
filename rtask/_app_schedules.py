"""The App's schedule methods: declare in code (`app.schedule`, `@app.cron`)
and manage at runtime (add, get, list, count, stop, trigger; async and
`_sync`). A mixin of App, so `_app.py` stays about tasks and connections.

The runtime methods import `_schedules` (and `schedule` imports `_schedule`)
when first called: a worker never calls them, and its start-up should not pay
for importing them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, cast, overload

from ._errors import InvalidSchedule
from ._job import Job, SyncJob
from ._plan import drive_async, drive_sync
from ._task import Task

if TYPE_CHECKING:
    from ._app import App
    from ._protocol_schedules import ScheduleResult, StopReply
    from ._schedule import Schedule, ScheduleInfo
    from ._schedules import Order, SchedulePage
    from ._timing import Missed

P = ParamSpec("P")
R = TypeVar("R")


class _CronDecorator(Protocol):
    @overload
    def __call__(self, fn: Task[P, R]) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Task[P, R]: ...


def _app(methods: ScheduleMethods) -> App:
    return cast("App", methods)


class ScheduleMethods:
    """Schedules of an App (see the README's "Schedules")."""

    schedules: dict[tuple[str, str], Schedule]

    # ------------------------------------------------------------ declaring

    def schedule(
        self,
        task: Task[Any, Any],
        *,
        id: str | None = None,
        cron: str | None = None,
        every: float | timedelta | None = None,
        at: datetime | float | None = None,
        manual: bool = False,
        tz: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        immediate: bool = False,
        missed: Missed = "skip",
        start: datetime | float | None = None,
        end: datetime | float | None = None,
        labels: Mapping[str, str] | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        tags: Sequence[str] = (),
    ) -> Schedule:
        """Declare a schedule of `task` (exactly one of cron=, every=, at=,
        manual=True). It is upserted by id (default: the task's name) when a
        worker of the task's queue starts. Invalid input raises
        InvalidSchedule here, before anything is stored."""
        from ._schedule import make_schedule

        s = make_schedule(
            task,
            id=id,
            cron=cron,
            every=every,
            at=at,
            manual=manual,
            tz=tz,
            args=args,
            kwargs=kwargs,
            immediate=immediate,
            missed=missed,
            start=start,
            end=end,
            labels=labels,
            priority=priority,
            max_attempts=max_attempts,
            timeout=timeout,
            tags=tags,
        )
        if (s.queue, s.id) in self.schedules:
            raise InvalidSchedule(
                f"schedule id {s.id!r} is declared twice on queue {s.queue!r}: give id="
            )
        self.schedules[(s.queue, s.id)] = s
        return s

    def cron(self, expr: str, *, tz: str = "UTC", **options: Any) -> _CronDecorator:
        """`@app.cron("*/5 * * * *", tz="Europe/Paris")` on a task (or on a
        function, which it registers as a task): declare a cron schedule.
        Options are `app.schedule`'s."""

        def decorate(fn: Any) -> Any:
            task = fn if isinstance(fn, Task) else _app(self).task(fn)
            self.schedule(task, cron=expr, tz=tz, **options)
            return task

        return cast(_CronDecorator, decorate)

    # ------------------------------------------------------------ runtime

    async def add_schedules(
        self, schedules: Sequence[Schedule], *, if_not_exists: bool = False
    ) -> list[ScheduleResult]:
        """Store schedules now, each with its first job (by id: upsert, or
        leave existing ids untouched with `if_not_exists`)."""
        from ._schedules import add_plan

        plan = add_plan(_app(self), schedules, if_not_exists=if_not_exists)
        return await drive_async(_app(self).async_client(), plan)

    def add_schedules_sync(
        self, schedules: Sequence[Schedule], *, if_not_exists: bool = False
    ) -> list[ScheduleResult]:
        """`add_schedules` for sync code."""
        from ._schedules import add_plan

        plan = add_plan(_app(self), schedules, if_not_exists=if_not_exists)
        return drive_sync(_app(self).sync_client(), plan)

    async def get_schedule(self, schedule_id: str, queue: str | None = None) -> ScheduleInfo:
        """Schedule `schedule_id`, or ScheduleNotFound."""
        from ._schedules import get_plan

        return await drive_async(
            _app(self).async_client(), get_plan(_app(self), schedule_id, queue)
        )

    def get_schedule_sync(self, schedule_id: str, queue: str | None = None) -> ScheduleInfo:
        """`get_schedule` for sync code."""
        from ._schedules import get_plan

        return drive_sync(_app(self).sync_client(), get_plan(_app(self), schedule_id, queue))

    async def list_schedules(
        self,
        *,
        queues: Sequence[str] | None = None,
        task: str | None = None,
        stopped: bool | None = None,
        labels: Mapping[str, str] | None = None,
        order: Order = "id",
        descending: bool = False,
        limit: int | None = 100,
        page: str | None = None,
    ) -> SchedulePage:
        """Schedules matching the filters, one page at a time (`page` is the
        last page's `next_page`)."""
        from ._schedules import list_plan

        plan = list_plan(
            _app(self),
            queues=queues,
            task=task,
            stopped=stopped,
            labels=labels,
            order=order,
            descending=descending,
            limit=limit,
            page=page,
        )
        return await drive_async(_app(self).async_client(), plan)

    def list_schedules_sync(
        self,
        *,
        queues: Sequence[str] | None = None,
        task: str | None = None,
        stopped: bool | None = None,
        labels: Mapping[str, str] | None = None,
        order: Order = "id",
        descending: bool = False,
        limit: int | None = 100,
        page: str | None = None,
    ) -> SchedulePage:
        """`list_schedules` for sync code."""
        from ._schedules import list_plan

        plan = list_plan(
            _app(self),
            queues=queues,
            task=task,
            stopped=stopped,
            labels=labels,
            order=order,
            descending=descending,
            limit=limit,
            page=page,
        )
        return drive_sync(_app(self).sync_client(), plan)

    async def count_schedules(
        self,
        *,
        queues: Sequence[str] | None = None,
        task: str | None = None,
        stopped: bool | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> int:
        """How many schedules match the filters."""
        page = await self.list_schedules(
            queues=queues, task=task, stopped=stopped, labels=labels, limit=None
        )
        return len(page.items)

    def count_schedules_sync(
        self,
        *,
        queues: Sequence[str] | None = None,
        task: str | None = None,
        stopped: bool | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> int:
        """`count_schedules` for sync code."""
        page = self.list_schedules_sync(
            queues=queues, task=task, stopped=stopped, labels=labels, limit=None
        )
        return len(page.items)

    async def stop_schedule(
        self,
        schedule_id: str,
        *,
        queue: str | None = None,
        cancel_active: bool = False,
        reason: str = "stopped",
    ) -> StopReply:
        """Stop a schedule: no more jobs are planned. Its active job runs to
        its end, unless `cancel_active` cancels it."""
        from ._schedules import stop_plan

        plan = stop_plan(_app(self), schedule_id, queue, cancel_active=cancel_active, reason=reason)
        return await drive_async(_app(self).async_client(), plan)

    def stop_schedule_sync(
        self,
        schedule_id: str,
        *,
        queue: str | None = None,
        cancel_active: bool = False,
        reason: str = "stopped",
    ) -> StopReply:
        """`stop_schedule` for sync code."""
        from ._schedules import stop_plan

        plan = stop_plan(_app(self), schedule_id, queue, cancel_active=cancel_active, reason=reason)
        return drive_sync(_app(self).sync_client(), plan)

    async def trigger_schedule(self, schedule_id: str, queue: str | None = None) -> Job[Any]:
        """Run a schedule now (a job for "now" takes the place of a waiting
        future tick's job; one already due or retrying is made due now; a
        running one is returned as is). Returns the job's handle."""
        from ._schedules import trigger_plan

        q, task, job_id = await drive_async(
            _app(self).async_client(), trigger_plan(_app(self), schedule_id, queue)
        )
        return Job(_app(self), job_id, q, task, created=False)

    def trigger_schedule_sync(self, schedule_id: str, queue: str | None = None) -> SyncJob[Any]:
        """`trigger_schedule` for sync code."""
        from ._schedules import trigger_plan

        q, task, job_id = drive_sync(
            _app(self).sync_client(), trigger_plan(_app(self), schedule_id, queue)
        )
        return SyncJob(_app(self), job_id, q, task, created=False)
