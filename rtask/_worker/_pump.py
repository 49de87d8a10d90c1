"""The pump: the worker's finish + claim round trips, up to PIPELINE_DEPTH
under way at once, so jobs of one batch run while Redis works on the next.

`plan` builds a round trip (every pending finish, then claims: see `_claims`
and `_finishes` for their calls' handlers), `round_trip` sends it, `linger_s`
lets outcomes gather into a batch, `wait` sleeps until something happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from .._errors import BackendError
from .._progress import progress
from .._protocol import batches, finish
from . import _permits
from ._claims import claim_call, few_shards
from ._finishes import on_finish, on_reports

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("rtask.worker")

# Round trips (finish + claim) a worker keeps under way at once.
PIPELINE_DEPTH = 2
# Longest a finished job's outcome waits for others to share its round trip.
LINGER_S = 0.002


async def pump(worker: Worker, client: Any, burst: bool) -> None:
    """Send finish + claim round trips, up to PIPELINE_DEPTH at a time, so
    jobs of one batch run while Redis works on the next."""
    while True:
        # Cleared before planning: anything that happens from here on (an
        # outcome, a wake-up, a stop, a trip's reply) sets it again.
        worker._event.clear()
        linger = linger_s(worker)
        if len(worker._trips) < PIPELINE_DEPTH and linger == 0:
            calls, handlers = plan(worker)
            if calls:
                trip = asyncio.create_task(round_trip(worker, client, calls, handlers))
                worker._trips.add(trip)
                trip.add_done_callback(worker._trip_done)
                continue
        if not worker._trips and not worker.in_flight():
            if worker._stopping:
                return
            if burst and not any(q.may_have_work and q.tasks for q in worker.queues):
                return  # (a queue with no task at all has nothing to claim)
        await wait(worker, linger or None)


def linger_s(worker: Worker) -> float:
    """Seconds to wait before the next round trip, so that outcomes and
    free slots gather into a batch (0 = send now).

    A trip goes at once when no outcome is pending, when it would carry a
    batch's worth, when nothing else is running (no more outcomes are
    coming), or when the oldest pending outcome has waited LINGER_S.
    """
    pending = sum(len(q.outcomes) for q in worker.queues)
    running = worker.in_flight()
    if worker._stopping or running == 0:
        return 0.0
    free = worker.free_slots() - worker.parked
    if not any(q.may_have_work for q in worker.queues):
        free = 0
    # Only outcomes gather: with none pending, free slots are claimed at
    # once (a job just arrived). A finished job's slot is in `free` already.
    if pending == 0 or free >= worker._batch_target:
        return 0.0
    assert worker._loop is not None
    return max(0.0, worker._first_outcome_at + LINGER_S - worker._loop.time())


async def round_trip(worker: Worker, client: Any, calls: list[Any], handlers: list[Any]) -> None:
    """One round trip; on a Redis error, unsent outcomes are kept and the
    trip backs off before it lets the pump send another."""
    try:
        replies = await client.run_many(calls)
    except BackendError as exc:
        worker._failures += 1
        for handler in handlers:
            handler(None)
        pause = min(0.05 * 2**worker._failures, 2.0)
        log.warning("worker %s: Redis call failed (%s); retrying in %.2fs", worker.id, exc, pause)
        await asyncio.sleep(pause)
        return
    worker._failures = 0
    for handler, reply in zip(handlers, replies, strict=True):
        handler(reply)


def plan(worker: Worker) -> tuple[list[Any], list[Any]]:
    """The calls of the next round trip: every pending finish, then claims."""
    calls: list[Any] = []
    handlers: list[Any] = []
    app = worker.app
    now_ms, events = app.now_ms(), app.events_enabled
    for q in worker.queues:
        if q.reports:  # before the outcomes: their lease tokens still match
            reports, q.reports = q.reports, []
            calls.append(progress(q.keys, reports, now_ms=now_ms))
            handlers.append(on_reports(q, reports))
        if q.outcomes:
            pending, q.outcomes = q.outcomes, []
            for outcomes in batches(pending):
                retention = worker.app.retention
                calls.append(
                    finish(
                        q.keys,
                        outcomes,
                        tasks=q.tasks,
                        retention=retention,
                        now_ms=now_ms,
                        events=events,
                    )
                )
                handlers.append(on_finish(worker, q, list(outcomes)))
    free = 0 if worker._stopping else worker.free_slots() - worker.parked
    wanting = [q for q in worker.queues if q.may_have_work and q.tasks]
    if free <= 0 and worker.parked and wanting:
        worker._unpark.set()  # the parked slot is wanted: the park loop withdraws
    if worker._sharded and len(wanting) > 1:
        wanting = few_shards(worker, wanting, free)
    if free > 0 and wanting:
        # half the slots per trip at most, so two trips can alternate
        most = max(1, min(worker._capacity() // PIPELINE_DEPTH, worker.config.batch_max))
        share = max(1, min(free // len(wanting), most))
        assert worker._loop is not None
        loop_now = worker._loop.time()
        for q in wanting:
            n, tasks = share, q.tasks
            if q.pools:  # capped tasks of a sharded queue claim under permits
                n, tasks = _permits.plan_claims(worker, q, share, calls, handlers, now_ms)
                free -= share - n
                if n <= 0 or not tasks:
                    continue
            q.claiming += n
            q.rotation += 1
            calls.append(claim_call(worker, q, n, tasks, now_ms, loop_now, handlers))
            free -= n
    if worker.pools:
        _permits.plan_pools(worker, worker.pools, max(0, free), calls, handlers)
    return calls, handlers


async def wait(worker: Worker, linger: float | None = None) -> None:
    loop = asyncio.get_running_loop()
    if linger is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(linger):
                await worker._event.wait()
        return
    timeout = worker.config.idle_poll_s
    dues = [q.next_due for q in worker.queues if q.next_due is not None]
    if dues:
        timeout = max(0.0, min(timeout, min(dues) - loop.time()))
    try:
        async with asyncio.timeout(timeout):
            await worker._event.wait()
    except TimeoutError:
        for q in worker.queues:
            q.may_have_work = True
            q.wake_seq += 1  # as a wake-up: drained claim groups are polled again
