"""Cancelling jobs: waiting, running async, running sync, finished."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, background, close, run, worker

pytestmark = pytest.mark.timeout(20)


def test_cancel_a_queued_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        ran: list[int] = []

        @app.task
        async def work(n: int) -> int:
            ran.append(n)
            return n

        try:
            doomed = await work.enqueue(1)
            kept = await work.enqueue(2)
            assert await doomed.cancel("changed my mind") is True
            info = await doomed.info()
            assert info.status is JobStatus.CANCELLED
            assert info.finished_at is not None
            assert info.errors[-1]["type"] == "cancelled"
            assert info.errors[-1]["message"] == "changed my mind"

            await worker(app).run(burst=True)

            assert ran == [2]
            assert await kept.result(timeout=RESULT_TIMEOUT) == 2
            with pytest.raises(rtask.JobFailed) as failed:
                await doomed.result(timeout=RESULT_TIMEOUT)
            assert failed.value.status == "cancelled"
            after = await doomed.info()
            assert after.status is JobStatus.CANCELLED
            assert after.attempt == 0
            assert after.started_at is None
            # cancelling again: already finished
            assert await doomed.cancel() is False
        finally:
            await close(app)

    run(body)


def test_cancel_a_scheduled_job(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        ran: list[str] = []

        @app.task
        async def later(name: str) -> str:
            ran.append(name)
            return name

        try:
            job = await later.options(delay=0.2).enqueue("cancelled")
            assert (await job.info()).status is JobStatus.SCHEDULED
            assert await job.cancel() is True
            async with background(app):
                with pytest.raises(rtask.JobFailed):
                    await job.result(timeout=RESULT_TIMEOUT)
                # a job due after the cancelled one: once it ran, the worker
                # has passed the cancelled job's due time
                marker = await later.options(delay=0.3).enqueue("marker")
                assert await marker.result(timeout=RESULT_TIMEOUT) == "marker"
            assert ran == ["marker"]
            info = await job.info()
            assert info.status is JobStatus.CANCELLED
            assert info.attempt == 0
        finally:
            await close(app)

    run(body)


def test_cancel_a_running_async_job_interrupts_it(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started = asyncio.Event()
        interrupted = asyncio.Event()
        cleaned_up = asyncio.Event()

        @app.task
        async def forever() -> str:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                interrupted.set()
                raise
            finally:
                cleaned_up.set()
            return "finished"

        try:
            async with background(app, heartbeat_s=0.1, lease_s=1.0):
                job = await forever.enqueue()
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                assert (await job.info()).status is JobStatus.RUNNING
                t0 = time.monotonic()
                assert await job.cancel("stop it") is True
                assert (await job.info()).status is JobStatus.CANCELLED
                await asyncio.wait_for(cleaned_up.wait(), RESULT_TIMEOUT)
                assert time.monotonic() - t0 < 2.0  # within a few heartbeats
                assert interrupted.is_set()
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
                assert failed.value.status == "cancelled"
                # a finished job cannot be cancelled
                assert await job.cancel() is False
            info = await job.info()
            assert info.status is JobStatus.CANCELLED
            assert info.result is None
            assert info.errors[0]["type"] == "cancelled"
            assert info.errors[0]["message"] == "stop it"
        finally:
            await close(app)

    run(body)


def test_running_job_cancel_releases_the_slot(backend_url: str, prefix: str) -> None:
    """After a cancel acknowledged by the worker, the task's cap lets the next job run."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started = asyncio.Event()

        @app.task(concurrency=1)
        async def capped(block: bool) -> str:
            if block:
                started.set()
                await asyncio.sleep(60)
            return "next ran"

        try:
            async with background(app):
                first = await capped.enqueue(True)
                await asyncio.wait_for(started.wait(), RESULT_TIMEOUT)
                second = await capped.enqueue(False)
                assert await first.cancel() is True
                assert await second.result(timeout=RESULT_TIMEOUT) == "next ran"
            assert (await first.info()).status is JobStatus.CANCELLED
        finally:
            await close(app)

    run(body)


def test_cancel_a_running_sync_job_sets_the_flag(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        started = threading.Event()
        saw_cancel = threading.Event()

        @app.task
        def blocking_loop() -> str:
            ctx = rtask.current_job()
            started.set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if ctx.cancelled:
                    saw_cancel.set()
                    return "stopped"
                time.sleep(0.01)
            return "never told"

        try:
            async with background(app, heartbeat_s=0.1, lease_s=1.0):
                job = await blocking_loop.enqueue()
                assert await asyncio.to_thread(started.wait, RESULT_TIMEOUT)
                assert await job.cancel() is True
                assert await asyncio.to_thread(saw_cancel.wait, RESULT_TIMEOUT)
                with pytest.raises(rtask.JobFailed) as failed:
                    await job.result(timeout=RESULT_TIMEOUT)
                assert failed.value.status == "cancelled"
            info = await job.info()
            assert info.status is JobStatus.CANCELLED
            assert info.result is None  # the late return value is ignored
        finally:
            await close(app)

    run(body)


def test_cancel_unknown_job_raises(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def t() -> None:
            return None

        try:
            ghost = rtask.Job(app, "no-such-job", t.queue, t.name)
            with pytest.raises(rtask.JobNotFound):
                await ghost.cancel()
            with pytest.raises(rtask.JobNotFound):
                await ghost.info()
        finally:
            await close(app)

    run(body)
