"""Operator views: queue counts, live workers, one job looked up by id.

The pure core (`stats`, `workers`: one script call each, named after its Lua
file) and the plans built on it are written once, as generators that yield the
calls to send and receive their replies; `drive_sync` and `drive_async` (in
`_plan`) are the thin shells that send them. Nothing here writes to Redis but
`cancel_plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import JobNotFound
from ._job import JobInfo
from ._keys import QueueKeys, check_job_id, check_queue
from ._plan import Plan
from ._protocol import Call, CancelResult, RawJob, cancel, read_job
from ._protocol_manage import task_names
from ._scripts import script
from ._shards import logical_queue, lookup_order, merge_stats, physical_queues

if TYPE_CHECKING:
    from ._app import App

# Most workers listed per queue, and most running jobs read to count what
# each worker holds (bounds the work of one workers.lua call).
MAX_WORKERS = 1000
MAX_RUNNING_SCANNED = 5_000


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: Sequence[Any]) -> list[tuple[str, Any]]:
    return [(_str(flat[k]), flat[k + 1]) for k in range(0, len(flat), 2)]


# ---------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class TaskStats:
    """Jobs of one task in one queue: waiting (due later / due now) and running;
    `retrying` (from a counter the scripts keep: O(1)) is the part of the
    waiting ones (scheduled + queued) that ran at least once and will run again."""

    task: str
    scheduled: int
    queued: int
    running: int
    retrying: int = 0
    # jobs finished (succeeded or failed) per minute: the current minute's
    # count plus the previous minute's, weighted by the part of it still
    # inside the last 60 s (a sliding estimate, from counters finish.lua keeps)
    per_minute: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A snapshot of one queue's counts, read atomically."""

    queue: str
    tasks: list[TaskStats]
    running: int
    succeeded: int  # kept in the terminal indexes (retention trims them)
    failed: int
    cancelled: int
    oldest_queued_s: float | None  # how long the longest-waiting due job has waited
    workers: int  # live workers (a heartbeat within the last live_s seconds)
    # a sharded queue: the stats of each of its shards, home first (else empty)
    shards: list[QueueStats] = field(default_factory=list)

    @property
    def scheduled(self) -> int:
        return sum(t.scheduled for t in self.tasks)

    @property
    def queued(self) -> int:
        return sum(t.queued for t in self.tasks)

    @property
    def retrying(self) -> int:
        return sum(t.retrying for t in self.tasks)

    @property
    def per_minute(self) -> float:
        return sum(t.per_minute for t in self.tasks)


@dataclass(frozen=True, slots=True)
class RawStats:
    """stats.lua's reply; `unlisted` are tasks of the tasks set not counted."""

    stats: QueueStats
    unlisted: list[str]


def per_minute(now_ms: int, buckets: Sequence[Any]) -> dict[str, float]:
    """Jobs finished per task in the last 60 s, estimated from the counts of
    the current and the previous minute (finish.lua's throughput hashes):
    current + previous x the part of the previous minute still in the window."""
    minute, into = divmod(now_ms, 60_000)
    counts: dict[int, dict[str, int]] = {}
    for flat in buckets:
        fields = {k: v for k, v in _pairs(flat)}
        if "~minute" in fields:
            counts[int(fields.pop("~minute"))] = {k: int(v) for k, v in fields.items()}
    current, previous = counts.get(minute, {}), counts.get(minute - 1, {})
    weight = 1 - into / 60_000
    return {
        task: current.get(task, 0) + previous.get(task, 0) * weight
        for task in {*current, *previous}
    }


def stats(
    keys: QueueKeys,
    queue: str,
    tasks: Sequence[str],
    *,
    live_ms: int,
    now_ms: int | None = None,
) -> Call[RawStats]:
    """Count the jobs of `queue` per task of `tasks`, its finished jobs and live workers."""

    def decode(reply: list[Any]) -> RawStats:
        now, running, succeeded, failed, cancelled, live, members, active = reply[:8]
        per_task = dict(_pairs(active))
        retrying = dict(_pairs(reply[8 + 3 * len(tasks)]))
        rates = per_minute(int(now), reply[9 + 3 * len(tasks) : 11 + 3 * len(tasks)])
        rows, oldest = [], None
        for i, task in enumerate(tasks):
            later, due, oldest_due = (int(x) for x in reply[8 + 3 * i : 11 + 3 * i])
            busy, again = int(per_task.get(task, 0)), int(retrying.get(task, 0))
            rows.append(TaskStats(task, later, due, busy, again, rates.get(task, 0.0)))
            if oldest_due >= 0 and (oldest is None or oldest_due < oldest):
                oldest = oldest_due
        queue_stats = QueueStats(
            queue=queue,
            tasks=rows,
            running=int(running),
            succeeded=int(succeeded),
            failed=int(failed),
            cancelled=int(cancelled),
            oldest_queued_s=None if oldest is None else max(0, int(now) - oldest) / 1000,
            workers=int(live),
        )
        unlisted = sorted({_str(m) for m in members} - set(tasks))
        return RawStats(queue_stats, unlisted)

    script_keys: list[str | bytes] = [
        keys.tasks,
        keys.running,
        keys.active,
        keys.succeeded,
        keys.failed,
        keys.cancelled,
        keys.workers,
    ]
    for task in tasks:
        script_keys += (keys.scheduled(task), keys.ready(task))
    script_keys += (keys.retrying, keys.throughput(0), keys.throughput(1))
    args: list[str | bytes | int | float] = [
        "" if now_ms is None else now_ms,
        live_ms,
        len(tasks),
        *tasks,
    ]
    return Call(script("stats"), script_keys, args, decode)


def default_queues(app: App, queues: Sequence[str] | None) -> list[str]:
    """`queues` checked, or the App's task queues plus "default"."""
    if queues is None:
        return sorted({*app.queues(), "default"})
    return [check_queue(q) for q in queues]


def stats_plan(app: App, queues: Sequence[str] | None, live_s: float) -> Plan[list[QueueStats]]:
    """Stats of each queue: one call per queue, and a second one for a queue
    whose tasks set names tasks this App does not register."""
    logical = default_queues(app, queues)
    names = physical_queues(app.shard_table, logical)  # a sharded queue: each shard
    live_ms = int(live_s * 1000)
    tasks = {
        q: sorted(t.name for t in app.tasks.values() if t.queue == logical_queue(q)) for q in names
    }
    replies: list[RawStats] = yield [
        stats(app.keys(q), q, tasks[q], live_ms=live_ms) for q in names
    ]
    again = [i for i, r in enumerate(replies) if r.unlisted]
    if again:
        calls: list[Call[Any]] = []
        for i in again:
            q = names[i]
            tasks[q] = sorted({*tasks[q], *replies[i].unlisted})
            calls.append(stats(app.keys(q), q, tasks[q], live_ms=live_ms))
        for i, reply in zip(again, (yield calls), strict=True):
            replies[i] = reply
    by_name = {r.stats.queue: r.stats for r in replies}
    return [
        merge_stats(q, [by_name[s] for s in physical_queues(app.shard_table, [q])]) for q in logical
    ]


# ---------------------------------------------------------------- task types


@dataclass(frozen=True, slots=True)
class TaskType:
    """A task name known on a queue: enqueued there by some producer (the
    queue's tasks set, every shard) or registered by this App."""

    queue: str
    name: str
    registered: bool  # this App has the task's function (its workers can run it)
    enqueued: bool  # some producer enqueued it on the queue (or declared a schedule)


def task_types_plan(app: App, queues: Sequence[str] | None) -> Plan[list[TaskType]]:
    """Task types of each queue (default: the App's task queues and "default")."""
    logical = default_queues(app, queues)
    names = physical_queues(app.shard_table, logical)
    replies: list[list[str]] = yield [task_names(app.keys(q)) for q in names]
    seen: dict[str, set[str]] = {q: set() for q in logical}
    for q, found in zip(names, replies, strict=True):
        seen[logical_queue(q)].update(found)
    out = []
    for q in logical:
        registered = {t.name for t in app.tasks.values() if t.queue == q}
        for name in sorted(seen[q] | registered):
            out.append(TaskType(q, name, name in registered, name in seen[q]))
    return out


# ---------------------------------------------------------------- workers


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker of one queue."""

    queue: str
    id: str
    last_heartbeat_s: float  # seconds since its last heartbeat
    # jobs of this queue it holds (running, or prefetched); counted over the
    # first MAX_RUNNING_SCANNED members of `running` (a lower bound past that)
    running: int


@dataclass(frozen=True, slots=True)
class RawWorkers:
    """workers.lua's reply: live workers; `scanned` of the `running` jobs were read."""

    workers: list[WorkerInfo]
    running: int
    scanned: int


def workers(
    keys: QueueKeys,
    queue: str,
    *,
    live_ms: int,
    max_workers: int = MAX_WORKERS,
    max_running: int = MAX_RUNNING_SCANNED,
    now_ms: int | None = None,
) -> Call[RawWorkers]:
    """The live workers of `queue` and how many of its running jobs each holds."""

    def decode(reply: list[Any]) -> RawWorkers:
        now, running, scanned, live, held = reply
        counts = {w: int(n) for w, n in _pairs(held)}
        infos = [
            WorkerInfo(queue, w, max(0, int(now) - int(float(ms))) / 1000, counts.get(w, 0))
            for w, ms in _pairs(live)
        ]
        return RawWorkers(infos, int(running), int(scanned))

    args: list[str | bytes | int | float] = [
        "" if now_ms is None else now_ms,
        live_ms,
        max_workers,
        max_running,
    ]
    return Call(script("workers"), [keys.jobs, keys.running, keys.workers], args, decode)


def workers_plan(app: App, queues: Sequence[str] | None, live_s: float) -> Plan[list[WorkerInfo]]:
    """Live workers of each queue, sorted by queue then id."""
    names = physical_queues(app.shard_table, default_queues(app, queues))
    live_ms = int(live_s * 1000)
    replies: list[RawWorkers] = yield [workers(app.keys(q), q, live_ms=live_ms) for q in names]
    return sorted((w for r in replies for w in r.workers), key=lambda w: (w.queue, w.id))


# ---------------------------------------------------------------- one job


def info_plan(app: App, job_id: str, queue: str) -> Plan[JobInfo]:
    """The record of job `job_id`, or `JobNotFound`; in a sharded queue, read
    from its id's shard, or from the others if it is not there."""
    where = lookup_order(app.shard_table, queue, check_job_id(job_id))
    (raw,) = yield [read_job(app.keys(where[0]), job_id, app.now_ms())]
    assert isinstance(raw, RawJob)
    if raw.state is None and len(where) > 1:
        others = yield [read_job(app.keys(q), job_id, app.now_ms()) for q in where[1:]]
        for q, other in zip(where[1:], others, strict=True):
            if other.state is not None:
                return JobInfo.from_raw(job_id, q, other)
    if raw.state is None:
        raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
    return JobInfo.from_raw(job_id, where[0], raw)


def cancel_plan(
    app: App, job_id: str, queue: str, reason: str
) -> Plan[tuple[JobInfo, CancelResult]]:
    """Cancel job `job_id`, its task read from its state first; `JobNotFound` if
    missing. Returns the record as read before the cancel, and cancel.lua's code."""
    info = yield from info_plan(app, job_id, queue)
    call = cancel(
        app.keys(info.queue),
        job_id,
        task=info.task,
        reason=reason,
        retention=app.retention,
        now_ms=app.now_ms(),
        events=app.events_enabled,
    )
    (result,) = yield [call]
    if result is CancelResult.NOT_FOUND:  # deleted between the two calls
        raise JobNotFound(f"no job {job_id!r} in queue {queue!r}")
    assert isinstance(result, CancelResult)
    return info, result
