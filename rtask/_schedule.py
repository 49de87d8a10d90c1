"""Schedules: a task, its arguments and job options, and a Timing. Pure:
building, validating and encoding a schedule, and decoding what was read."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ._codec import decode
from ._errors import InvalidInput, InvalidSchedule
from ._job import JobStatus, _dt
from ._protocol_schedules import RawSchedule, StoredSchedule
from ._timing import IDLE, STOP, Missed, Timing, timing, timing_from_dict, timing_to_dict

if TYPE_CHECKING:
    from ._task import Task

# Job ids are "<schedule id>:<tick ms>" (at most 128 characters), so a
# schedule id is at most 100; same characters as job ids.
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


def check_schedule_id(sid: str) -> str:
    if not isinstance(sid, str) or not _ID.fullmatch(sid):
        raise InvalidSchedule(f"invalid schedule id {sid!r}: use 1-100 of [A-Za-z0-9_.:-]")
    if sid[-2:] in (":d", ":b", ":p"):
        raise InvalidSchedule(f"invalid schedule id {sid!r}: ids may not end in :d, :b or :p")
    return sid


def default_schedule_id(task_name: str) -> str:
    """A task's name as a schedule id: characters outside the id alphabet
    (the `<locals>` of nested functions) become "_", and a name too long is
    cut and given a hash of the whole, so the id stays stable and distinct."""
    sid = re.sub(r"[^A-Za-z0-9_.:\-]", "_", task_name)
    if len(sid) > 100:
        sid = sid[:91] + "." + hashlib.sha1(task_name.encode()).hexdigest()[:8]
    return sid if sid[-2:] not in (":d", ":b", ":p") else sid + "_"


def _check_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(labels or {})
    for k, v in out.items():
        if not isinstance(k, str) or not k or not isinstance(v, str):
            raise InvalidSchedule(f"labels map non-empty strings to strings, got {k!r}: {v!r}")
    return out


@dataclass(frozen=True, slots=True)
class Schedule:
    """A declared schedule: run `task` with `args`/`kwargs` by `timing`."""

    id: str
    task: Task[Any, Any]
    timing: Timing
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # Job options (None = the task's own)
    priority: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    tags: tuple[str, ...] = ()

    @property
    def queue(self) -> str:
        return self.task.queue

    def stored(self, now_ms: int) -> StoredSchedule:
        """What schedule.lua stores, with the first tick computed from `now_ms`."""
        bound = self.task.options(
            priority=self.priority,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            tags=self.tags,
            labels=self.labels,  # the schedule's labels are its jobs' labels
        )
        job = bound.build(self.args, self.kwargs, "template")
        definition = orjson.dumps(
            {"task": self.task.name, "timing": timing_to_dict(self.timing), "labels": self.labels},
            option=orjson.OPT_SORT_KEYS,
        )
        digest = hashlib.sha1(definition + b"\0" + job.body + b"\0" + job.payload).hexdigest()
        return StoredSchedule(
            id=self.id,
            task=self.task.name,
            priority=job.priority,
            hash=digest,
            definition=definition,
            body=job.body,
            payload=job.payload,
            first=self.timing.next_tick(None, now_ms),
        )


def make_schedule(
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
    """A validated Schedule (InvalidSchedule / InvalidInput on bad input)."""
    t = timing(
        cron=cron,
        every=every,
        at=at,
        manual=manual,
        tz=tz,
        immediate=immediate,
        missed=missed,
        start=start,
        end=end,
    )
    if not isinstance(args, list | tuple):
        raise InvalidInput(f"args must be a list or tuple, got {args!r}")
    schedule = Schedule(
        id=check_schedule_id(id if id is not None else default_schedule_id(task.name)),
        task=task,
        timing=t,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        labels=_check_labels(labels),
        priority=priority,
        max_attempts=max_attempts,
        timeout=timeout,
        tags=tuple(tags),
    )
    schedule.stored(0)  # options and arguments are checked (and encodable) now
    return schedule


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A snapshot of a stored schedule."""

    id: str
    queue: str
    task: str
    kind: Literal["cron", "every", "once", "manual"]
    timing: Timing
    labels: dict[str, str]
    args: list[Any]
    kwargs: dict[str, Any]
    version: int
    stopped_at: datetime | None
    stop_reason: str | None
    active_job: str | None  # the one unfinished job of the schedule, if any
    active_status: JobStatus | None
    next_run_at: datetime | None  # when the active job is due
    last_tick: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    @classmethod
    def from_raw(cls, queue: str, raw: RawSchedule, now_ms: int) -> ScheduleInfo:
        rec, d, st = raw.record, raw.definition, raw.active_state
        t = timing_from_dict(d["timing"])
        status = None
        if st is not None:
            status = JobStatus(st["s"])
            if status is JobStatus.SCHEDULED and int(st["due"]) <= now_ms:
                status = JobStatus.QUEUED
        args, kwargs = decode(raw.payload) if raw.payload else ([], {})
        return cls(
            id=raw.id,
            queue=queue,
            task=d["task"],
            kind=t.kind,
            timing=t,
            labels=dict(d.get("labels") or {}),
            args=list(args),
            kwargs=dict(kwargs),
            version=int(rec["v"]),
            stopped_at=_dt(rec.get("x")),
            stop_reason=rec.get("xr"),
            active_job=rec.get("a"),
            active_status=status,
            next_run_at=_dt(st["due"]) if st is not None else None,
            last_tick=_dt(rec.get("lt")),
            created_at=_dt(rec.get("ct")),
            updated_at=_dt(rec.get("ut")),
        )


__all__ = [
    "IDLE",
    "STOP",
    "Schedule",
    "ScheduleInfo",
    "check_schedule_id",
    "make_schedule",
]
