"""Managing schedules from a client: add, get, list, count, stop, trigger.

Written once as plans (generators yielding the calls to send, see
`_admin.py`); the App's async and sync methods drive them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ._admin import default_queues
from ._errors import InvalidInput, InvalidSchedule, ScheduleNotFound
from ._plan import Plan
from ._protocol_schedules import (
    ScheduleResult,
    SchedulesReply,
    StopReply,
    StopResult,
    TriggerResult,
    read_schedules,
    schedule,
    trigger,
    unschedule,
)
from ._schedule import Schedule, ScheduleInfo, check_schedule_id
from ._timing import STOP

if TYPE_CHECKING:
    from ._app import App

Order = Literal["id", "next_run", "created"]


def add_plan(
    app: App, schedules: Sequence[Schedule], *, if_not_exists: bool
) -> Plan[list[ScheduleResult]]:
    """Store `schedules` (upsert by id, or only new ids), each with its first
    job; results in the order given."""
    now = int(app.time() * 1000)
    seen: set[tuple[str, str]] = set()
    by_queue: dict[str, list[int]] = {}
    entries = []
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise InvalidInput(f"expected a Schedule (from app.schedule(...)), got {s!r}")
        if (s.queue, s.id) in seen:
            raise InvalidSchedule(f"schedule id {s.id!r} given twice")
        seen.add((s.queue, s.id))
        stored = s.stored(now)
        if stored.first == STOP:
            raise InvalidSchedule(f"schedule {s.id!r} has no execution time left")
        entries.append(stored)
        by_queue.setdefault(s.queue, []).append(i)
    queues = list(by_queue)
    calls = [
        schedule(
            app.keys(q),
            [entries[i] for i in by_queue[q]],
            upsert=not if_not_exists,
            now_ms=app.now_ms(),
            events=app.events_enabled,
        )
        for q in queues
    ]
    replies: list[list[ScheduleResult]] = yield calls
    results: list[ScheduleResult] = [ScheduleResult.UNCHANGED] * len(entries)
    for q, reply in zip(queues, replies, strict=True):
        for i, result in zip(by_queue[q], reply, strict=True):
            if result is ScheduleResult.OTHER_TASK:
                raise InvalidSchedule(
                    f"schedule id {schedules[i].id!r} is used by a schedule of another task"
                    f" on queue {q!r}"
                )
            results[i] = result
    return results


def _infos(queues: Sequence[str], replies: Sequence[SchedulesReply]) -> list[ScheduleInfo]:
    return [
        ScheduleInfo.from_raw(q, raw, reply.now_ms)
        for q, reply in zip(queues, replies, strict=True)
        for raw in reply.schedules
    ]


def get_plan(app: App, schedule_id: str, queue: str | None) -> Plan[ScheduleInfo]:
    """Schedule `schedule_id` (searched in every queue of the App when `queue`
    is None), or ScheduleNotFound."""
    check_schedule_id(schedule_id)
    queues = default_queues(app, None if queue is None else [queue])
    replies = yield [read_schedules(app.keys(q), [schedule_id]) for q in queues]
    found = _infos(queues, replies)
    if not found:
        raise ScheduleNotFound(f"no schedule {schedule_id!r} in queues {queues}")
    if len(found) > 1:
        raise InvalidInput(
            f"schedule {schedule_id!r} exists in queues {[f.queue for f in found]}: give queue="
        )
    return found[0]


@dataclass(frozen=True, slots=True)
class SchedulePage:
    """One page of a schedule listing; `next_page` is None on the last page."""

    items: list[ScheduleInfo]
    next_page: str | None


def _sort_key(info: ScheduleInfo, order: Order) -> tuple[int, str, str]:
    if order == "next_run":
        at = info.next_run_at
    elif order == "created":
        at = info.created_at
    else:
        at = None
    # Schedules without a time sort last (ascending); queue and id break ties.
    value = int(at.timestamp() * 1000) if at is not None else 2**62
    return (value if order != "id" else 0, info.queue, info.id)


def _token(key: tuple[int, str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode()


def _untoken(token: str) -> tuple[int, str, str]:
    try:
        value, queue, sid = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(value), str(queue), str(sid)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"invalid page token {token!r}") from exc


def _matches(
    info: ScheduleInfo, task: str | None, stopped: bool | None, labels: Mapping[str, str]
) -> bool:
    if task is not None and info.task != task:
        return False
    if stopped is not None and info.stopped != stopped:
        return False
    return all(info.labels.get(k) == v for k, v in labels.items())


def list_plan(
    app: App,
    *,
    queues: Sequence[str] | None,
    task: str | None,
    stopped: bool | None,
    labels: Mapping[str, str] | None,
    order: Order,
    descending: bool,
    limit: int | None,
    page: str | None,
) -> Plan[SchedulePage]:
    """Schedules matching every filter, ordered by `order` (ties by queue, then
    id), `limit` per page (None = all); `page` is a token from the last page."""
    if order not in ("id", "next_run", "created"):
        raise InvalidInput(f"order must be 'id', 'next_run' or 'created', got {order!r}")
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be >= 1, got {limit}")
    after = _untoken(page) if page else None
    names = default_queues(app, queues)
    replies = yield [read_schedules(app.keys(q)) for q in names]
    wanted = dict(labels or {})
    found = [i for i in _infos(names, replies) if _matches(i, task, stopped, wanted)]
    found.sort(key=lambda i: _sort_key(i, order), reverse=descending)
    if after is not None:
        found = [
            i
            for i in found
            if (_sort_key(i, order) < after if descending else _sort_key(i, order) > after)
        ]
    if limit is None or len(found) <= limit:
        return SchedulePage(found, None)
    items = found[:limit]
    return SchedulePage(items, _token(_sort_key(items[-1], order)))


def stop_plan(
    app: App, schedule_id: str, queue: str | None, *, cancel_active: bool, reason: str
) -> Plan[StopReply]:
    """Stop a schedule (and cancel its active job if asked), or ScheduleNotFound."""
    info = yield from get_plan(app, schedule_id, queue)
    call = unschedule(
        app.keys(info.queue),
        schedule_id,
        task=info.task,
        cancel_active=cancel_active,
        reason=reason,
        retention=app.retention,
        now_ms=app.now_ms(),
        events=app.events_enabled,
    )
    (reply,) = yield [call]
    assert isinstance(reply, StopReply)
    if reply.result is StopResult.NOT_FOUND:
        raise ScheduleNotFound(f"no schedule {schedule_id!r} in queue {info.queue!r}")
    return reply


def trigger_plan(app: App, schedule_id: str, queue: str | None) -> Plan[tuple[str, str, str]]:
    """Run a schedule now; returns (queue, task, job id) of the job that runs.
    A stopped schedule cannot be triggered (InvalidSchedule)."""
    info = yield from get_plan(app, schedule_id, queue)
    call = trigger(
        app.keys(info.queue),
        schedule_id,
        task=info.task,
        now_ms=app.now_ms(),
        events=app.events_enabled,
    )
    (reply,) = yield [call]
    result, job_id = reply
    if result is TriggerResult.NOT_FOUND:
        raise ScheduleNotFound(f"no schedule {schedule_id!r} in queue {info.queue!r}")
    if result is TriggerResult.STOPPED:
        raise InvalidSchedule(f"schedule {schedule_id!r} is stopped")
    return info.queue, info.task, job_id


def describe(info: ScheduleInfo) -> dict[str, Any]:
    """A JSON-friendly view (CLI)."""
    t = info.timing
    when: dict[str, Any] = {"kind": t.kind}
    if t.kind == "cron":
        when |= {"cron": t.cron, "tz": t.tz}
    elif t.kind == "every":
        when["every_s"] = t.every_ms / 1000
    elif t.kind == "once":
        when["at_ms"] = t.at_ms
    when |= {"missed": t.missed, "immediate": t.immediate}
    return {
        "id": info.id,
        "queue": info.queue,
        "task": info.task,
        **when,
        "labels": info.labels,
        "args": info.args,
        "kwargs": info.kwargs,
        "version": info.version,
        "stopped_at": info.stopped_at.isoformat() if info.stopped_at else None,
        "stop_reason": info.stop_reason,
        "active_job": info.active_job,
        "active_status": info.active_status.value if info.active_status else None,
        "next_run_at": info.next_run_at.isoformat() if info.next_run_at else None,
        "last_tick": info.last_tick.isoformat() if info.last_tick else None,
    }
