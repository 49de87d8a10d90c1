"""The worker's side loops: wake-up listener, heartbeat, recovery sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from .._errors import BackendError, map_redis_errors
from .._progress import Report, progress
from .._protocol import batches, finish, handed_off, park_member
from .._protocol import heartbeat as heartbeat_call
from .._protocol import park as park_call
from .._protocol import recover as recover_call
from .._shards import logical_queue
from . import _permits
from ._execute import released
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
# A parked worker's longest single pop of the handoff lists; it registers for
# that long plus PARK_MARGIN_S, and again before each pop.
PARK_S = 1.0
PARK_MARGIN_S = 0.5
# How long a push onto a worker's unpark list lasts (it is popped at once,
# unless the pop it should end had ended already).
UNPARK_TTL_MS = 60_000


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


def park_tasks(worker: Worker, q: Any) -> list[str]:
    """The tasks of `q` this worker may take by direct hand-off: known here,
    with no cap and no rate limit (enqueue_plain.lua cannot check those)."""
    if worker.app.shard_table.get(logical_queue(q.name), 1) > 1:
        return []  # a sharded queue's jobs are enqueued by enqueue.lua
    tasks = worker.app.tasks
    return [name for name, cap in q.tasks if cap == 0 and name in tasks and name not in q.rates]


async def park(worker: Worker, client: Any) -> None:
    """Stand ready for direct hand-offs while a slot is free: register
    (park.lua), then block on the queues' handoff lists; a job pushed there
    by an enqueue (enqueue_plain.lua) starts here as if claimed, one hop after
    its enqueue. Only on a transport with blocking pops (a plain URL).

    While it stands, the loop holds one slot (worker.parked): claims leave it
    free, so a hand-off always finds room. A claim plan that wants that slot
    ends the pop (worker.wait_unpark); the loop then withdraws, taking the
    entry of a hand-off that came meanwhile, and gives the slot back."""
    parker = client.parker()
    if parker is None:
        return
    standing = [(q, tasks) for q in worker.queues if (tasks := park_tasks(worker, q))]
    if not standing:
        await parker.aclose()
        return
    stand = _Stand(worker, client, parker, standing)
    try:
        while not worker.closing and not worker.stopping:
            if not worker.parked:
                if not worker.may_park():
                    await worker.wait_room()
                    continue
                worker.parked = 1  # (no await since may_park: no claim took it)
                worker._unpark.clear()
            await stand.once()
    finally:
        await stand.withdraw()  # (a registration may stand even unparked: see _adopt)
        await parker.aclose()


class _Stand:
    """A parked worker's registrations and pops (see park)."""

    def __init__(self, worker: Worker, client: Any, parker: Any, standing: list[Any]) -> None:
        self.worker, self.client, self.parker, self.standing = worker, client, parker, standing
        self.by_key = {q.keys.handoff: q for q, _ in standing}
        self.unpark = standing[0][0].keys.unpark(worker.id)
        self.wait_s = PARK_S
        if parker.timeout_s is not None:  # a pop must not outlast the socket timeout
            self.wait_s = min(self.wait_s, parker.timeout_s / 2)
        self.member = park_member(int(worker.config.lease_s * 1000), worker.id)

    def register(self, live_ms: int) -> list[Any]:
        now_ms = self.worker.app.now_ms()
        return [
            park_call(q.keys, tasks, member=self.member, live_ms=live_ms, now_ms=now_ms)
            for q, tasks in self.standing
        ]

    async def once(self) -> None:
        """Register, pop once; run what came, or withdraw if asked to."""
        worker = self.worker
        try:
            # (a queue whose handoff list holds an entry does not register:
            # this pop takes the entry)
            await self.client.run_many(self.register(int((self.wait_s + PARK_MARGIN_S) * 1000)))
            with map_redis_errors():
                keys = [*self.by_key, self.unpark]
                popped = await _pop(worker, self.client, self.parker, keys, self.wait_s)
        except BackendError as exc:
            log.warning("worker %s: parking failed (%s)", worker.id, exc)
            await self.withdraw()
            await worker.pause(PARK_S)
            return
        if popped is not None:
            worker.parked = 0  # the slot is the job's
            await _adopt(worker, self.client, self.by_key[popped[0]], popped[1])
        elif worker._unpark.is_set():
            await self.withdraw()
        # (else the pop timed out: the loop registers again, the slot kept)

    async def withdraw(self) -> None:
        """Leave every parked set; run (or hand back) what came meanwhile."""
        try:
            replies = await self.client.run_many(self.register(0))
        except BackendError:
            replies = []  # the registrations lapse; an entry goes back by recover.lua
        self.worker.parked = 0
        self.worker._event.set()  # the slot is the claims' again
        for (q, _), reply in zip(self.standing, replies, strict=False):
            if reply.entry is not None:
                await _adopt(self.worker, self.client, q, reply.entry)


async def _pop(worker: Worker, client: Any, parker: Any, keys: list[str], wait_s: float) -> Any:
    """One pop of `keys` (the handoff lists, then the worker's unpark list),
    ended early if the worker unparks (see Worker.wait_unpark): a push onto
    the unpark list ends it, taking nothing else."""
    pop = asyncio.ensure_future(parker.pop(keys, wait_s))
    unparking = asyncio.ensure_future(worker.wait_unpark())
    try:
        await asyncio.wait({pop, unparking}, return_when=asyncio.FIRST_COMPLETED)
        if not pop.done():
            # (if the pop ended meanwhile, the push stays: it expires)
            await client.commands(("RPUSH", keys[-1], b"1"), ("PEXPIRE", keys[-1], UNPARK_TTL_MS))
    except BaseException:
        pop.cancel()  # the connection closes with the parker: a pop under way ends
        raise
    finally:
        unparking.cancel()
    popped = await pop
    return None if popped is None or popped[0] == keys[-1] else popped


async def _adopt(worker: Worker, client: Any, q: Any, entry: bytes) -> None:
    """Run a job handed off to this worker; hand it back if the worker is
    leaving (a stopping worker starts nothing; a closed one has no pump to
    report it) or is full (its slot was kept for the hand-off, but its
    capacity may have shrunk: it holds no more than it may)."""
    job = handed_off(q.name, entry)
    worker.stats["claimed"] += 1
    worker.stats["handed_off"] += 1
    if worker.closing or worker.stopping or not worker.has_room():
        app = worker.app
        call = finish(
            q.keys,
            [released(job)],
            tasks=q.tasks,
            retention=app.retention,
            now_ms=app.now_ms(),
            events=app.events_enabled,
        )
        with contextlib.suppress(BackendError):
            await client.run_many([call])
        return
    worker.start_job(q, job)
    if job.state.get("w") != worker.id:
        # popped from another worker's registration: leased for its lease_s and
        # named after it; a heartbeat now renews for ours and renames the job
        with contextlib.suppress(BackendError):
            await _renew(worker, client)


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
