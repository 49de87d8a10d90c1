"""The worker process loop: a pump keeping finish + claim round trips under
way, the jobs it starts, and the heartbeat, recovery and wake-up loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._context import JobContext
from .._errors import BackendError
from .._progress import progress
from .._protocol import (
    ClaimedJob,
    ClaimReply,
    FinishReply,
    FinishResult,
    Outcome,
    OutcomeCode,
    batches,
    claim,
    finish,
)
from .._shards import logical_queue, physical_queues
from . import _loops, _permits, _schedules
from ._config import WorkerConfig
from ._execute import cancelled, execute, released
from ._state import CANCELLED, LOST, SHUTDOWN, QueueState, Running

if TYPE_CHECKING:
    from .._app import App

log = logging.getLogger("rtask.worker")

# Round trips (finish + claim) a worker keeps under way at once.
PIPELINE_DEPTH = 2
# Weight of each job's run time in the worker's average (automatic prefetch).
RUN_TIME_WEIGHT = 0.05
# Longest a finished job's outcome waits for others to share its round trip.
LINGER_S = 0.002
# Claims that get all they ask skip the scheduled sets (claim.lua's lazy
# call): a busy worker still promotes due scheduled jobs at least this often.
PROMOTE_S = 0.005
# Most scheduled jobs a claim promotes per task.
PROMOTE_LIMIT = 1000

# Names of the worker's counters, built once (they are bumped per job).
_FINISH_STAT = {r: f"finish.{r.name.lower()}" for r in FinishResult}
_OUTCOME_STAT = {c: f"outcome.{c.name.lower()}" for c in OutcomeCode}


def _create_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[None]:
    """`loop.create_task(coro)`: for asyncio's own loop without a task factory
    or debug mode, the Task it would build, without its two Python frames."""
    if (
        type(loop).create_task is not _BASE_CREATE_TASK
        or loop.get_task_factory() is not None
        or loop.get_debug()  # (it would trim the task's source traceback)
    ):
        return loop.create_task(coro)
    return asyncio.Task(coro, loop=loop)


_BASE_CREATE_TASK = asyncio.BaseEventLoop.create_task


class Worker:
    """Claims and runs jobs of some queues. `await worker.run()` until stopped."""

    def __init__(self, app: App, config: WorkerConfig) -> None:
        self.app = app
        self.config = config
        self.id = config.worker_id
        self.stats: Counter[str] = Counter()
        # one QueueState per physical queue: a sharded queue has one per shard
        self.queues = [
            QueueState(
                q,
                app.keys(q),
                [
                    (t.name, t.concurrency)
                    for t in app.tasks.values()
                    if t.queue == logical_queue(q)
                ],
            )
            for q in physical_queues(app.shard_table, config.queues)
        ]
        for q in self.queues:
            q.rates = {
                t.name: t.rate_limit
                for t in app.tasks.values()
                if t.queue == logical_queue(q.name) and t.rate_limit is not None
            }
        # capped tasks of sharded queues: claimed under permits (see _permits)
        self.pools = _permits.build(self)
        self._sharded = any(app.shard_table.get(q, 1) > 1 for q in config.queues)
        self._turn = 0  # which shard claims first (see _few_shards)
        self._pool = ThreadPoolExecutor(1)  # replaced by run(): one pool per run
        self._event = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._trips: set[asyncio.Task[None]] = set()  # round trips under way
        self._closed = asyncio.Event()  # set when run() ends: the side loops stop
        self._room = asyncio.Event()  # set when a slot may have freed (see wait_room)
        self._leaving = asyncio.Event()  # set when a stop begins or run() ends
        # The park loop holds one slot while its registration stands (a
        # hand-off may come for it): claims leave it free; a claim plan that
        # wants it sets _unpark, and the park loop withdraws (see _loops.park).
        self.parked = 0
        self._unpark = asyncio.Event()  # set with _leaving too
        self._failures = 0  # consecutive failed round trips
        self._first_outcome_at = 0.0  # loop time the oldest pending outcome arrived
        # A round trip worth sending at once: a quarter of the slots, at most 50.
        self._batch_target = max(1, min(config.concurrency // 4, 50))
        self._executing = 0  # jobs started and not finished (<= concurrency)
        # Run time of this worker's jobs (moving average, s; a start as if
        # long, so the automatic prefetch starts small) and the prefetch it
        # gives (see WorkerConfig.prefetch_for).
        self._average_run_s = 1.0
        self._prefetch = config.prefetch_for(self._average_run_s)
        self._prefetched: deque[tuple[QueueState, Running]] = deque()  # waiting for a slot
        # Timings of schedules whose jobs ran here, by (queue, schedule id, version).
        self.timings: dict[tuple[str, str, int], Any] = {}
        self.started = False  # True once run() has read its queues from Redis

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={list(self.config.queues)}>"

    # ------------------------------------------------------------ control

    def stop(self) -> None:
        """Begin a graceful shutdown: stop claiming, let running jobs finish
        within `grace_s`, then hand the rest back. Safe from any thread."""
        if self._loop is None:
            self._stopping = True  # not running yet: run() returns at once
        else:
            self._loop.call_soon_threadsafe(self._begin_stop)

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._event.set()
        self._leaving.set()
        self._unpark.set()
        log.info("worker %s stopping: %d jobs running", self.id, self._executing)
        while self._prefetched:  # never started: back at once
            q, run = self._prefetched.popleft()
            self.stop_job(q, run, SHUTDOWN)
        assert self._loop is not None
        self._grace_timer = self._loop.call_later(self.config.grace_s, self._hand_back)

    def _hand_back(self) -> None:
        for q in self.queues:
            for run in list(q.running.values()):
                self.stop_job(q, run, SHUTDOWN)

    def stop_job(self, q: QueueState, run: Running, reason: str) -> None:
        """Stop a held job: interrupt it if it executes (async tasks get
        CancelledError, sync ones see the flag), or settle it now if it waits."""
        if run.stop_reason is None:
            run.stop_reason = reason
        run.context.cancelled = True
        if run.task is not None:
            run.task.cancel()
            return
        with contextlib.suppress(ValueError):
            self._prefetched.remove((q, run))
        self._settle(q, run, None)

    def in_flight(self) -> int:
        """Jobs held: executing or prefetched."""
        return sum(len(q.running) for q in self.queues)

    # ------------------------------------------------------------ run

    async def run(self, burst: bool = False) -> None:
        """Run until stopped (SIGTERM/SIGINT or `stop()`); with `burst=True`,
        return once nothing is due and nothing is running."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._pool = ThreadPoolExecutor(self.config.thread_count, thread_name_prefix="rtask-job")
        signals = self._install_signals()
        client = self.app.async_client()
        self._closed = asyncio.Event()
        self._room = asyncio.Event()
        self._leaving = asyncio.Event()
        self._unpark = asyncio.Event()
        if self._stopping:
            self._leaving.set()
            self._unpark.set()
        # The side loops end by themselves once the worker closes; they are
        # never cancelled: on Python 3.11 a cancel can be lost inside client
        # reads (asyncio.wait_for), which would leave run() waiting forever.
        helpers = [
            asyncio.create_task(_loops.listen(self, client)),
            asyncio.create_task(_loops.heartbeat(self, client)),
            asyncio.create_task(_loops.recover(self, client)),
            asyncio.create_task(_loops.park(self, client)),
        ]
        try:
            await _loops.discover_tasks(self, client)
            await _schedules.declare(self, client)
            self.started = True
            try:
                await self._pump(client, burst)
            except asyncio.CancelledError:
                await self._abandon(client)
                raise
        finally:
            self._closed.set()
            self._room.set()
            self._leaving.set()
            self._unpark.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await _loops.leave(self, client)
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            for sig in signals:
                self._loop.remove_signal_handler(sig)
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def closing(self) -> bool:
        """True once run() is ending: the side loops stop."""
        return self._closed.is_set()

    @property
    def stopping(self) -> bool:
        """True once a graceful shutdown began (for the health probes)."""
        return self._stopping

    @property
    def redis_failures(self) -> int:
        """Consecutive failed round trips; 0 when the last one succeeded."""
        return self._failures

    async def wait_unpark(self) -> None:
        """Return once the park loop should stop standing: a claim wants its
        slot, a graceful stop began or run() is ending."""
        await self._unpark.wait()

    def has_room(self) -> bool:
        """True while a slot is free: held jobs and claims under way (which
        may each bring a job) are fewer than the worker may hold."""
        return self.in_flight() + sum(q.claiming for q in self.queues) < self._capacity()

    def may_park(self) -> bool:
        """Whether the park loop may hold a slot for a hand-off: one is free,
        and no queue may have jobs to claim (a worker that drains claims; one
        whose claims ran dry parks, and a job then comes one hop sooner)."""
        return self.has_room() and not self._wants_work()

    def _wants_work(self) -> bool:
        return not self._stopping and any(q.may_have_work and q.tasks for q in self.queues)

    async def wait_room(self) -> None:
        """Return once the worker may park (a slot freed, a claim came back)
        or run() is ending."""
        self._room.clear()
        if not self.may_park() and not self.closing:
            await self._room.wait()

    async def pause(self, seconds: float) -> bool:
        """Sleep `seconds` unless the worker closes first; False once it has closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closed.wait()
        return not self._closed.is_set()

    async def _abandon(self, client: Any) -> None:
        """run() was cancelled: hand every running job back at once, unrun."""
        self._stopping = True
        await asyncio.gather(*self._trips, return_exceptions=True)
        self._hand_back()
        tasks = [r.task for q in self.queues for r in q.running.values() if r.task]
        await asyncio.gather(*tasks, return_exceptions=True)
        calls, handlers = self._plan()
        if calls:
            with contextlib.suppress(BackendError):
                for handler, reply in zip(handlers, await client.run_many(calls), strict=True):
                    handler(reply)

    def _install_signals(self) -> list[signal.Signals]:
        if (
            not self.config.handle_signals
            or threading.current_thread() is not threading.main_thread()
        ):
            return []
        assert self._loop is not None
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._begin_stop)
            installed.append(sig)
        return installed

    # ------------------------------------------------------------ the pump

    async def _pump(self, client: Any, burst: bool) -> None:
        """Send finish + claim round trips, up to PIPELINE_DEPTH at a time, so
        jobs of one batch run while Redis works on the next."""
        while True:
            # Cleared before planning: anything that happens from here on (an
            # outcome, a wake-up, a stop, a trip's reply) sets it again.
            self._event.clear()
            linger = self._linger()
            if len(self._trips) < PIPELINE_DEPTH and linger == 0:
                calls, handlers = self._plan()
                if calls:
                    trip = asyncio.create_task(self._trip(client, calls, handlers))
                    self._trips.add(trip)
                    trip.add_done_callback(self._trip_done)
                    continue
            if not self._trips and not self.in_flight():
                if self._stopping:
                    return
                if burst and not any(q.may_have_work and q.tasks for q in self.queues):
                    return  # (a queue with no task at all has nothing to claim)
            await self._wait(linger or None)

    def _linger(self) -> float:
        """Seconds to wait before the next round trip, so that outcomes and
        free slots gather into a batch (0 = send now).

        A trip goes at once when no outcome is pending, when it would carry a
        batch's worth, when nothing else is running (no more outcomes are
        coming), or when the oldest pending outcome has waited LINGER_S.
        """
        pending = sum(len(q.outcomes) for q in self.queues)
        running = self.in_flight()
        if self._stopping or running == 0:
            return 0.0
        free = self._capacity() - running - sum(q.claiming for q in self.queues) - self.parked
        if not any(q.may_have_work for q in self.queues):
            free = 0
        # Only outcomes gather: with none pending, free slots are claimed at
        # once (a job just arrived). A finished job's slot is in `free` already.
        if pending == 0 or free >= self._batch_target:
            return 0.0
        assert self._loop is not None
        return max(0.0, self._first_outcome_at + LINGER_S - self._loop.time())

    def _trip_done(self, trip: asyncio.Task[None]) -> None:
        self._trips.discard(trip)
        self._event.set()

    async def _trip(self, client: Any, calls: list[Any], handlers: list[Any]) -> None:
        """One round trip; on a Redis error, unsent outcomes are kept and the
        trip backs off before it lets the pump send another."""
        try:
            replies = await client.run_many(calls)
        except BackendError as exc:
            self._failures += 1
            for handler in handlers:
                handler(None)
            pause = min(0.05 * 2**self._failures, 2.0)
            log.warning("worker %s: Redis call failed (%s); retrying in %.2fs", self.id, exc, pause)
            await asyncio.sleep(pause)
            return
        self._failures = 0
        for handler, reply in zip(handlers, replies, strict=True):
            handler(reply)

    def _plan(self) -> tuple[list[Any], list[Any]]:
        """The calls of the next round trip: every pending finish, then claims."""
        calls: list[Any] = []
        handlers: list[Any] = []
        app = self.app
        now_ms, events = app.now_ms(), app.events_enabled
        for q in self.queues:
            if q.reports:  # before the outcomes: their lease tokens still match
                reports, q.reports = q.reports, []
                calls.append(progress(q.keys, reports, now_ms=now_ms))
                handlers.append(self._on_reports(q, reports))
            if q.outcomes:
                pending, q.outcomes = q.outcomes, []
                for outcomes in batches(pending):
                    retention = self.app.retention
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
                    handlers.append(self._on_finish(q, list(outcomes)))
        reserved = self.in_flight() + sum(q.claiming for q in self.queues) + self.parked
        free = 0 if self._stopping else self._capacity() - reserved
        wanting = [q for q in self.queues if q.may_have_work and q.tasks]
        if free <= 0 and self.parked and wanting:
            self._unpark.set()  # the parked slot is wanted: the park loop withdraws
        if self._sharded and len(wanting) > 1:
            wanting = self._few_shards(wanting, free)
        if free > 0 and wanting:
            # half the slots per trip at most, so two trips can alternate
            most = max(1, min(self._capacity() // PIPELINE_DEPTH, self.config.batch_max))
            share = max(1, min(free // len(wanting), most))
            assert self._loop is not None
            loop_now = self._loop.time()
            for q in wanting:
                n, tasks = share, q.tasks
                if q.pools:  # capped tasks of a sharded queue claim under permits
                    n, tasks = _permits.plan_claims(self, q, share, calls, handlers, now_ms)
                    free -= share - n
                    if n <= 0 or not tasks:
                        continue
                q.claiming += n
                q.rotation += 1
                calls.append(self._claim_call(q, n, tasks, now_ms, loop_now, handlers))
                free -= n
        if self.pools:
            _permits.plan_pools(self, self.pools, max(0, free), calls, handlers)
        return calls, handlers

    def _claim_call(
        self,
        q: QueueState,
        n: int,
        tasks: list[tuple[str, int]],
        now_ms: int | None,
        loop_now: float,
        handlers: list[Any],
    ) -> Any:
        """The claim of up to n jobs of q's `tasks`; its handler goes to `handlers`.

        Eager (reads the scheduled sets first) at least every PROMOTE_S, else
        lazy (reads them only when its ready jobs come up short)."""
        eager = loop_now >= q.promoted_at + PROMOTE_S
        if eager:
            q.promoted_at = loop_now
        rotation, partial = q.rotation, False
        if not q.pools:
            tasks, partial = self._claim_tasks(q, eager)
            rotation = 0  # _claim_tasks rotated them
        handler = self._on_claim(q, n, q.wake_seq, partial)
        if q.pools:
            handler = _permits.wrap_normal(q, handler, n, q.wake_seq)
        handlers.append(handler)
        return claim(
            q.keys,
            q.name,
            worker=self.id,
            n=n,
            lease_ms=int(self.config.lease_s * 1000),
            tasks=tasks,
            rotation=rotation,
            promote_limit=PROMOTE_LIMIT if eager else -PROMOTE_LIMIT,
            now_ms=now_ms,
            rates=q.rates,
            events=self.app.events_enabled,
        )

    def _claim_tasks(self, q: QueueState, eager: bool) -> tuple[list[tuple[str, int]], bool]:
        """The tasks of q's next claim, in the order claim.lua serves them (it
        shares what is wanted among the tasks not served yet, so the tasks
        that gave nothing last time come first: one pop each, then the tasks
        with jobs share the rest), and whether some were left out.

        While q's claims get all they ask, a lazy claim leaves out the tasks
        that gave nothing: an eager claim (at least every PROMOTE_S) asks
        them again, and a lazy one that comes up short is followed at once
        by an eager one (see _on_claim), so a task left out waits PROMOTE_S
        at most, and only while the others keep the worker busy.
        """
        r = q.rotation % len(q.tasks)
        rotated = q.tasks[r:] + q.tasks[:r]
        dry = q.dry
        wet = [t for t in rotated if t[0] not in dry]
        if not eager and q.busy and 0 < len(wet) < len(rotated):
            return wet, True
        return [t for t in rotated if t[0] in dry] + wet, False

    def _few_shards(self, wanting: list[QueueState], free: int) -> list[QueueState]:
        """A worker serving sharded queues claims from only as many of them per
        trip as give each claim a batch's worth, taking turns: K shards would
        otherwise split every trip into K small claims (and K finishes)."""
        count = max(1, min(len(wanting), free // self._batch_target))
        start = self._turn % len(wanting)
        self._turn += count
        return (wanting[start:] + wanting[:start])[:count]

    def _on_reports(self, q: QueueState, reports: list[Any]) -> Any:
        def handle(reply: list[int] | None) -> None:
            if reply is None:
                q.reports[:0] = reports  # not sent: they go with the outcomes' retry

        return handle

    def _on_finish(self, q: QueueState, outcomes: list[Any]) -> Any:
        def handle(reply: FinishReply | None) -> None:
            if reply is None:
                q.outcomes[:0] = outcomes  # not sent: keep them for the next try
                return
            if q.pools:
                _permits.finished(q, outcomes)
            stats = self.stats
            for outcome, result in zip(outcomes, reply.results, strict=True):
                stats[_FINISH_STAT[result]] += 1
                if result is FinishResult.APPLIED:
                    stats[_OUTCOME_STAT[outcome.code]] += 1
            q.may_have_work = True  # a retry may be due now, a slot is free
            # a claim sent before this finish ran before it in Redis: its "drained,
            # nothing due" must not undo this (else the retry waits idle_poll_s)
            q.wake_seq += 1

        return handle

    def _on_claim(self, q: QueueState, asked: int, seq: int, partial: bool = False) -> Any:
        def handle(reply: ClaimReply | None) -> None:
            q.claiming -= asked
            self._room.set()  # (the park loop waits for claims to come back)
            if reply is None:
                return
            loop = asyncio.get_running_loop()
            got = {job.task for job in reply.jobs}
            q.dry = frozenset(name for name, _ in q.tasks if name not in got)
            full = len(reply.jobs) >= asked
            q.busy = full
            if not full and partial:
                # tasks were left out: the next claim asks every task, eagerly
                q.promoted_at = -math.inf
            elif not full:
                # a short claim read the scheduled sets (even a lazy one)
                q.promoted_at = loop.time()
                if q.wake_seq == seq:
                    q.may_have_work = False  # drained (or capped), and no wake-up since
            q.clock_offset_ms = reply.now_ms - time.time() * 1000
            q.next_due = (
                None
                if reply.next_due_ms is None
                else loop.time() + (reply.next_due_ms - reply.now_ms) / 1000
            )
            self.stats["claimed"] += len(reply.jobs)
            for job in reply.jobs:
                self.start_job(q, job)

        return handle

    async def _wait(self, linger: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        if linger is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(linger):
                    await self._event.wait()
            return
        timeout = self.config.idle_poll_s
        dues = [q.next_due for q in self.queues if q.next_due is not None]
        if dues:
            timeout = max(0.0, min(timeout, min(dues) - loop.time()))
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            for q in self.queues:
                q.may_have_work = True
                q.wake_seq += 1  # as a wake-up: drained claim groups are polled again

    # ------------------------------------------------------------ jobs

    def _capacity(self) -> int:
        """Most jobs held at once: executing plus prefetched."""
        return self.config.concurrency + self._prefetch

    def start_job(self, q: QueueState, job: ClaimedJob) -> None:
        """Hold `job`, claimed for this worker (or handed off to it): run it
        now if a slot is free, else keep it until one frees."""
        state = job.state
        tags, labels, metadata = state.get("tg"), state.get("lb"), state.get("md")
        context = JobContext(
            job.id,
            q.name,
            job.task,
            job.attempt,
            job.max_attempts,
            job.token,
            tuple(tags) if tags else (),
            False,  # cancelled
            dict(labels) if labels else {},
            dict(metadata) if metadata else {},
            None,  # reports
            (self.app, q.keys),  # owner
        )
        run = Running(job, context)
        q.running[job.id] = run
        if self._executing < self.config.concurrency and not self._stopping:
            self._launch(q, run)
        elif self._stopping:
            self.stop_job(q, run, SHUTDOWN)
        else:
            self._prefetched.append((q, run))

    def _launch(self, q: QueueState, run: Running) -> None:
        self._executing += 1
        assert self._loop is not None
        run.task = _create_task(self._loop, self._run(q, run))

    async def _run(self, q: QueueState, run: Running) -> None:
        job = run.job
        task = self.app.tasks.get(job.task)
        outcome = None
        began = time.monotonic()
        try:
            if "sc" in job.state:  # a schedule's job
                client = self.app.async_client()
                run.timing = await _schedules.timing_of(self, client, q, job)
            if run.timing is not None and _schedules.is_missed(self, run.timing, job, q):
                outcome = _schedules.missed(job, self.id)
            else:
                outcome = await execute(
                    job, task, run.context, pool=self._pool, codec=self.app.codec, worker=self.id
                )
        except asyncio.CancelledError:
            pass  # stopped: _settle reports what the stop reason calls for
        except BackendError as exc:  # reading its schedule failed: run it again later
            log.warning("worker %s: job %s: %s", self.id, job.id, exc)
            run.stop_reason = SHUTDOWN
        except Exception:  # a bug in rtask itself: keep the worker alive
            log.exception("worker %s: job %s crashed the executor", self.id, job.id)
            self.stats["executor_errors"] += 1
        self._executing -= 1
        if self.config.prefetch is None:
            average = self._average_run_s
            average += (time.monotonic() - began - average) * RUN_TIME_WEIGHT
            self._average_run_s = average
            self._prefetch = self.config.prefetch_for(average)
        self._settle(q, run, outcome)
        while self._prefetched and self._executing < self.config.concurrency:
            self._launch(*self._prefetched.popleft())

    def _settle(self, q: QueueState, run: Running, outcome: Outcome | None) -> None:
        """The job leaves this worker: queue its outcome for the next finish."""
        if run.stop_reason == LOST:
            outcome = None  # the lease belongs to someone else now
        elif outcome is None and run.stop_reason == CANCELLED:
            outcome = cancelled(run.job, self.id)
        elif outcome is None and run.stop_reason == SHUTDOWN:
            outcome = released(run.job)
        q.running.pop(run.job.id, None)
        self._room.set()
        if outcome is not None and "sc" in run.job.state:
            outcome = _schedules.with_follow_up(self, outcome, run.timing, run.job, q)
        if q.pools:
            _permits.settled(q, run, outcome)
        if outcome is not None and run.context.reports is not None:
            report = run.context.reports.take()
            if report is not None:
                q.reports.append(report)
        if outcome is not None:
            # (q.outcomes first: with outcomes pending there, any() is True)
            if not q.outcomes and not any(q.outcomes for q in self.queues):
                self._first_outcome_at = asyncio.get_running_loop().time()
            q.outcomes.append(outcome)
        self._event.set()
