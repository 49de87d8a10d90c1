"""Changing jobs: rerun, update, retry the dead letter, cancel by filter, prune,
delete history. Written once as plans (see `_admin.py`): generators that yield
the calls to send, driven by `drive_sync` / `drive_async`.

Every paged plan sends bounded calls (`MANAGE_BATCH` jobs read each) until the
set is exhausted, so no single call holds Redis for long.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ._admin import info_plan
from ._codec import encode
from ._errors import InvalidInput, JobNotFound, JobStateError, PayloadTooLarge
from ._history import Execution
from ._job import JobInfo, JobStatus
from ._keys import QueueKeys, check_queue
from ._plan import Plan
from ._protocol import RawJob, read_job
from ._protocol_manage import (
    MANAGE_BATCH,
    CancelManyReply,
    RerunResult,
    SweepReply,
    UniqueSweepReply,
    UpdateReply,
    UpdateResult,
    cancel_many,
    prune,
    rerun,
    retry_failed,
    task_names,
    unique_sweep,
    update,
)
from ._shards import physical_queues
from ._task import MAX_ATTEMPTS_LIMIT, PRIORITY_MAX, PRIORITY_MIN, _check_int, _check_seconds

if TYPE_CHECKING:
    from ._app import App

T = TypeVar("T")

FINISHED_INDEXES = ("succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("scheduled", "queued", "retrying", "running")


def _ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise InvalidInput("times must be timezone-aware datetimes")
    return int(when.timestamp() * 1000)


def queue_tasks(app: App, queue: str, tasks: Sequence[str] | None) -> Plan[list[str]]:
    """`tasks`, or every task known on the queue (registered here or ever enqueued)."""
    if tasks is not None:
        return sorted(set(tasks))
    (names,) = yield [task_names(app.keys(queue))]
    registered = {t.name for t in app.tasks.values() if t.queue == queue}
    return sorted(registered | set(names))


# ---------------------------------------------------------------- rerun / update


def rerun_plan(app: App, job_id: str, queue: str, delay_s: float) -> Plan[None]:
    """Rerun the finished job `job_id`; `JobStateError` if it is not finished."""
    delay = _check_seconds("delay", delay_s, positive=False) or 0.0
    info = yield from info_plan(app, job_id, queue)  # (info.queue: its shard, if sharded)
    call = rerun(app.keys(info.queue), info.task, [job_id], delay_ms=int(delay * 1000))
    (results,) = yield [call]
    result = results[0]
    if result is RerunResult.NOT_FOUND:
        raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
    if result is RerunResult.NOT_FINISHED:
        raise JobStateError(
            f"job {job_id} is {info.status.value}: only finished jobs rerun",
            status=info.status.value,
        )
    if result is RerunResult.STILL_HELD:
        raise JobStateError(
            f"job {job_id} was cancelled while running and its worker still holds it;"
            " rerun it once the worker lets go",
            status="cancelled",
        )


@dataclass(frozen=True, slots=True)
class JobChanges:
    """What `update` changes (None = unchanged); `args`/`kwargs` replace both."""

    args: Sequence[Any] | None = None
    kwargs: dict[str, Any] | None = None
    priority: int | None = None
    delay_s: float | None = None
    at: datetime | None = None
    tags: Sequence[str] | None = None
    max_attempts: int | None = None


def _update_call(app: App, keys: QueueKeys, task: str, job_id: str, c: JobChanges) -> Any:
    if c.priority is not None:
        _check_int("priority", c.priority, PRIORITY_MIN, PRIORITY_MAX)
    if c.max_attempts is not None:
        _check_int("max_attempts", c.max_attempts, 1, MAX_ATTEMPTS_LIMIT)
    if c.delay_s is not None and c.at is not None:
        raise InvalidInput("give either delay or at, not both")
    delay_ms = None
    if c.delay_s is not None:
        delay_ms = int((_check_seconds("delay", c.delay_s, positive=False) or 0.0) * 1000)
    elif c.at is not None:
        delay_ms = max(0, (_ms(c.at) or 0) - int(app.clock() * 1000))
    if c.tags is not None and (
        isinstance(c.tags, str) or not all(isinstance(t, str) and t for t in c.tags)
    ):
        raise InvalidInput(f"tags must be non-empty strings, got {c.tags!r}")
    payload = None
    if c.args is not None or c.kwargs is not None:
        payload = encode(app.codec, [list(c.args or ()), dict(c.kwargs or {})])
        if len(payload) > app.max_payload_bytes:
            raise PayloadTooLarge(f"payload is {len(payload)} bytes, over the limit")
    return update(
        keys,
        task,
        job_id,
        priority=c.priority,
        delay_ms=delay_ms,
        tags=c.tags,
        max_attempts=c.max_attempts,
        payload=payload,
    )


def update_plan(app: App, job_id: str, queue: str, changes: JobChanges) -> Plan[None]:
    """Change the waiting job `job_id`; `JobStateError` if it runs or finished."""
    info = yield from info_plan(app, job_id, queue)
    (reply,) = yield [_update_call(app, app.keys(info.queue), info.task, job_id, changes)]
    assert isinstance(reply, UpdateReply)
    if reply.result is UpdateResult.NOT_FOUND:
        raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
    if reply.result is UpdateResult.NOT_WAITING:
        raise JobStateError(
            f"job {job_id} is {reply.status}: only waiting jobs can be updated",
            status=reply.status,
        )
    if reply.result is UpdateResult.ATTEMPTS_USED:
        raise InvalidInput(f"job {job_id} already used more attempts than {changes.max_attempts}")


# ---------------------------------------------------------------- batches


def _each_shard(app: App, queue: str, one: Callable[[str], Plan[T]]) -> Plan[list[T]]:
    """`one` run on each physical queue of `queue` (itself unless sharded)."""
    out = []
    for physical in app.shards(queue):  # (checks the queue name)
        out.append((yield from one(physical)))
    return out


def retry_failed_plan(
    app: App,
    queue: str,
    tasks: Sequence[str] | None,
    finished_after: datetime | None,
    finished_before: datetime | None,
) -> Plan[int]:
    """Rerun the failed jobs of `tasks` (default: all) finished in the range,
    in every shard of `queue`; their count."""
    counts = yield from _each_shard(
        app, queue, lambda q: _retry_failed_one(app, q, tasks, finished_after, finished_before)
    )
    return sum(counts)


def _retry_failed_one(
    app: App,
    queue: str,
    tasks: Sequence[str] | None,
    finished_after: datetime | None,
    finished_before: datetime | None,
) -> Plan[int]:
    names = yield from queue_tasks(app, queue, tasks)
    if not names:
        return 0
    keys = app.keys(queue)
    until = _ms(finished_before)
    if until is None:  # a fixed end: jobs failing meanwhile are not chased
        until = int(app.clock() * 1000)
    offset = total = 0
    while True:
        call = retry_failed(
            keys,
            names,
            finished_from_ms=_ms(finished_after),
            finished_until_ms=until - 1,
            offset=offset,
        )
        (reply,) = yield [call]
        assert isinstance(reply, SweepReply)
        total += reply.done
        offset += reply.read - reply.removed
        if reply.read < MANAGE_BATCH:
            return total


@dataclass(frozen=True, slots=True)
class CancelledJob:
    """A job `cancel_jobs` cancelled, and its last execution (Ora's
    `{job_id, last_execution}`): the cancelled run of a running job, the
    cancel (never started) of a waiting one; None if retention deleted the
    job before it was read back."""

    id: str
    last_execution: Execution | None


def _cancelled_jobs(app: App, queue: str, ids: list[str]) -> Plan[list[CancelledJob]]:
    """Read back the jobs just cancelled (one pipelined batch) for their last execution."""
    if not ids:
        return []
    replies = yield [read_job(app.keys(queue), i) for i in ids]
    out = []
    for job_id, raw in zip(ids, replies, strict=True):
        assert isinstance(raw, RawJob)
        runs = [] if raw.state is None else JobInfo.from_raw(job_id, queue, raw).executions
        out.append(CancelledJob(job_id, runs[-1] if runs else None))
    return out


def cancel_jobs_plan(
    app: App,
    queue: str,
    tasks: Sequence[str] | None,
    statuses: Sequence[JobStatus | str] | None,
    tags: Sequence[str],
    reason: str,
) -> Plan[list[CancelledJob]]:
    """Cancel the active jobs matching the filter (Ora's cancel_jobs), in
    every shard of `queue`: each job once, with its last execution.

    Statuses are intersected with the active ones (scheduled, queued,
    retrying, running); an empty intersection means all of them. Running jobs
    are told to stop at their worker's next heartbeat.
    """
    parts = yield from _each_shard(
        app, queue, lambda q: _cancel_jobs_one(app, q, tasks, statuses, tags, reason)
    )
    return [job for part in parts for job in part]


def _cancel_jobs_one(
    app: App,
    queue: str,
    tasks: Sequence[str] | None,
    statuses: Sequence[JobStatus | str] | None,
    tags: Sequence[str],
    reason: str,
) -> Plan[list[CancelledJob]]:
    wanted = {JobStatus(s).value for s in statuses or ()} & set(ACTIVE_STATUSES)
    wanted = wanted or set(ACTIVE_STATUSES)
    names = yield from queue_tasks(app, queue, tasks)
    keys = app.keys(queue)
    sources = [s for s in ("scheduled", "ready") if wanted - {"running"}]
    if "running" in wanted:
        sources.append("running")
    out: list[CancelledJob] = []
    for task in names:
        for source in sources:
            offset = 0
            while True:
                call = cancel_many(
                    keys,
                    task,
                    source,
                    statuses=sorted(wanted),
                    tags=tags,
                    reason=reason,
                    offset=offset,
                    retention=app.retention,
                )
                (reply,) = yield [call]
                assert isinstance(reply, CancelManyReply)
                out += yield from _cancelled_jobs(app, queue, reply.cancelled + reply.requested)
                offset += reply.read - reply.removed
                if reply.read < MANAGE_BATCH:
                    break
    return out


@dataclass(frozen=True, slots=True)
class Prune:
    """A prune rule (rexecutor's PruneSpec): delete finished jobs of `status`
    older than `max_age` seconds, or all but the `max_count` newest; of every
    task, of `only` these tasks, or of all `but` these."""

    status: JobStatus | str
    max_age: float | None = None
    max_count: int | None = None
    only: Sequence[str] = ()
    but: Sequence[str] = ()

    def __post_init__(self) -> None:
        if JobStatus(self.status).value not in FINISHED_INDEXES:
            raise InvalidInput(f"prune rules apply to finished statuses, not {self.status!r}")
        if (self.max_age is None) == (self.max_count is None):
            raise InvalidInput("give a prune rule either max_age or max_count")
        if self.only and self.but:
            raise InvalidInput("give a prune rule only or but, not both")
        _check_seconds("max_age", self.max_age, positive=False)
        if self.max_count is not None:
            _check_int("max_count", self.max_count, 0, 1 << 40)


def _sweep(
    app: App, queue: str, index: str, mode: str, cutoff: int, scope: str, names: Sequence[str]
) -> Plan[int]:
    """Run prune.lua over one finished index until it is exhausted; jobs deleted."""
    keys = app.keys(queue)
    offset = kept = deleted = 0
    while True:
        call = prune(
            keys,
            index,
            mode=mode,
            cutoff=cutoff,
            rule=scope,
            tasks=names,
            offset=offset,
            kept=kept,
        )
        (reply,) = yield [call]
        assert isinstance(reply, SweepReply)
        deleted += reply.done
        kept = reply.kept
        offset += reply.read - reply.removed
        if reply.read < MANAGE_BATCH:
            return deleted


def _prune_one(app: App, queue: str, rule: Prune, now_ms: int) -> Plan[int]:
    mode, cutoff = "count", rule.max_count or 0
    if rule.max_age is not None:
        mode, cutoff = "before", now_ms - int(rule.max_age * 1000)
    scope, names = ("only", rule.only) if rule.only else ("except", rule.but)
    if not rule.only and not rule.but:
        scope = "all"
    return (yield from _sweep(app, queue, JobStatus(rule.status).value, mode, cutoff, scope, names))


def _unique_sweep(app: App, queue: str) -> Plan[None]:
    cursor = "0"
    while True:
        (reply,) = yield [unique_sweep(app.keys(queue), cursor)]
        assert isinstance(reply, UniqueSweepReply)
        cursor = reply.cursor
        if cursor == "0":
            return


def prune_plan(app: App, queue: str, rules: Sequence[Prune]) -> Plan[int]:
    """Apply `rules` in order, then sweep the unique identities no job holds,
    in every shard of `queue`; the number of jobs deleted."""
    counts = yield from _each_shard(app, queue, lambda q: _prune_queue(app, q, rules))
    return sum(counts)


def _prune_queue(app: App, queue: str, rules: Sequence[Prune]) -> Plan[int]:
    now_ms = int(app.clock() * 1000)
    deleted = 0
    for rule in rules:
        deleted += yield from _prune_one(app, queue, rule, now_ms)
    yield from _unique_sweep(app, queue)
    return deleted


def delete_history_plan(app: App, queues: Sequence[str], before: datetime) -> Plan[int]:
    """Delete every job that finished before `before` (Ora's delete_history); the count."""
    cutoff = _ms(before)
    assert cutoff is not None
    deleted = 0
    for queue in physical_queues(app.shard_table, [check_queue(q) for q in queues]):
        for index in FINISHED_INDEXES:
            deleted += yield from _sweep(app, queue, index, "before", cutoff, "all", ())
        yield from _unique_sweep(app, queue)
    return deleted
