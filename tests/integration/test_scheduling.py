"""Delays, `at` times, priorities and FIFO order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import rtask
from rtask import JobStatus

from ._helpers import RESULT_TIMEOUT, background, close, run, seconds, worker

pytestmark = pytest.mark.timeout(20)

TOLERANCE = 0.02  # the server clock has millisecond resolution


def test_delayed_job_does_not_start_before_its_time(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def ping(n: int) -> int:
            return n

        try:
            async with background(app):
                delayed = await ping.options(delay=0.3).enqueue(1)
                now = await ping.enqueue(2)
                info = await delayed.info()
                assert info.status is JobStatus.SCHEDULED
                assert seconds(info.created_at, info.scheduled_at) == pytest.approx(0.3, abs=0.002)
                # (whether the delayed job still waits once this one ran depends
                # on the machine's load: its start time below is the check)
                assert await now.result(timeout=RESULT_TIMEOUT) == 2
                assert await delayed.result(timeout=RESULT_TIMEOUT) == 1
            info = await delayed.info()
            assert info.status is JobStatus.SUCCEEDED
            assert seconds(info.created_at, info.started_at) >= 0.3 - TOLERANCE
            # ... and not much later either: the worker woke up for it
            assert seconds(info.created_at, info.started_at) < 0.3 + 1.0
        finally:
            await close(app)

    run(body)


def test_delayed_job_enqueued_while_worker_idles(backend_url: str, prefix: str) -> None:
    """An idle worker (long idle_poll_s) must wake up for a new earliest due time."""

    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def ping() -> str:
            return "pong"

        try:
            async with background(app, idle_poll_s=10.0):
                warmup = await ping.enqueue()
                assert await warmup.result(timeout=RESULT_TIMEOUT) == "pong"
                job = await ping.options(delay=0.2).enqueue()
                assert await job.result(timeout=RESULT_TIMEOUT) == "pong"
            info = await job.info()
            assert 0.2 - TOLERANCE <= seconds(info.created_at, info.started_at) < 0.2 + 2.0
        finally:
            await close(app)

    run(body)


def test_at_a_time(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)

        @app.task
        async def ping() -> str:
            return "pong"

        try:
            when = datetime.now(UTC) + timedelta(seconds=0.25)
            job = await ping.options(at=when).enqueue()
            info = await job.info()
            assert info.status is JobStatus.SCHEDULED
            assert info.scheduled_at is not None
            assert abs((info.scheduled_at - when).total_seconds()) < 0.05
            past = await ping.options(at=datetime.now(UTC) - timedelta(hours=1)).enqueue()
            assert (await past.info()).status is JobStatus.QUEUED
            async with background(app):
                assert await job.result(timeout=RESULT_TIMEOUT) == "pong"
                assert await past.result(timeout=RESULT_TIMEOUT) == "pong"
            info = await job.info()
            assert info.started_at is not None
            assert info.started_at >= when - timedelta(seconds=TOLERANCE)
        finally:
            await close(app)

    run(body)


def test_priority_lower_runs_first(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        order: list[int] = []

        @app.task
        async def record(p: int) -> None:
            order.append(p)

        try:
            for p in (5, -1, 0):
                await record.options(priority=p).enqueue(p)
            await worker(app, concurrency=1).run(burst=True)
            assert order == [-1, 0, 5]
        finally:
            await close(app)

    run(body)


def test_task_default_priority_and_override(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        order: list[str] = []

        @app.task(priority=10)
        async def record(name: str) -> None:
            order.append(name)

        try:
            a = await record.enqueue("default-10")
            await record.options(priority=-5).enqueue("override-minus-5")
            await record.options(priority=20).enqueue("override-20")
            assert (await a.info()).priority == 10
            await worker(app, concurrency=1).run(burst=True)
            assert order == ["override-minus-5", "default-10", "override-20"]
        finally:
            await close(app)

    run(body)


def test_fifo_among_equal_priority(backend_url: str, prefix: str) -> None:
    async def body() -> None:
        app = rtask.App(backend_url, prefix=prefix)
        order: list[int] = []

        @app.task
        async def record(n: int) -> None:
            order.append(n)

        try:
            for n in range(10):
                await record.enqueue(n)
            await record.enqueue_many([(n,) for n in range(10, 30)])
            await record.options(priority=-1).enqueue(-1)
            await worker(app, concurrency=1).run(burst=True)
            assert order == [-1, *range(30)]
        finally:
            await close(app)

    run(body)
