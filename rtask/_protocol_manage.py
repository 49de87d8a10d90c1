"""The pure core of job management: one function per script (rerun, update,
retry_failed, cancel_many, prune, unique_sweep, wait, tasks), each building a
`Call` and decoding its reply, as `_protocol/` does for the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from ._keys import QueueKeys
from ._protocol import DEFAULT_RETENTION, Call, RawJob, Retention, _now_arg, _str
from ._scripts import script

Args = list[str | bytes | int | float]

# Most jobs one management call reads: each call stays short (well under a
# millisecond of Redis time for plain records), the plans loop over calls.
MANAGE_BATCH = 500


def _ms(value: float | None, default: str) -> str | int:
    return default if value is None else int(value)


# ---------------------------------------------------------------- rerun


class RerunResult(IntEnum):
    """rerun.lua's answer per job."""

    RERUN = 1
    NOT_FINISHED = 0
    NOT_FOUND = -1
    OTHER_TASK = -4
    STILL_HELD = -5


def rerun(
    keys: QueueKeys,
    task: str,
    ids: Sequence[str],
    *,
    delay_ms: int = 0,
    now_ms: int | None = None,
) -> Call[list[RerunResult]]:
    """Make finished jobs `ids` of `task` runnable again (max attempts + 1)."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.running,
        keys.succeeded,
        keys.failed,
        keys.cancelled,
        keys.unique,
        keys.scheduled(task),
        keys.ready(task),
        keys.retrying,
    ]
    args: Args = [_now_arg(now_ms), keys.wake_channel, task, delay_ms, *ids]
    return Call(script("rerun"), script_keys, args, lambda r: [RerunResult(int(c)) for c in r[1:]])


# ---------------------------------------------------------------- update


class UpdateResult(IntEnum):
    """update.lua's answer."""

    UPDATED = 1
    NOT_WAITING = 0
    NOT_FOUND = -1
    OTHER_TASK = -4
    ATTEMPTS_USED = -8


@dataclass(frozen=True, slots=True)
class UpdateReply:
    result: UpdateResult
    status: str  # the stored status the job had


def update(
    keys: QueueKeys,
    task: str,
    job_id: str,
    *,
    priority: int | None = None,
    delay_ms: int | None = None,
    tags: Sequence[str] | None = None,
    max_attempts: int | None = None,
    payload: bytes | None = None,
    now_ms: int | None = None,
) -> Call[UpdateReply]:
    """Change fields of the waiting job `job_id` of `task` (None = unchanged)."""
    change: dict[str, Any] = {}
    if priority is not None:
        change["p"] = priority
    if delay_ms is not None:
        change["delay"] = delay_ms
    if tags is not None:
        change["tg"] = list(tags)
    if max_attempts is not None:
        change["m"] = max_attempts
    args: Args = [
        _now_arg(now_ms),
        keys.wake_channel,
        task,
        job_id,
        orjson.dumps(change),
        "0" if payload is None else "1",
        payload or b"",
    ]

    def decode(reply: list[Any]) -> UpdateReply:
        return UpdateReply(UpdateResult(int(reply[1])), _str(reply[2]))

    script_keys: list[str | bytes] = [keys.jobs, keys.scheduled(task), keys.ready(task)]
    return Call(script("update"), script_keys, args, decode)


# ---------------------------------------------------------------- retry_failed


@dataclass(frozen=True, slots=True)
class SweepReply:
    """A paged script's answer: jobs read, and how many left the set read."""

    read: int
    removed: int
    done: int  # jobs acted on (rerun, deleted, cancelled)
    kept: int = 0


def retry_failed(
    keys: QueueKeys,
    tasks: Sequence[str],
    *,
    finished_from_ms: float | None = None,
    finished_until_ms: float | None = None,
    offset: int = 0,
    limit: int = MANAGE_BATCH,
    now_ms: int | None = None,
) -> Call[SweepReply]:
    """Rerun a batch of failed jobs of `tasks` finished in the range, oldest first."""
    script_keys: list[str | bytes] = [keys.jobs, keys.running, keys.failed, keys.unique]
    for task in tasks:
        script_keys += (keys.scheduled(task), keys.ready(task))
    script_keys.append(keys.retrying)
    args: Args = [
        _now_arg(now_ms),
        keys.wake_channel,
        _ms(finished_from_ms, "-inf"),
        _ms(finished_until_ms, "+inf"),
        offset,
        limit,
        len(tasks),
        *tasks,
    ]

    def decode(reply: list[Any]) -> SweepReply:
        _, rerun_n, _, read = (int(x) for x in reply)
        return SweepReply(read, rerun_n, rerun_n)

    return Call(script("retry_failed"), script_keys, args, decode)


# ---------------------------------------------------------------- cancel_many


@dataclass(frozen=True, slots=True)
class CancelManyReply:
    read: int
    removed: int
    cancelled: list[str]  # were waiting: cancelled now
    requested: list[str]  # were running: their workers are told to stop


def cancel_many(
    keys: QueueKeys,
    task: str,
    source: str,
    *,
    statuses: Sequence[str],
    tags: Sequence[str] = (),
    reason: str,
    offset: int = 0,
    limit: int = MANAGE_BATCH,
    retention: Retention = DEFAULT_RETENTION,
    now_ms: int | None = None,
) -> Call[CancelManyReply]:
    """Cancel a batch of active jobs of `task` read from `source` ("scheduled",
    "ready" or "running") whose public status is in `statuses` and that carry all `tags`."""
    read_key = {
        "scheduled": keys.scheduled(task),
        "ready": keys.ready(task),
        "running": keys.running,
    }[source]
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.cancelled,
        keys.unique,
        keys.done,
        read_key,
        keys.scheduled(task),
        keys.ready(task),
        keys.unique_exp,
        keys.retrying,
        *keys.index_keys,
    ]
    args: Args = [
        _now_arg(now_ms),
        task,
        orjson.dumps(sorted(statuses)),
        orjson.dumps(list(tags)),
        reason,
        offset,
        limit,
        *retention.cancelled_args(),
    ]

    def decode(reply: list[Any]) -> CancelManyReply:
        ids = [_str(x) for x in reply[3:]]
        split = ids.index("")
        return CancelManyReply(int(reply[1]), int(reply[2]), ids[:split], ids[split + 1 :])

    return Call(script("cancel_many"), script_keys, args, decode)


# ---------------------------------------------------------------- prune


def prune(
    keys: QueueKeys,
    index: str,
    *,
    mode: str,
    cutoff: int,
    rule: str = "all",
    tasks: Sequence[str] = (),
    offset: int = 0,
    kept: int = 0,
    limit: int = MANAGE_BATCH,
    now_ms: int | None = None,
) -> Call[SweepReply]:
    """Delete a batch of finished jobs of the index `index` ("succeeded", "failed"
    or "cancelled"): finished before `cutoff` ms (mode "before"), or all but
    the `cutoff` newest (mode "count"); `rule` "only"/"except" filters by task."""
    index_key = {"succeeded": keys.succeeded, "failed": keys.failed, "cancelled": keys.cancelled}
    args: Args = [
        _now_arg(now_ms),
        mode,
        cutoff,
        rule,
        orjson.dumps(list(tasks)),
        offset,
        limit,
        kept,
    ]

    def decode(reply: list[Any]) -> SweepReply:
        _, read, deleted, kept_now = (int(x) for x in reply)
        return SweepReply(read, deleted, deleted, kept_now)

    script_keys: list[str | bytes] = [keys.jobs, index_key[index], keys.unique, *keys.index_keys]
    return Call(script("prune"), script_keys, args, decode)


@dataclass(frozen=True, slots=True)
class UniqueSweepReply:
    cursor: str
    dropped: int


def unique_sweep(
    keys: QueueKeys, cursor: str = "0", *, count: int = 200, now_ms: int | None = None
) -> Call[UniqueSweepReply]:
    """One HSCAN step over the unique hash, dropping identities no job holds."""

    def decode(reply: list[Any]) -> UniqueSweepReply:
        return UniqueSweepReply(_str(reply[1]), int(reply[2]))

    args: Args = [_now_arg(now_ms), cursor, count]
    return Call(script("unique_sweep"), [keys.unique, keys.jobs], args, decode)


# ---------------------------------------------------------------- wait


@dataclass(frozen=True, slots=True)
class WaitReply:
    now_ms: int
    statuses: list[str]  # stored status per id; "" for no such job


def wait(
    keys: QueueKeys, ids: Sequence[str], *, ttl_ms: int, now_ms: int | None = None
) -> Call[WaitReply]:
    """Register interest in `ids` finishing for `ttl_ms`; their statuses now."""

    def decode(reply: list[Any]) -> WaitReply:
        return WaitReply(int(reply[0]), [_str(s) for s in reply[1:]])

    args: Args = [_now_arg(now_ms), ttl_ms, *ids]
    return Call(script("wait"), [keys.jobs, keys.done], args, decode)


def task_names(keys: QueueKeys) -> Call[list[str]]:
    """Every task name ever enqueued on the queue, sorted."""
    return Call(script("tasks"), [keys.tasks], [], lambda r: sorted(_str(x) for x in r[1:]))


# ---------------------------------------------------------------- list


@dataclass(frozen=True, slots=True)
class ListReply:
    """list.lua's page: jobs found, where the read stopped, whether the set ended."""

    now_ms: int
    exhausted: bool
    last_score: str
    last_id: str
    jobs: list[tuple[str, RawJob]]
    matched: int = 0  # jobs that matched (returned, or counted)


def list_page(
    keys: QueueKeys,
    set_key: str,
    *,
    descending: bool,
    after: tuple[str, str] | None,
    size: int,
    budget: int,
    tasks: Sequence[str] | None,
    statuses: Sequence[str],
    tags: Sequence[str],
    ranges: dict[str, tuple[int, int]] | None = None,
    any_tags: Sequence[str] | None = None,
    labels: Sequence[tuple[str, str | None]] = (),
    schedules: Sequence[str] | None = None,
    count: bool = False,
    now_ms: int | None = None,
) -> Call[ListReply]:
    """Up to `size` jobs of the set `set_key` after the key `after` (score, id)
    that match the filter, examining at most `budget` members. `ranges`: "c"
    (created), "d" (due), "f" (finished) → [from, to) ms, 0 = open; `tags`
    all-of, `any_tags` one-of (None = no filter), `labels` (key, value) all
    of them (value None: the key is present), `schedules` one-of. With
    `count`, no jobs come back: `ListReply.matched` counts the matches among
    the `budget` members examined."""
    spec: dict[str, Any] = {"s": list(statuses), "g": list(tags), **(ranges or {})}
    if tasks is not None:
        spec["t"] = list(tasks)
    if any_tags is not None:
        spec["ga"] = list(any_tags)
    if labels:
        spec["lb"] = [[k] if v is None else [k, v] for k, v in labels]
    if schedules is not None:
        spec["sc"] = list(schedules)
    score, last = after or ("", "")
    args: Args = [
        _now_arg(now_ms),
        "desc" if descending else "asc",
        score,
        last,
        size,
        budget,
        orjson.dumps(spec),
        "1" if count else "0",
    ]

    def decode(reply: list[Any]) -> ListReply:
        now = int(reply[0])
        head = (now, int(reply[1]) == 1, _str(reply[2]), _str(reply[3]))
        if count:
            return ListReply(*head, [], int(reply[4]))
        found = []
        for k in range(4, len(reply), 5):
            state, result, errors, runs = reply[k + 1 : k + 5]
            raw = RawJob(
                now,
                orjson.loads(state),
                result or None,
                orjson.loads(errors) if errors else [],
                runs=orjson.loads(runs) if runs else [],
            )
            found.append((_str(reply[k]), raw))
        return ListReply(*head, found, len(found))

    return Call(script("list"), [keys.jobs, set_key], args, decode)
