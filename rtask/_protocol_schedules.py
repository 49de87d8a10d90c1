"""The pure core of schedules: one call builder per Lua script (`schedule`,
`plan`, `trigger`, `unschedule`, `schedules`), as `_protocol/` does for jobs.
Nothing here does I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from ._keys import QueueKeys
from ._protocol import DEFAULT_RETENTION, Call, Retention, _now_arg, _str
from ._scripts import script


def _task_keys(keys: QueueKeys, tasks: Sequence[str]) -> tuple[list[str | bytes], dict[str, int]]:
    """scheduled/ready keys of each distinct task, and each task's 1-based index."""
    index: dict[str, int] = {}
    out: list[str | bytes] = []
    for task in tasks:
        if task not in index:
            index[task] = len(index) + 1
            out += (keys.scheduled(task), keys.ready(task))
    return out, index


def _codes(reply: list[Any]) -> list[int]:
    return [int(code) for code in reply[1:]]


# ---------------------------------------------------------------- schedule


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule as schedule.lua stores it; `first` is its first tick (ms),
    or timing.STOP / timing.IDLE."""

    id: str
    task: str
    priority: int
    hash: str
    definition: bytes
    body: bytes
    payload: bytes
    first: int


class ScheduleResult(IntEnum):
    CREATED = 1
    UPDATED = 2
    UNCHANGED = 0
    OTHER_TASK = -4


def schedule(
    keys: QueueKeys,
    entries: Sequence[StoredSchedule],
    *,
    upsert: bool,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[list[ScheduleResult]]:
    """Add (`upsert=False`: only new ids) or upsert schedules of one queue
    (`events`: write "enqueued" events for the jobs created)."""
    task_keys, index = _task_keys(keys, [e.task for e in entries])
    args: list[str | bytes | int | float] = [
        _now_arg(now_ms),
        keys.wake_channel,
        "upsert" if upsert else "new",
        len(index),
        *index,
    ]
    for e in entries:
        args += (e.id, index[e.task], e.priority, e.hash, e.definition, e.body, e.payload)
        args.append(e.first)
    script_keys = [keys.jobs, keys.tasks, keys.schedules, keys.pending_schedules, *task_keys]
    script_keys += keys.index_keys
    if events:
        script_keys.append(keys.events)
    return Call(
        script("schedule"),
        script_keys,
        args,
        lambda reply: [ScheduleResult(c) for c in _codes(reply)],
    )


# ---------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class PlannedTick:
    """The next tick of a pending schedule, from its record as read."""

    id: str
    task: str
    version: int
    last_tick: int | None
    next: int


class PlanResult(IntEnum):
    CREATED = 1
    STOPPED = 3
    IDLE = 4
    TICK_EXISTED = 5
    NOT_PENDING = 0
    CHANGED = -2
    OTHER_TASK = -4


def plan(
    keys: QueueKeys,
    ticks: Sequence[PlannedTick],
    now_ms: int | None = None,
    *,
    events: bool = False,
) -> Call[list[PlanResult]]:
    """Create the next job of each pending schedule of `ticks`, once."""
    task_keys, index = _task_keys(keys, [t.task for t in ticks])
    args: list[str | bytes | int | float] = [
        _now_arg(now_ms),
        keys.wake_channel,
        len(index),
        *index,
    ]
    for t in ticks:
        last = "" if t.last_tick is None else t.last_tick
        args += (t.id, index[t.task], t.version, last, t.next)
    script_keys = [keys.jobs, keys.schedules, keys.pending_schedules, *task_keys]
    script_keys += keys.index_keys
    if events:
        script_keys.append(keys.events)
    return Call(
        script("plan"),
        script_keys,
        args,
        lambda reply: [PlanResult(c) for c in _codes(reply)],
    )


# ---------------------------------------------------------------- trigger


class TriggerResult(IntEnum):
    CREATED = 1
    MADE_DUE = 2
    RUNNING = 3
    NOT_FOUND = -1
    OTHER_TASK = -4
    STOPPED = -5


def trigger(
    keys: QueueKeys,
    schedule_id: str,
    *,
    task: str,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[tuple[TriggerResult, str]]:
    """Run schedule `schedule_id` (of `task`) now; returns the code and the job id."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.schedules,
        keys.pending_schedules,
        keys.scheduled(task),
        keys.ready(task),
        *keys.index_keys,
    ]
    if events:
        script_keys.append(keys.events)
    return Call(
        script("trigger"),
        script_keys,
        [_now_arg(now_ms), keys.wake_channel, schedule_id, task],
        lambda reply: (TriggerResult(int(reply[1])), _str(reply[2])),
    )


# ---------------------------------------------------------------- unschedule


class StopResult(IntEnum):
    STOPPED = 1
    ALREADY_STOPPED = 0
    NOT_FOUND = -1
    OTHER_TASK = -4


@dataclass(frozen=True, slots=True)
class StopReply:
    result: StopResult
    active_job: str | None
    # cancel.lua's code for the active job (1 cancelled, 2 requested, 0
    # finished already); None when no cancel was asked or there was no job.
    cancel: int | None


def _decode_stop(reply: list[Any]) -> StopReply:
    active, cancelled = _str(reply[2]), reply[3]
    return StopReply(
        StopResult(int(reply[1])),
        active or None,
        None if cancelled in ("", b"") else int(cancelled),
    )


def unschedule(
    keys: QueueKeys,
    schedule_id: str,
    *,
    task: str,
    cancel_active: bool,
    reason: str,
    retention: Retention = DEFAULT_RETENTION,
    now_ms: int | None = None,
    events: bool = False,
) -> Call[StopReply]:
    """Stop schedule `schedule_id` (of `task`), cancelling its active job if asked."""
    script_keys: list[str | bytes] = [
        keys.jobs,
        keys.schedules,
        keys.pending_schedules,
        keys.cancelled,
        keys.scheduled(task),
        keys.ready(task),
        keys.retrying,
        *keys.index_keys,
    ]
    if events:
        script_keys.append(keys.events)
    return Call(
        script("unschedule"),
        script_keys,
        [
            _now_arg(now_ms),
            schedule_id,
            task,
            "1" if cancel_active else "0",
            reason,
            *retention.cancelled_args(),
        ],
        _decode_stop,
    )


# ---------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class RawSchedule:
    """A schedule's stored fields: the record Lua keeps, the definition
    Python wrote, the payload of its jobs and its active job's state."""

    id: str
    record: dict[str, Any]
    definition: dict[str, Any]
    payload: bytes
    active_state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SchedulesReply:
    now_ms: int
    schedules: list[RawSchedule]


def _decode_schedules(reply: list[Any]) -> SchedulesReply:
    found = [
        RawSchedule(
            _str(reply[k]),
            orjson.loads(reply[k + 1]),
            orjson.loads(reply[k + 2]),
            reply[k + 3] or b"",
            orjson.loads(reply[k + 4]) if reply[k + 4] else None,
        )
        for k in range(1, len(reply), 5)
    ]
    return SchedulesReply(int(reply[0]), found)


def read_schedules(keys: QueueKeys, ids: Sequence[str] = ()) -> Call[SchedulesReply]:
    """Read schedules `ids` of a queue (none = all of them) and the server time."""
    return Call(script("schedules"), [keys.jobs, keys.schedules], list(ids), _decode_schedules)
