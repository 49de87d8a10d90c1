"""What `assert_enqueued` looks for (`Expectation`, `expectation`), and the check
and its failure message (`check`): pure functions of decoded records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._codec import Codec, decode, encode
from .._errors import CodecError, InvalidInput
from .._job import JobStatus
from .._task import Task
from ._records import EnqueuedJob, _iso

if TYPE_CHECKING:
    from .._app import App


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
