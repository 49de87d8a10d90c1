"""Sharded queues: one logical queue spread over K physical queues.

A queue declared with `shards=K` (on a task, or `App(shards={...})`) is stored
as K ordinary rtask queues, each with its own hash tag, so on a Redis Cluster
they land on different slots (and nodes):

    shard 0: `emails`     (the *home* shard: the logical name itself)
    shard i: `emails#i`   (i = 1 … K-1)

Shard 0 keeps the logical name, so everything that is per queue and not per
job (schedules, the events stream, a queue's uniqueness and rate state) stays
where an unsharded queue has it, and going from 1 to K shards orphans no job.
`#` is outside the alphabet of user queue names, so a shard name can never
collide with a queue a user names.

Sharding is a routing layer: the scripts are unchanged, each call still
touches one shard. Routing rules (all processes must agree on K):

- a job goes to shard `crc32(id) % K`, so its id finds it again with one
  read (`app.job(id, "emails")`); ids chosen by rtask are random enough to
  spread evenly; a job with a uniqueness identity goes by the identity
  instead, so every enqueue of one identity meets in one shard (its lookup
  by id then probes the other shards when the id's shard lacks it);
- a rate-limited task's jobs all go to the home shard, where its rate log is
  (one log, so the limit holds exactly);
- a task with a concurrency cap is spread like any other; its cap holds
  across shards through permits in the home shard (`_permits`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ._errors import ConfigError, InvalidInput
from ._keys import check_queue
from ._protocol import Call, EnqueueReply, NewJob, enqueue

if TYPE_CHECKING:
    from ._admin import QueueStats
    from ._task import Task

SEPARATOR = "#"
MAX_SHARDS = 1024


def check_shards(value: Any, what: str) -> int:
    """A shard count (1 … MAX_SHARDS), or `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
        raise ConfigError(f"{what}: shards must be an integer in [1, {MAX_SHARDS}], got {value!r}")
    return value


def shard_name(queue: str, index: int) -> str:
    """The physical queue of shard `index` of `queue` (shard 0 is `queue` itself)."""
    return queue if index == 0 else f"{queue}{SEPARATOR}{index}"


def shard_names(queue: str, count: int) -> list[str]:
    """Every physical queue of `queue` spread over `count` shards, home first."""
    return [shard_name(queue, i) for i in range(count)]


def logical_queue(name: str) -> str:
    """The logical queue of a physical one (`emails#3` -> `emails`)."""
    return name.partition(SEPARATOR)[0]


def check_physical_queue(name: str) -> str:
    """A queue name, or a shard name rtask generates (`<queue>#<i>`, i >= 1)."""
    if isinstance(name, str) and SEPARATOR in name:
        base, _, index = name.partition(SEPARATOR)
        if not (index.isdigit() and index[0] != "0" and int(index) < MAX_SHARDS):
            raise InvalidInput(
                f"invalid queue name {name!r}: '#' only appears in shard names <queue>#<i>"
            )
        check_queue(base)
        return name
    return check_queue(name)


def shard_index(key: str, count: int) -> int:
    """The shard of a job id (or any routing key): stable across processes."""
    return 0 if count <= 1 else zlib.crc32(key.encode()) % count


def declare(table: dict[str, int], queue: str, count: int, who: str) -> None:
    """Record that `queue` has `count` shards; `ConfigError` if it disagrees
    with an earlier declaration (every task of a queue shares its shards)."""
    check_shards(count, who)
    known = table.get(queue)
    if known is not None and known != count:
        raise ConfigError(
            f"{who}: queue {queue!r} has {known} shards already, not {count}"
            " (every task of a queue and every process must agree)"
        )
    table[queue] = count


def check_table(shards: Mapping[str, int] | None) -> dict[str, int]:
    """`App(shards=...)`: queue -> shard count, checked."""
    table: dict[str, int] = {}
    for queue, count in (shards or {}).items():
        declare(table, check_queue(queue), count, f"App(shards={{{queue!r}: …}})")
    return table


def physical_queues(table: Mapping[str, int], queues: Iterable[str]) -> list[str]:
    """The physical queues of `queues` (logical names are expanded; a shard
    name given as is stays as is), in order, without repeats."""
    out: dict[str, None] = {}
    for queue in queues:
        if SEPARATOR in queue:
            out[queue] = None
            continue
        for name in shard_names(queue, table.get(queue, 1)):
            out[name] = None
    return list(out)


# ---------------------------------------------------------------- enqueue


def routing_key(job: NewJob) -> str:
    """What places a new job: its uniqueness identity when it has one (so a
    duplicate meets the job holding the identity, in the same shard), else
    its id."""
    spec = job.unique  # the unique spec JSON (b"" = none)
    if spec:
        identity = orjson.loads(spec).get("k")
        if isinstance(identity, str):
            return identity
    return job.id


def route(task: Task[Any, Any], job: NewJob) -> int:
    """The shard a new job of `task` goes to."""
    if task.shards <= 1 or task.rate_limit is not None:
        return 0
    return shard_index(routing_key(job), task.shards)


# Where a new job went: (physical queue, the reply of its call, its index there)
Placement = tuple[str, EnqueueReply, int]


def enqueue_calls(
    task: Task[Any, Any],
    jobs: Sequence[NewJob],
    chunk: int,
    now_ms: int | None,
    events: bool,
) -> tuple[list[Call[EnqueueReply]], Callable[[list[EnqueueReply]], list[Placement]]]:
    """The enqueue calls of `jobs` (one per shard, per `chunk` jobs) and a
    function mapping their replies to each job's placement."""
    groups: dict[int, list[int]] = {}
    if task.shards <= 1:  # not sharded: no routing per job
        groups[0] = list(range(len(jobs)))
    else:
        for i, job in enumerate(jobs):
            groups.setdefault(route(task, job), []).append(i)
    calls: list[Call[EnqueueReply]] = []
    order: list[tuple[str, list[int]]] = []
    for shard, indices in groups.items():
        name = shard_name(task.queue, shard)
        keys = task.keys if shard == 0 else task.app.keys(name)
        for start in range(0, len(indices), chunk):
            part = indices[start : start + chunk]
            calls.append(enqueue(keys, [jobs[i] for i in part], now_ms, events=events))
            order.append((name, part))

    def placed(replies: list[EnqueueReply]) -> list[Placement]:
        out: list[Placement] = [None] * len(jobs)  # type: ignore[list-item]
        for (name, part), reply in zip(order, replies, strict=True):
            for k, i in enumerate(part):
                out[i] = (name, reply, k)
        return out

    return calls, placed


# ---------------------------------------------------------------- reads


def lookup_order(table: Mapping[str, int], queue: str, job_id: str) -> list[str]:
    """Where to look for job `job_id` of `queue`: its id's shard first, then
    the others (a job placed by another key, e.g. a uniqueness key)."""
    if SEPARATOR in queue:
        return [check_physical_queue(queue)]
    names = shard_names(check_queue(queue), table.get(queue, 1))
    first = shard_index(job_id, len(names))
    return [names[first], *names[:first], *names[first + 1 :]]


def merge_stats(queue: str, parts: Sequence[QueueStats]) -> QueueStats:
    """The stats of a logical queue from those of its shards (summed; workers:
    the most any shard has, since a worker serves every shard of a queue)."""
    if len(parts) == 1 and parts[0].queue == queue:
        return parts[0]
    rows: dict[str, list[float]] = {}
    for part in parts:
        for t in part.tasks:
            row = rows.setdefault(t.task, [0, 0, 0, 0, 0.0])
            row[0] += t.scheduled
            row[1] += t.queued
            row[2] += t.running
            row[3] += t.retrying
            row[4] += t.per_minute
    from ._admin import QueueStats, TaskStats

    waits = [p.oldest_queued_s for p in parts if p.oldest_queued_s is not None]
    return QueueStats(
        queue=queue,
        tasks=[
            TaskStats(name, int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4])
            for name, r in sorted(rows.items())
        ],
        running=sum(p.running for p in parts),
        succeeded=sum(p.succeeded for p in parts),
        failed=sum(p.failed for p in parts),
        cancelled=sum(p.cancelled for p in parts),
        oldest_queued_s=max(waits) if waits else None,
        workers=max(p.workers for p in parts),
        shards=list(parts),
    )
