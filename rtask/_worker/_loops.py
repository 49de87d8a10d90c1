"""The worker's side loops: wake-up listener, heartbeat, recovery sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from .._errors import BackendError, map_redis_errors
from .._progress import Report, progress
from .._protocol import batches
from .._protocol import heartbeat as heartbeat_call
from .._protocol import recover as recover_call
from .._shards import logical_queue
from . import _permits
from ._schedules import plan_pending
from ._state import CANCELLED, LOST

if TYPE_CHECKING:
    from ._worker import Worker

log = logging.getLogger("rtask.worker")

# Task names enqueued on a queue are re-read this often, so jobs of tasks
# this worker does not know are claimed and failed with the reason.
DISCOVER_EVERY_S = 10.0
# The wake-up listener's longest single wait (a local wait: no Redis command),
# hence how long a stopping worker waits for its listener.
LISTEN_TIMEOUT_S = 0.25


async def discover_tasks(worker: Worker, client: Any) -> None:
    """Add every task name ever enqueued on the worker's queues (cap 0 if unknown)."""
    for q in worker.queues:
        with map_redis_errors():
            names = await client.smembers(q.keys.tasks)
        for raw in sorted(names):
            name = raw.decode() if isinstance(raw, bytes) else raw
            task = worker.app.tasks.get(name)
            if task is None or task.queue == logical_queue(q.name):
                q.add_task(name, task.concurrency if task else 0)


async def listen(worker: Worker, client: Any) -> None:
    """Wake the pump when a queue publishes that work arrived (enqueue, retry,
    free slot). Runs until the worker closes."""
    channels = {q.keys.wake_channel: q for q in worker.queues}
    while not worker.closing:
        try:
            subscription = await client.subscribe(list(channels))
            try:
                # Anything published before the subscription took effect is
                # caught by one more claim.
                _wake(worker, channels.values())
                while not worker.closing:
                    name = await subscription.get(LISTEN_TIMEOUT_S)
                    if name is not None:
                        _wake(worker, [channels[name]])
            finally:
                await subscription.aclose()
        except Exception as exc:
            log.warning("worker %s: wake-up listener failed (%s); reconnecting", worker.id, exc)
            await asyncio.sleep(LISTEN_TIMEOUT_S)


def _wake(worker: Worker, queues: Any) -> None:
    for q in queues:
        q.may_have_work = True
        q.wake_seq += 1
    worker._event.set()


async def heartbeat(worker: Worker, client: Any) -> None:
    """Renew the leases of running jobs; stop the ones lost or cancelled.

    If renewals keep failing for a whole lease, another worker may take the
    jobs over: they are stopped here and not reported (the lease guard).
    """
    loop = asyncio.get_running_loop()
    for q in worker.queues:
        q.last_heartbeat_ok = loop.time()
    while await worker.pause(worker.config.heartbeat_interval_s):
        try:
            await _renew(worker, client)
        except BackendError as exc:
            log.warning("worker %s: heartbeat failed (%s)", worker.id, exc)
            for q in worker.queues:
                if loop.time() - q.last_heartbeat_ok > worker.config.lease_s:
                    for run in list(q.running.values()):
                        worker.stop_job(q, run, LOST)
        except Exception:  # a bug: keep renewing, or every lease expires
            log.exception("worker %s: heartbeat crashed", worker.id)


async def leave(worker: Worker, client: Any) -> None:
    """Tell every queue this worker is gone (best effort: silent workers are
    dropped after an hour anyway)."""
    calls = [heartbeat_call(q.keys, worker=worker.id, lease_ms=0, held=[]) for q in worker.queues]
    calls += _permits.release_all(worker.pools)
    with contextlib.suppress(BackendError):
        await client.run_many(calls)


async def _renew(worker: Worker, client: Any) -> None:
    lease_ms = int(worker.config.lease_s * 1000)
    now_ms = worker.app.now_ms()
    calls: list[Any] = []
    owners: list[Any] = []  # the queue of each heartbeat call, None for a progress call
    for q in worker.queues:
        # Progress and log lines buffered by running jobs ride along (best effort).
        for reports in batches(_pending_reports(q)):
            calls.append(progress(q.keys, reports, now_ms=now_ms))
            owners.append(None)
        held = [(i, r.job.token) for i, r in q.running.items()]
        for part in batches(held) or [[]]:
            call = heartbeat_call(
                q.keys, worker=worker.id, lease_ms=lease_ms, held=part, now_ms=now_ms
            )
            calls.append(call)
            owners.append(q)
    pools = _permits.renew_calls(worker, worker.pools, now_ms)  # capped tasks of sharded queues
    calls += [call for _, call in pools]
    replies = await client.run_many(calls)
    for (pool, _), lost_tokens in zip(pools, replies[len(owners) :], strict=True):
        _permits.renewed(worker, pool, lost_tokens)
    replies = replies[: len(owners)]
    beats = [(q, r) for q, r in zip(owners, replies, strict=True) if q is not None]
    now = asyncio.get_running_loop().time()
    for q, reply in beats:
        q.last_heartbeat_ok = now
        for job_id in reply.lost:
            if (lost := q.running.get(job_id)) is not None:
                worker.stats["lost"] += 1
                worker.stop_job(q, lost, LOST)
        for job_id in reply.cancelled:
            if (stopped := q.running.get(job_id)) is not None:
                worker.stop_job(q, stopped, CANCELLED)


def _pending_reports(q: Any) -> list[Report]:
    taken = (run.context.reports.take() for run in q.running.values() if run.context.reports)
    return [report for report in taken if report is not None]


async def recover(worker: Worker, client: Any) -> None:
    """Sweep expired leases; the gate lets one worker of the fleet do it per interval."""
    loop = asyncio.get_running_loop()
    gate_ms = int(worker.config.recover_s * 1000)
    next_discovery = loop.time() + DISCOVER_EVERY_S
    while await worker.pause(worker.config.recover_s):
        try:
            if loop.time() >= next_discovery:
                await discover_tasks(worker, client)
                next_discovery = loop.time() + DISCOVER_EVERY_S
            retention = worker.app.retention
            app = worker.app
            calls = [
                recover_call(
                    q.keys,
                    tasks=q.task_names(),
                    gate_ms=gate_ms,
                    retention=retention,
                    now_ms=app.now_ms(),
                    events=app.events_enabled,
                )
                for q in worker.queues
            ]
            for q, reply in zip(worker.queues, await client.run_many(calls), strict=True):
                worker.stats["recovered"] += reply.requeued + reply.failed
                if reply.pending_schedules:
                    await plan_pending(worker, client, q, reply.pending_schedules)
        except BackendError as exc:
            log.warning("worker %s: recovery sweep failed (%s)", worker.id, exc)
        except Exception:  # a bug: keep sweeping
            log.exception("worker %s: recovery sweep crashed", worker.id)
