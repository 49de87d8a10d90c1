"""The worker process loop: a pump keeping finish + claim round trips under
way, the jobs it starts, and the heartbeat, recovery and wake-up loops.

`Worker` holds the state and the jobs' life (start, run, settle); the pump
is in `_pump`, the handlers of its claims and finishes in `_claims` and
`_finishes`, the side loops in `_loops`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._context import JobContext
from .._errors import BackendError
from .._protocol import ClaimedJob, Outcome
from .._shards import logical_queue, physical_queues
from . import _loops, _permits, _pump, _schedules
from ._config import WorkerConfig
from ._execute import cancelled, execute, released
from ._state import CANCELLED, LOST, SHUTDOWN, QueueState, Running

if TYPE_CHECKING:
    from .._app import App

log = logging.getLogger("rtask.worker")

# Weight of each job's run time in the worker's average (automatic prefetch).
RUN_TIME_WEIGHT = 0.05


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
        self._turn = 0  # which shard claims first (see _claims.few_shards)
        self._pool = ThreadPoolExecutor(1)  # replaced by run(): one pool per run
        self._event = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._trips: set[asyncio.Task[None]] = set()  # round trips under way
        self._closed = asyncio.Event()  # set when run() ends: the side loops stop
        self._room = asyncio.Event()  # set when a slot may have freed (see wait_room)
        # The park loop holds one slot while its registration stands (a
        # hand-off may come for it): claims leave it free; a claim plan that
        # wants it sets _unpark, and the park loop withdraws (see _loops.park).
        self.parked = 0
        self._unpark = asyncio.Event()  # set too when a stop begins or run() ends
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
        self._unpark = asyncio.Event()
        if self._stopping:
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
                await _pump.pump(self, client, burst)
            except asyncio.CancelledError:
                await self._abandon(client)
                raise
        finally:
            self._closed.set()
            self._room.set()
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

    def free_slots(self) -> int:
        """Slots neither held nor reserved by a claim under way (which may
        bring a job each); the parked slot among them (claims: minus parked)."""
        return self._capacity() - self.in_flight() - sum(q.claiming for q in self.queues)

    def has_room(self) -> bool:
        """True while a slot is free (see free_slots)."""
        return self.free_slots() > 0

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
        calls, handlers = _pump.plan(self)
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

    # ------------------------------------------------------------ the pump (see _pump)

    def _trip_done(self, trip: asyncio.Task[None]) -> None:
        self._trips.discard(trip)
        self._event.set()

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
