"""The worker's part in schedules: upsert the schedules declared in code at
start, compute the follow-up tick of a schedule's job as it ends (finish.lua
creates that job in the same call), drop missed ticks under the `skip`
policy, and plan the next job of pending schedules found by the sweep."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from .._protocol import ClaimedJob, Outcome, OutcomeCode, error_entry
from .._protocol_schedules import (
    PlannedTick,
    ScheduleResult,
    plan,
    read_schedules,
    schedule,
)
from .._timing import Timing, timing_from_dict
from ._state import QueueState

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("rtask.worker")


def server_now_ms(worker: Worker, q: QueueState) -> int:
    """The scripts' clock: the App's fake clock if set (tests), else Redis's
    as last seen on this queue (the local clock corrected)."""
    fake = worker.app.now_ms()
    return fake if fake is not None else int(time.time() * 1000 + q.clock_offset_ms)


async def declare(worker: Worker, client: Any) -> None:
    """Upsert the App's declared schedules of the worker's queues (by id:
    an unchanged declaration is left as it is)."""
    now = int(worker.app.time() * 1000)
    for q in worker.queues:
        declared = [s for s in worker.app.schedules.values() if s.queue == q.name]
        if not declared:
            continue
        entries = [s.stored(now) for s in declared]
        events = worker.app.events_enabled
        call = schedule(q.keys, entries, upsert=True, now_ms=worker.app.now_ms(), events=events)
        results = await client.run(call)
        for s, result in zip(declared, results, strict=True):
            if result is ScheduleResult.OTHER_TASK:
                log.error(
                    "schedule %s: the id is used by a schedule of another task on queue %s;"
                    " give it another id",
                    s.id,
                    q.name,
                )
            elif result is not ScheduleResult.UNCHANGED:
                log.info("schedule %s %s", s.id, result.name.lower())


async def timing_of(worker: Worker, client: Any, q: QueueState, job: ClaimedJob) -> Timing | None:
    """The Timing of the schedule that made `job`, at the version that made
    it (cached); None if the schedule changed or is gone since."""
    sid, version = str(job.state["sc"]), int(job.state["sv"])
    key = (q.name, sid, version)
    if key not in worker.timings:
        reply = await client.run(read_schedules(q.keys, [sid]))
        for raw in reply.schedules:
            found = (q.name, raw.id, int(raw.record["v"]))
            worker.timings[found] = timing_from_dict(raw.definition["timing"])
    return worker.timings.get(key)


def is_missed(worker: Worker, timing: Timing, job: ClaimedJob, q: QueueState) -> bool:
    """A first attempt whose tick was overtaken by the next one (`skip`)."""
    now = server_now_ms(worker, q)
    return job.attempt == 1 and timing.is_missed(int(job.state["tk"]), now)


def missed(job: ClaimedJob, worker: str) -> Outcome:
    """The outcome of a missed tick: cancelled, unrun, with the reason."""
    blob = error_entry(
        attempt=job.attempt,
        type="missed",
        message=f"tick {job.state['tk']} missed: the next tick had passed when it started"
        " (missed='skip')",
        worker=worker,
    )
    return Outcome(job.id, job.token, OutcomeCode.CANCELLED, 0, blob)


def with_follow_up(
    worker: Worker, outcome: Outcome, timing: Timing | None, job: ClaimedJob, q: QueueState
) -> Outcome:
    """`outcome` carrying its schedule's next tick, for finish.lua."""
    if timing is None or outcome.code in (OutcomeCode.SNOOZED, OutcomeCode.RELEASED):
        return outcome
    follow = timing.next_tick(int(job.state["tk"]), server_now_ms(worker, q))
    return dataclasses.replace(outcome, next=follow)


async def plan_pending(worker: Worker, client: Any, q: QueueState, ids: tuple[str, ...]) -> None:
    """Create the next job of pending schedules `ids` of queue `q` (plan.lua
    makes sure each is created once, whoever else plans at the same time)."""
    reply = await client.run(read_schedules(q.keys, ids))
    known = set(q.task_names())
    ticks = []
    for raw in reply.schedules:
        task = str(raw.record["t"])
        if task not in known:
            continue  # not a task of this worker: its own workers plan it
        timing = timing_from_dict(raw.definition["timing"])
        last = raw.record.get("lt")
        last_tick = None if last is None else int(last)
        nxt = timing.next_tick(last_tick, worker.app.now_ms() or reply.now_ms)
        ticks.append(PlannedTick(raw.id, task, int(raw.record["v"]), last_tick, nxt))
    if ticks:
        call = plan(q.keys, ticks, now_ms=worker.app.now_ms(), events=worker.app.events_enabled)
        results = await client.run(call)
        worker.stats["schedules_planned"] += sum(r > 0 for r in results)
