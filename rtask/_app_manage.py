"""The App's job-management methods (rerun, update, retry the dead letter,
cancel by filter, prune, delete history, wait for many jobs), each async with
a `_sync` twin. A mixin, so `_app.py` stays small; the logic is in the plans
of `_manage.py` and `_wait.py`.

Each method imports its plan's module when first called: a worker never
calls them, and its start-up should not pay for importing them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from ._plan import drive_async, drive_sync

if TYPE_CHECKING:
    from ._app import App
    from ._job import Job, JobInfo, JobStatus, SyncJob
    from ._list import Filter, JobPage, Range
    from ._manage import CancelledJob, JobChanges, Prune

    Handle = Job[Any] | SyncJob[Any]


def _app(mixin: ManageMixin) -> App:
    return cast("App", mixin)


def _refs(jobs: Sequence[Handle]) -> list[tuple[str, str]]:
    return [(job.queue, job.id) for job in jobs]


class ManageMixin:
    """Job management on an App (see `_manage.py` for the semantics)."""

    async def rerun(self, job_id: str, queue: str = "default", *, delay: float = 0) -> None:
        """Make the finished job runnable again, with one more allowed attempt
        (`delay` seconds from now); `JobStateError` if it has not finished."""
        from ._manage import rerun_plan

        await drive_async(_app(self).async_client(), rerun_plan(_app(self), job_id, queue, delay))

    def rerun_sync(self, job_id: str, queue: str = "default", *, delay: float = 0) -> None:
        """`rerun` for sync code."""
        from ._manage import rerun_plan

        drive_sync(_app(self).sync_client(), rerun_plan(_app(self), job_id, queue, delay))

    async def update(self, job_id: str, queue: str = "default", **changes: Any) -> None:
        """Change a waiting job: `args`/`kwargs` (replace both), `priority`,
        `delay`/`at`, `tags`, `max_attempts`. `JobStateError` if it is running
        or finished."""
        from ._manage import update_plan

        plan = update_plan(_app(self), job_id, queue, _changes(changes))
        await drive_async(_app(self).async_client(), plan)

    def update_sync(self, job_id: str, queue: str = "default", **changes: Any) -> None:
        """`update` for sync code."""
        from ._manage import update_plan

        plan = update_plan(_app(self), job_id, queue, _changes(changes))
        drive_sync(_app(self).sync_client(), plan)

    async def retry_failed(
        self,
        queue: str = "default",
        *,
        tasks: Sequence[str] | None = None,
        finished_after: datetime | None = None,
        finished_before: datetime | None = None,
    ) -> int:
        """Rerun the dead letter (failed jobs), or the part of it of `tasks`
        finished in the range; the number rerun. Works in bounded batches."""
        from ._manage import retry_failed_plan

        plan = retry_failed_plan(_app(self), queue, tasks, finished_after, finished_before)
        return await drive_async(_app(self).async_client(), plan)

    def retry_failed_sync(
        self,
        queue: str = "default",
        *,
        tasks: Sequence[str] | None = None,
        finished_after: datetime | None = None,
        finished_before: datetime | None = None,
    ) -> int:
        """`retry_failed` for sync code."""
        from ._manage import retry_failed_plan

        plan = retry_failed_plan(_app(self), queue, tasks, finished_after, finished_before)
        return drive_sync(_app(self).sync_client(), plan)

    async def cancel_jobs(
        self,
        queue: str = "default",
        *,
        tasks: Sequence[str] | None = None,
        statuses: Sequence[JobStatus | str] | None = None,
        tags: Sequence[str] = (),
        reason: str = "cancelled",
    ) -> list[CancelledJob]:
        """Cancel the active jobs of `tasks` (default all) in `statuses` (default
        all active ones) carrying every tag of `tags`; each with its last
        execution (`CancelledJob`). Running ones are told to stop at their
        worker's next heartbeat."""
        from ._manage import cancel_jobs_plan

        plan = cancel_jobs_plan(_app(self), queue, tasks, statuses, tags, reason)
        return await drive_async(_app(self).async_client(), plan)

    def cancel_jobs_sync(
        self,
        queue: str = "default",
        *,
        tasks: Sequence[str] | None = None,
        statuses: Sequence[JobStatus | str] | None = None,
        tags: Sequence[str] = (),
        reason: str = "cancelled",
    ) -> list[CancelledJob]:
        """`cancel_jobs` for sync code."""
        from ._manage import cancel_jobs_plan

        plan = cancel_jobs_plan(_app(self), queue, tasks, statuses, tags, reason)
        return drive_sync(_app(self).sync_client(), plan)

    async def prune(self, rules: Sequence[Prune], queue: str = "default") -> int:
        """Delete finished jobs by `rules` (`rtask.Prune`); the number deleted."""
        from ._manage import prune_plan

        return await drive_async(_app(self).async_client(), prune_plan(_app(self), queue, rules))

    def prune_sync(self, rules: Sequence[Prune], queue: str = "default") -> int:
        """`prune` for sync code."""
        from ._manage import prune_plan

        return drive_sync(_app(self).sync_client(), prune_plan(_app(self), queue, rules))

    async def delete_history(self, before: datetime, queues: Sequence[str] | None = None) -> int:
        """Delete every job that finished before `before` in `queues` (default:
        every task's queue and "default"); the number deleted."""
        from ._admin import default_queues
        from ._manage import delete_history_plan

        plan = delete_history_plan(_app(self), default_queues(_app(self), queues), before)
        return await drive_async(_app(self).async_client(), plan)

    def delete_history_sync(self, before: datetime, queues: Sequence[str] | None = None) -> int:
        """`delete_history` for sync code."""
        from ._admin import default_queues
        from ._manage import delete_history_plan

        plan = delete_history_plan(_app(self), default_queues(_app(self), queues), before)
        return drive_sync(_app(self).sync_client(), plan)

    async def jobs(
        self,
        queue: str = "default",
        *,
        status: JobStatus | str | Sequence[JobStatus | str] | None = None,
        tasks: Sequence[str] | None = None,
        tags: Sequence[str] = (),
        any_tags: Sequence[str] | None = None,
        labels: Mapping[str, str | None] | None = None,
        schedules: Sequence[str] | None = None,
        created: Range | None = None,
        scheduled: Range | None = None,
        finished: Range | None = None,
        descending: bool = False,
        limit: int = 50,
        page_token: str | None = None,
        order: str = "status",
    ) -> JobPage:
        """One page of the jobs with `status` (of `tasks`, with every tag of
        `tags` and one of `any_tags`, every label of `labels` (value None: the
        key is present), made by one of `schedules`, created / due / finished
        in [from, to) ranges of datetimes), in the order of the set holding
        them (status None: queued); pass `page_token` for the next page (it
        carries the filters). With `order="created"`: the jobs of `status`
        (one, several, or None: all) by created time, from the queue's
        created index. See `rtask._list` and `rtask._list_created`."""
        from ._list import Filter, list_plan

        where = Filter(tasks, tags, created, scheduled, finished, any_tags, labels, schedules)
        plan = list_plan(_app(self), queue, status, where, descending, limit, page_token, order)
        return await drive_async(_app(self).async_client(), plan)

    def jobs_sync(
        self,
        queue: str = "default",
        *,
        status: JobStatus | str | Sequence[JobStatus | str] | None = None,
        tasks: Sequence[str] | None = None,
        tags: Sequence[str] = (),
        any_tags: Sequence[str] | None = None,
        labels: Mapping[str, str | None] | None = None,
        schedules: Sequence[str] | None = None,
        created: Range | None = None,
        scheduled: Range | None = None,
        finished: Range | None = None,
        descending: bool = False,
        limit: int = 50,
        page_token: str | None = None,
        order: str = "status",
    ) -> JobPage:
        """`jobs` for sync code."""
        from ._list import Filter, list_plan

        where = Filter(tasks, tags, created, scheduled, finished, any_tags, labels, schedules)
        plan = list_plan(_app(self), queue, status, where, descending, limit, page_token, order)
        return drive_sync(_app(self).sync_client(), plan)

    async def count(
        self,
        queue: str = "default",
        *,
        status: JobStatus | str,
        task: str | None = None,
        where: Filter | None = None,
    ) -> int:
        """How many jobs have `status` (of `task`): O(1) / O(log n) reads; with
        `where` (`rtask.JobFilter`: the filters of `jobs`) or for retrying
        jobs, bounded reads of the status's sets (see `rtask._list.count_plan`)."""
        from ._list import count_plan

        plan = count_plan(_app(self), queue, status, task, where)
        return await drive_async(_app(self).async_client(), plan)

    def count_sync(
        self,
        queue: str = "default",
        *,
        status: JobStatus | str,
        task: str | None = None,
        where: Filter | None = None,
    ) -> int:
        """`count` for sync code."""
        from ._list import count_plan

        plan = count_plan(_app(self), queue, status, task, where)
        return drive_sync(_app(self).sync_client(), plan)

    async def wait(self, jobs: Sequence[Handle], timeout: float | None = None) -> list[JobInfo]:
        """Wait until every job finished (woken by notifications); their
        records in order, or `ResultTimeout`."""
        from ._wait import wait_async

        return await wait_async(_app(self), _refs(jobs), timeout)

    def wait_sync(self, jobs: Sequence[Handle], timeout: float | None = None) -> list[JobInfo]:
        """`wait` for sync code."""
        from ._wait import wait_sync

        return wait_sync(_app(self), _refs(jobs), timeout)


_FIELDS = {
    "args": "args",
    "kwargs": "kwargs",
    "priority": "priority",
    "delay": "delay_s",
    "at": "at",
    "tags": "tags",
    "max_attempts": "max_attempts",
}


def _changes(changes: dict[str, Any]) -> JobChanges:
    from ._errors import InvalidInput
    from ._manage import JobChanges

    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown update fields {sorted(unknown)}; use {sorted(_FIELDS)}")
    return JobChanges(**{_FIELDS[k]: v for k, v in changes.items()})
