"""Graceful shutdown of an in-process worker: stop(), grace, hand-back, cancelling run()."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, close, run, stopped, worker

pytestmark = pytest.mark.timeout(20)

N = 3


class Gate:
    """Counts running jobs; `all_started` is set once N of them run."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.started = 0
        self.all_started = asyncio.Event()
        self.interrupted = 0

    def enter(self) -> None:
        self.started += 1
        if self.started >= self.n:
            self.all_started.set()


def test_stop_lets_running_jobs_finish_within_grace(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        gate = Gate(N)

        @app.task
        async def work(n: int) -> int:
            gate.enter()
            await asyncio.sleep(0.3)
            return n

        try:
            jobs = await work.enqueue_many([(n,) for n in range(N)])
            extra = await work.options(delay=0.2).enqueue(99)
            w = worker(app, concurrency=N, grace_s=10.0)
            runner = asyncio.create_task(w.run())
            await asyncio.wait_for(gate.all_started.wait(), RESULT_TIMEOUT)
            t0 = time.monotonic()
            w.stop()
            await stopped(runner, RESULT_TIMEOUT)
            # returned when the jobs were done, not at the end of the grace period
            assert time.monotonic() - t0 < 3.0
            for n, job in enumerate(jobs):
                info = await job.info()
                assert info.status is JobStatus.SUCCEEDED
                assert info.result == n
            # nothing new was claimed after stop()
            assert gate.started == N
            extra_info = await extra.info()
            assert extra_info.status in (JobStatus.SCHEDULED, JobStatus.QUEUED)
            assert extra_info.attempt == 0
        finally:
            await close(app)

    run(body)


def test_short_grace_hands_running_jobs_back(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        gate = Gate(N)
        block = True

        @app.task(max_attempts=1)
        async def work(n: int) -> int:
            if block:
                gate.enter()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    gate.interrupted += 1
                    raise
            return n

        try:
            jobs = await work.enqueue_many([(n,) for n in range(N)])
            w = worker(app, concurrency=N, grace_s=0.2)
            runner = asyncio.create_task(w.run())
            await asyncio.wait_for(gate.all_started.wait(), RESULT_TIMEOUT)
            for job in jobs:
                assert (await job.info()).status is JobStatus.RUNNING
            t0 = time.monotonic()
            w.stop()
            await stopped(runner, RESULT_TIMEOUT)
            elapsed = time.monotonic() - t0
            assert 0.2 - 0.02 <= elapsed < 3.0
            assert gate.interrupted == N
            for job in jobs:
                info = await job.info()
                assert info.status is JobStatus.QUEUED
                assert info.attempt == 0  # handed back: the attempt was not used
                assert info.errors == []
                assert info.finished_at is None

            # a new worker runs them; max_attempts=1 still allows it
            block = False
            w2 = worker(app, concurrency=N)
            await w2.run(burst=True)
            for n, job in enumerate(jobs):
                assert await job.result(timeout=RESULT_TIMEOUT) == n
                info = await job.info()
                assert info.status is JobStatus.SUCCEEDED
                assert info.attempt == 1
                assert info.worker == w2.id
        finally:
            await close(app)

    run(body)


def test_cancelling_run_hands_jobs_back(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        gate = Gate(N)
        block = True

        @app.task(max_attempts=1)
        async def work(n: int) -> int:
            if block:
                gate.enter()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    gate.interrupted += 1
                    raise
            return n

        try:
            jobs = await work.enqueue_many([(n,) for n in range(N)])
            w = worker(app, concurrency=N, grace_s=30.0)
            runner = asyncio.create_task(w.run())
            await asyncio.wait_for(gate.all_started.wait(), RESULT_TIMEOUT)
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stopped(runner, RESULT_TIMEOUT)
            assert gate.interrupted == N
            for job in jobs:
                info = await job.info()
                assert info.status is JobStatus.QUEUED
                assert info.attempt == 0

            block = False
            await worker(app, concurrency=N).run(burst=True)
            for n, job in enumerate(jobs):
                assert await job.result(timeout=RESULT_TIMEOUT) == n
                assert (await job.info()).attempt == 1
        finally:
            await close(app)

    run(body)


def test_short_grace_hands_back_a_sync_job_and_sets_its_flag(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started = asyncio.Event()
        loop = asyncio.get_running_loop()
        saw_flag = threading.Event()
        block = True

        @app.task
        def blocking() -> str:
            if block:
                loop.call_soon_threadsafe(started.set)
                ctx = rtask.current_job()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    if ctx.cancelled:
                        saw_flag.set()
                        break
                    time.sleep(0.01)
                return "interrupted"
            return "done"

        try:
            job = await blocking.enqueue()
            w = worker(app, grace_s=0.1)
            runner = asyncio.create_task(w.run())
            await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
            w.stop()
            await stopped(runner, RESULT_TIMEOUT)
            assert await asyncio.to_thread(saw_flag.wait, RESULT_TIMEOUT)
            info = await job.info()
            assert info.status is JobStatus.QUEUED
            assert info.attempt == 0
            block = False
            await worker(app).run(burst=True)
            assert await job.result(timeout=RESULT_TIMEOUT) == "done"
        finally:
            await close(app)

    run(body)


def test_stop_before_run_returns_without_claiming(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def work() -> None:
            raise AssertionError("must not run")

        try:
            job = await work.enqueue()
            w = worker(app)
            w.stop()
            await asyncio.wait_for(w.run(), RESULT_TIMEOUT)
            info = await job.info()
            assert info.status is JobStatus.QUEUED
            assert info.attempt == 0
        finally:
            await close(app)

    run(body)


def test_burst_returns_when_nothing_is_due(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def work(n: int) -> int:
            return n

        try:
            # empty queue: returns at once
            await asyncio.wait_for(worker(app).run(burst=True), RESULT_TIMEOUT)
            now = await work.enqueue(1)
            later = await work.options(delay=30).enqueue(2)
            await asyncio.wait_for(worker(app).run(burst=True), RESULT_TIMEOUT)
            assert (await now.info()).status is JobStatus.SUCCEEDED
            assert (await later.info()).status is JobStatus.SCHEDULED
        finally:
            await close(app)

    run(body)


def test_stop_returns_while_helper_loops_are_busy(backend_url: str, prefix: str) -> None:
    """stop() must end run() whatever the heartbeat and recovery loops are doing.

    Tiny heartbeat/recovery intervals keep those loops inside Redis calls most
    of the time, so the stop reaches them mid-call; each cycle must still end.
    """

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def ping(n: int) -> int:
            return n

        try:
            for n in range(10):
                w = worker(app, heartbeat_s=0.001, recover_s=0.001)
                runner = asyncio.create_task(w.run())
                job = await ping.enqueue(n)
                assert await job.result(timeout=RESULT_TIMEOUT) == n
                w.stop()
                await stopped(runner, 3.0)
        finally:
            await close(app)

    run(body)
